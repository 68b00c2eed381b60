// spin.hpp: parlib's internal test-and-test-and-set spinlock (never blocks
// the kernel thread, so it is safe in vcore context). The public spinlock for
// schedulers is parlib/spinlock.h (C++: parlib::SpinLock in parlib/sync.hpp).
//
// The classes live in parlib::internal: the public parlib::SpinLock has
// another layout (4-byte spinlock_t, not 1-byte flag) and its inline members
// have the same mangled names as these would have in namespace parlib, so
// the dynamic linker bound one library's calls to the other's (e.g. a
// fork-join queue lock built by this 1-byte constructor, leaving 3 bytes of
// heap garbage, then spun on by spin_lock for ever).
#pragma once

#include <atomic>

#include "context.hpp"

namespace parlib {
namespace internal {

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

}  // namespace internal
using internal::SpinGuard;
using internal::SpinLock;
}  // namespace parlib
