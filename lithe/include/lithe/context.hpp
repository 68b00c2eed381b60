// lithe/context.hpp: lithe::Context, a lithe context (lithe_context_t) that
// runs a std::function<void()>.
//
// Layout: lithe hands callbacks a lithe_context_t*. Context keeps that
// struct first in a standard-layout record followed by a pointer back to the
// object, so Context::from(lithe_context_t*) is one load. from() is only
// valid for contexts that are lithe::Context objects; every context a
// lithe::Scheduler receives is one as long as the scheduler only owns
// contexts it made itself (its main context is a lithe::Context too).
// Derive from Context to keep per-context scheduler data next to it.
//
// Life cycle (lithe.h has the contexts each call may run in):
//   init(fn)  associates the context with the current scheduler; READY.
//   The scheduler makes it runnable and run()s it from hart context.
//   fn returns -> the owner's context_exit; the context is exited.
//   recycle(fn) re-arms an exited context, keeping its id and its TLS
//   (thread_local values survive); cleanup() releases stack and TLS.
// The destructor cleans up an initialised context. Destroying a live
// context (started and not exited) is fatal: lithe would keep pointers into
// freed memory.
// Checks made by these wrappers themselves (init twice) return a LITHE_E*
// code without consulting the misuse policy; everything else is lithe's.
// An exception escaping fn is std::terminate: there is no caller to rethrow
// it to (lithe::parallel_invoke/for capture exceptions for you).
#pragma once

#include <lithe/error.hpp>
#include <lithe/lithe.h>

#include <functional>
#include <type_traits>
#include <utility>

namespace lithe {

class Context {
  public:
    Context() noexcept { n_.self = this; }
    Context(const Context &) = delete;
    Context &operator=(const Context &) = delete;
    virtual ~Context() {
        if (!initialised_) return;
        int rc = lithe_context_cleanup(native());
        if (rc != LITHE_OK)
            detail::fatal("lithe::Context destroyed while live", rc);
    }

    // Any context or hart with a current scheduler (which becomes the
    // owner). attr may be NULL (default stack, own TLS).
    [[nodiscard]] int init(std::function<void()> fn,
                           const lithe_context_attr *attr = nullptr) noexcept {
        if (initialised_) return LITHE_ESTATE;
        fn_ = std::move(fn);
        int rc = lithe_context_init_attr(native(), start, this, attr);
        initialised_ = rc == LITHE_OK;
        return rc;
    }
    // The context must have exited. Keeps id and TLS.
    [[nodiscard]] int recycle(std::function<void()> fn) noexcept {
        int rc = lithe_context_recycle(native(), start, this);
        if (rc == LITHE_OK) fn_ = std::move(fn);
        return rc;
    }
    // The context must not be running; `to` receives its callbacks from now.
    [[nodiscard]] int reassociate(lithe_sched_t *to) noexcept {
        return lithe_context_reassociate(native(), to);
    }
    // Exited or never run. Afterwards the object may be init()ed again.
    [[nodiscard]] int cleanup() noexcept {
        int rc = lithe_context_cleanup(native());
        if (rc == LITHE_OK) initialised_ = false;
        return rc;
    }
    // Hart context, by the owner (current scheduler). Returns only on error.
    int run() noexcept { return lithe_context_run(native()); }
    // Anywhere: delivers context_unblock to the owner.
    int unblock() noexcept {
        return lithe_context_unblock(native());
    }

    bool initialised() const noexcept { return initialised_; }
    lithe_context_t *native() noexcept { return &n_.ctx; }
    static Context &from(lithe_context_t *c) noexcept {
        return *reinterpret_cast<Native *>(c)->self;
    }

  private:
    struct Native {
        lithe_context_t ctx;  // first: from() relies on it
        Context *self;
    };
    static_assert(std::is_standard_layout_v<Native>);

    static void start(void *p) noexcept { static_cast<Context *>(p)->fn_(); }

    Native n_{};
    std::function<void()> fn_;
    bool initialised_ = false;
};

}  // namespace lithe
