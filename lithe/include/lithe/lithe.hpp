// lithe/lithe.hpp: the C++20 API over lithe.h (header-only).
//
// Includes the classes (Context, Scheduler, SchedGuard, SpinLock, Error)
// and defines thin wrappers for the calls a scheduler makes. The wrappers
// are noexcept and return lithe's int codes, because most of them are made
// in hart context (callbacks), where nothing may throw. The contexts each
// call may run in are lithe.h's; see docs/lithe.md.
#pragma once

#include <lithe/context.hpp>
#include <lithe/error.hpp>
#include <lithe/lithe.h>
#include <lithe/sched_guard.hpp>
#include <lithe/scheduler.hpp>
#include <lithe/spinlock.hpp>

#include <memory>
#include <type_traits>

namespace lithe {

// --- harts ---
// Hart context or a lithe context: asks the
// current scheduler's parent for `delta` more harts (may be negative).
inline int hart_request(int delta) noexcept { return lithe_hart_request(delta); }
// Hart context (hart_enter) only: gives this hart to `child`. Never returns
// on success; returns LITHE_EEXITING if the child is exiting (the hart stays
// with the caller). unlock(arg) runs after the transfer, before the child's
// hart_enter: arg must not point into the hart's stack (hart_enter's frame
// is gone by then).
inline int hart_grant(lithe_sched_t *child, void (*unlock)(void *) = nullptr,
                      void *arg = nullptr) noexcept {
    return lithe_hart_grant(child, unlock, arg);
}
// Hart context only: gives this hart back to the parent. Never returns on
// success.
inline int hart_yield() noexcept { return lithe_hart_yield(); }
inline int num_harts() noexcept { return lithe_num_harts(); }
inline lithe_sched_t *current_scheduler() noexcept {
    return lithe_sched_current();
}

// --- contexts ---
// From a context: back to the current scheduler (context_yield, then
// hart_enter); returns when the scheduler runs it again.
inline int yield() noexcept { return lithe_context_yield(); }
// From a context: blocks it. After the owner's context_block, on_hart(self)
// runs in hart context with the context saved: it publishes `self` where
// its waker will find it (or unblocks it at once if the condition already
// holds) and releases its locks. on_hart lives on the blocked context's
// stack: once it has made `self` reachable, another hart may resume the
// context and that stack frame ends, so on_hart must not touch its
// captures afterwards. Returns when the context runs again.
template <class F>
int block(F &&on_hart) noexcept {
    using Fn = std::remove_reference_t<F>;
    return lithe_context_block(
        [](lithe_context_t *self, void *p) { (*static_cast<Fn *>(p))(self); },
        const_cast<void *>(static_cast<const void *>(std::addressof(on_hart))));
}
// Anywhere: the owner's context_unblock(ctx) runs synchronously here.
inline int unblock(lithe_context_t *ctx) noexcept {
    return lithe_context_unblock(ctx);
}

}  // namespace lithe
