// lithe/spinlock.hpp: lithe::SpinLock, the lock a scheduler shares between
// its callbacks (hart context) and its contexts.
//
// Why not std::mutex: a callback must never block the hart in the kernel,
// and a context must never hold a glibc lock across a switch. A spinlock
// held for a few instructions is the only lock both sides may take.
// Taken from a context, it also disables parlib notifications while held,
// so a preemptible context cannot be switched out (and spun on forever by
// the hart that wants the lock) in the middle of its critical section.
// Never hold it across a call that switches (lithe_context_run, grant,
// yield, block): release it first, or hand it to a grant's unlock callback.
// Lock and unlock on the same side: both in one context, or both in hart
// context (a grant's unlock callback runs in hart context, so a lock handed
// to it must have been taken in hart context, i.e. in hart_enter). To test a
// condition and block atomically, take the lock inside the lithe::block
// callback, not before the block.
// BasicLockable, so std::lock_guard works where the scope ends normally.
#pragma once

#include <parlib/uthread.h>

#include <atomic>

namespace lithe {

class SpinLock {
  public:
    void lock() noexcept {
        uth_disable_notifs();
        while (held_.exchange(true, std::memory_order_acquire))
            while (held_.load(std::memory_order_relaxed)) __builtin_ia32_pause();
    }
    void unlock() noexcept {
        held_.store(false, std::memory_order_release);
        uth_enable_notifs();
    }

  private:
    std::atomic<bool> held_{false};
};

}  // namespace lithe
