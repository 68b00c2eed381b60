// spin.hpp: parlib's internal test-and-test-and-set spinlock (never blocks
// the kernel thread, so it is safe in vcore context). The public spinlock for
// schedulers is parlib/spinlock.h.
#pragma once

#include <atomic>

#include "context.hpp"

namespace parlib {

class SpinLock {
  public:
    void lock() {
        while (flag_.exchange(true, std::memory_order_acquire))
            while (flag_.load(std::memory_order_relaxed)) cpu_relax();
    }
    bool try_lock() { return !flag_.exchange(true, std::memory_order_acquire); }
    void unlock() { flag_.store(false, std::memory_order_release); }

  private:
    std::atomic<bool> flag_{false};
};

class SpinGuard {
  public:
    explicit SpinGuard(SpinLock &l) : l_(l) { l_.lock(); }
    ~SpinGuard() { l_.unlock(); }
    SpinGuard(const SpinGuard &) = delete;
    SpinGuard &operator=(const SpinGuard &) = delete;

  private:
    SpinLock &l_;
};

}  // namespace parlib
