// lithe/scheduler.hpp: lithe::Scheduler, the base class of a lithe scheduler
// written in C++: derive, override the callbacks, never touch a C struct.
//
// Dispatch: every lithe::Scheduler shares one static lithe_sched_funcs
// table (kFuncs) whose entries recover the object from the lithe_sched_t*
// (first in a standard-layout record followed by a back pointer) and call
// the virtual member. Contexts are passed as lithe::Context& (see
// context.hpp for why that is safe). The dispatchers are noexcept: a
// callback runs in hart context or deep inside lithe, where an exception
// has nowhere to go, so one escaping a callback is std::terminate.
//
// Which context each callback runs in (lithe.h): all in hart context,
// except hart_request and context_unblock, which run synchronously wherever
// the request/unblock was made (a context of the child / of anyone, or a
// foreign thread for context_unblock). During any callback
// lithe_sched_current() == native(). None may block.
//
// Defaults: the child-management callbacks (hart_request, child_enter,
// child_exit, hart_return) have working defaults: children are kept in a
// list under children_lock_, their requests are forwarded to our parent
// (so demand reaches the root), and a child's unmet request is withdrawn
// when it exits. grant_to_children(), called at the top of hart_enter,
// grants the hart to the next child (round robin) that holds no more harts
// than it asked for. sched_enter/sched_exit default to nothing. The context
// callbacks and hart_enter have no default: they are the policy.
//
// State: entered_ is set by the sched_enter dispatcher and cleared by the
// sched_exit one, so it tracks lithe's view however the scheduler was
// entered (enter(), SchedGuard, or lithe_sched_enter(native())).
// Destroying an entered scheduler is fatal. A scheduler can be entered
// again after it exited: enter() re-initialises it (statistics restart).
#pragma once

#include <lithe/context.hpp>
#include <lithe/error.hpp>
#include <lithe/lithe.h>
#include <lithe/spinlock.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <type_traits>
#include <vector>

namespace lithe {

class Scheduler {
  public:
    Scheduler() noexcept {
        n_.self = this;
        lithe_sched_init(native(), &kFuncs, main_.native());
    }
    Scheduler(const Scheduler &) = delete;
    Scheduler &operator=(const Scheduler &) = delete;
    virtual ~Scheduler() {
        if (entered_.load(std::memory_order_acquire))
            detail::fatal("lithe::Scheduler destroyed while entered "
                          "(missing exit)");
    }

    // From a lithe context: makes this scheduler a child of the caller's
    // scheduler and the calling context its main context. lithe_sched_enter.
    [[nodiscard]] int enter() noexcept {
        if (!entered_.load(std::memory_order_acquire)) {
            int rc = lithe_sched_init(native(), &kFuncs, main_.native());
            if (rc != LITHE_OK) return rc;
        }
        return lithe_sched_enter(native());
    }
    // From this scheduler's main context: lithe_sched_exit. Returns
    // LITHE_ENOTCURRENT (without calling lithe) from any other context, so
    // it never exits some other scheduler by mistake.
    [[nodiscard]] int exit() noexcept {
        if (lithe_context_self() != main_.native()) return LITHE_ENOTCURRENT;
        return lithe_sched_exit();
    }

    lithe_sched_t *native() noexcept { return &n_.sched; }
    // Only for schedulers that are lithe::Scheduler objects.
    static Scheduler &from(lithe_sched_t *s) noexcept {
        return *reinterpret_cast<Native *>(s)->self;
    }
    // The caller's context while it is promoted (between enter and exit).
    Context &main_context() noexcept { return main_; }
    struct lithe_sched_stats stats() noexcept {
        struct lithe_sched_stats st {};
        lithe_sched_stats(native(), &st);
        return st;
    }

  protected:
    // A child asks for `delta` more harts (may be negative). Default:
    // forward to our parent; lithe keeps the child's sum (stats.requested),
    // which grant_to_children reads.
    virtual void hart_request(lithe_sched_t *child, int delta) {
        (void)child;
        lithe_hart_request(delta);
    }
    virtual void child_enter(lithe_sched_t *child) {
        children_lock_.lock();
        children_.push_back(child);
        children_lock_.unlock();
    }
    // Default: forget the child and withdraw what it still asked for, which
    // we had forwarded to our parent.
    virtual void child_exit(lithe_sched_t *child) {
        children_lock_.lock();
        auto it = std::find(children_.begin(), children_.end(), child);
        if (it != children_.end()) children_.erase(it);
        children_lock_.unlock();
        struct lithe_sched_stats st {};
        lithe_sched_stats(child, &st);
        if (st.requested != 0)
            lithe_hart_request(static_cast<int>(-st.requested));
    }
    // A child yielded this hart to us; hart_enter follows. Hart counts are
    // lithe's (stats), so the default does nothing.
    virtual void hart_return(lithe_sched_t *child) { (void)child; }
    // A hart arrived. Must not return: run a context (Context::run), grant
    // (grant_to_children / lithe_hart_grant) or lithe_hart_yield.
    virtual void hart_enter() = 0;
    virtual void sched_enter() {}
    virtual void sched_exit() {}
    virtual void context_block(Context &ctx) = 0;
    virtual void context_unblock(Context &ctx) = 0;
    virtual void context_yield(Context &ctx) = 0;
    virtual void context_exit(Context &ctx) = 0;

    // Hart context (hart_enter), default child callbacks only. Grants this
    // hart to the next child, round robin, whose subtree holds no more
    // harts than it has requested (docs/lithe.md, "Accounting"); returns
    // if none wants one (or all are exiting).
    // children_lock_ is held across the grant and released by the grant's
    // unlock callback once the hart has moved, so a child cannot finish
    // exiting (child_exit takes the lock) while we grant to it.
    void grant_to_children() noexcept {
        children_lock_.lock();
        size_t n = children_.size();
        for (size_t k = 0; k < n; ++k) {
            lithe_sched_t *c = children_[(rr_ + k) % n];
            struct lithe_sched_stats st {};
            lithe_sched_stats(c, &st);
            if (st.subtree_harts <= st.requested) {
                rr_ = (rr_ + k + 1) % n;
                lithe_hart_grant(c, unlock_children, this);
                // Returned: c is exiting; the lock is still ours.
            }
        }
        children_lock_.unlock();
    }

  private:
    struct Native {
        lithe_sched_t sched;  // first: from() relies on it
        Scheduler *self;
    };
    static_assert(std::is_standard_layout_v<Native>);

    static void unlock_children(void *p) noexcept {
        static_cast<Scheduler *>(p)->children_lock_.unlock();
    }

    static void d_hart_request(lithe_sched_t *s, lithe_sched_t *c,
                               int d) noexcept {
        from(s).hart_request(c, d);
    }
    static void d_child_enter(lithe_sched_t *s, lithe_sched_t *c) noexcept {
        from(s).child_enter(c);
    }
    static void d_child_exit(lithe_sched_t *s, lithe_sched_t *c) noexcept {
        from(s).child_exit(c);
    }
    static void d_hart_return(lithe_sched_t *s, lithe_sched_t *c) noexcept {
        from(s).hart_return(c);
    }
    static void d_hart_enter(lithe_sched_t *s) noexcept {
        from(s).hart_enter();
    }
    static void d_sched_enter(lithe_sched_t *s) noexcept {
        from(s).entered_.store(true, std::memory_order_release);
        from(s).sched_enter();
    }
    static void d_sched_exit(lithe_sched_t *s) noexcept {
        from(s).sched_exit();
        from(s).entered_.store(false, std::memory_order_release);
    }
    static void d_context_block(lithe_sched_t *s, lithe_context_t *c) noexcept {
        from(s).context_block(Context::from(c));
    }
    static void d_context_unblock(lithe_sched_t *s,
                                  lithe_context_t *c) noexcept {
        from(s).context_unblock(Context::from(c));
    }
    static void d_context_yield(lithe_sched_t *s, lithe_context_t *c) noexcept {
        from(s).context_yield(Context::from(c));
    }
    static void d_context_exit(lithe_sched_t *s, lithe_context_t *c) noexcept {
        from(s).context_exit(Context::from(c));
    }

    static const lithe_sched_funcs kFuncs;

    Native n_{};
    Context main_;
    std::atomic<bool> entered_{false};
    SpinLock children_lock_;
    std::vector<lithe_sched_t *> children_;  // under children_lock_
    size_t rr_ = 0;                          // under children_lock_
};

inline const lithe_sched_funcs Scheduler::kFuncs = {
    d_hart_request, d_child_enter,   d_child_exit,      d_hart_return,
    d_hart_enter,   d_sched_enter,   d_sched_exit,      d_context_block,
    d_context_unblock, d_context_yield, d_context_exit,
};

}  // namespace lithe
