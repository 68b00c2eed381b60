// parlib/sync.hpp: C++ wrappers over parlib's synchronization primitives,
// shaped like their standard-library counterparts so that std::lock_guard,
// std::unique_lock, std::scoped_lock and std::lock work with them.
//
// SpinLock and Mutex/RecursiveMutex meet Lockable (Mutex and RecursiveMutex
// also TimedLockable); CondVar works with std::unique_lock<Mutex>. Deadlines
// are converted to µs of CLOCK_MONOTONIC, rounded up so a wait never ends
// before its deadline. Same context rules as the C API: blocking calls are
// for uthreads and ordinary threads, never vcore context. Objects are
// neither copyable nor movable (waiters hold pointers into them).
#pragma once

#include <chrono>
#include <condition_variable>  // std::cv_status
#include <cstdint>
#include <mutex>
#include <type_traits>

#include "barrier.h"
#include "condvar.h"
#include "mutex.h"
#include "semaphore.h"
#include "spinlock.h"
#include "vcore.h"

namespace parlib {

// µs of CLOCK_MONOTONIC for a time point of any clock (steady_clock is
// CLOCK_MONOTONIC in libstdc++; others are converted through "now").
template <class Clock, class Duration>
uint64_t to_monotonic_us(const std::chrono::time_point<Clock, Duration> &tp) {
    using namespace std::chrono;
    if constexpr (std::is_same_v<Clock, steady_clock>) {
        auto us = ceil<microseconds>(tp.time_since_epoch()).count();
        return us > 0 ? static_cast<uint64_t>(us) : 0;
    } else {
        auto left = ceil<microseconds>(tp - Clock::now()).count();
        uint64_t now = parlib_now_us();
        return left > 0 ? now + static_cast<uint64_t>(left) : now;
    }
}

class SpinLock {
  public:
    SpinLock() = default;
    SpinLock(const SpinLock &) = delete;
    SpinLock &operator=(const SpinLock &) = delete;
    // Uncontended acquire and the release inline (one locked exchange, one
    // store, no call through the PLT: the fork-join yield path takes two of
    // these per context yield); a contended acquire waits in spin_lock.
    // try_lock stays a call to spin_trylock: it is off the hot path (idle
    // stealing), and tests/lithe/test_stress.cpp interposes spin_trylock to
    // make try-locks fail spuriously.
    void lock() {
        if (__atomic_exchange_n(&l_.locked, 1, __ATOMIC_ACQUIRE)) spin_lock(&l_);
    }
    bool try_lock() { return spin_trylock(&l_); }
    void unlock() { __atomic_store_n(&l_.locked, 0, __ATOMIC_RELEASE); }
    spinlock_t *native_handle() { return &l_; }

  private:
    spinlock_t l_ = SPINLOCK_INITIALIZER;
};

namespace detail {
template <int Type>
class BasicMutex {
  public:
    BasicMutex() = default;
    BasicMutex(const BasicMutex &) = delete;
    BasicMutex &operator=(const BasicMutex &) = delete;
    void lock() { uth_mutex_lock(&m_); }
    bool try_lock() { return uth_mutex_trylock(&m_) == 0; }
    void unlock() { uth_mutex_unlock(&m_); }
    template <class Clock, class Duration>
    bool try_lock_until(const std::chrono::time_point<Clock, Duration> &tp) {
        return uth_mutex_timed_lock(&m_, to_monotonic_us(tp)) == 0;
    }
    template <class Rep, class Period>
    bool try_lock_for(const std::chrono::duration<Rep, Period> &d) {
        return try_lock_until(std::chrono::steady_clock::now() + d);
    }
    uth_mutex_t *native_handle() { return &m_; }

  private:
    uth_mutex_t m_ = {SPINLOCK_INITIALIZER, Type, 0, nullptr,
                      UTH_WAIT_QUEUE_INIT};
};
}  // namespace detail

class Mutex final : public detail::BasicMutex<UTH_MUTEX_NORMAL> {};
class RecursiveMutex final : public detail::BasicMutex<UTH_MUTEX_RECURSIVE> {};

class CondVar {
  public:
    CondVar() = default;
    CondVar(const CondVar &) = delete;
    CondVar &operator=(const CondVar &) = delete;

    void notify_one() { uth_cond_var_signal(&cv_); }
    void notify_all() { uth_cond_var_broadcast(&cv_); }

    void wait(std::unique_lock<Mutex> &lk) {
        uth_cond_var_wait(&cv_, lk.mutex()->native_handle());
    }
    template <class Pred>
    void wait(std::unique_lock<Mutex> &lk, Pred pred) {
        while (!pred()) wait(lk);
    }

    template <class Clock, class Duration>
    std::cv_status wait_until(
        std::unique_lock<Mutex> &lk,
        const std::chrono::time_point<Clock, Duration> &tp) {
        int rc = uth_cond_var_timed_wait(&cv_, lk.mutex()->native_handle(),
                                         to_monotonic_us(tp));
        return rc == 0 ? std::cv_status::no_timeout : std::cv_status::timeout;
    }
    template <class Clock, class Duration, class Pred>
    bool wait_until(std::unique_lock<Mutex> &lk,
                    const std::chrono::time_point<Clock, Duration> &tp,
                    Pred pred) {
        while (!pred())
            if (wait_until(lk, tp) == std::cv_status::timeout) return pred();
        return true;
    }
    template <class Rep, class Period>
    std::cv_status wait_for(std::unique_lock<Mutex> &lk,
                            const std::chrono::duration<Rep, Period> &d) {
        return wait_until(lk, std::chrono::steady_clock::now() + d);
    }
    template <class Rep, class Period, class Pred>
    bool wait_for(std::unique_lock<Mutex> &lk,
                  const std::chrono::duration<Rep, Period> &d, Pred pred) {
        return wait_until(lk, std::chrono::steady_clock::now() + d,
                          std::move(pred));
    }

    uth_cond_var_t *native_handle() { return &cv_; }

  private:
    uth_cond_var_t cv_ = UTH_COND_VAR_INIT;
};

class Barrier {
  public:
    explicit Barrier(uint32_t count) { uth_barrier_init(&b_, count); }
    Barrier(const Barrier &) = delete;
    Barrier &operator=(const Barrier &) = delete;
    // True for exactly one caller per phase.
    bool wait() { return uth_barrier_wait(&b_); }
    uth_barrier_t *native_handle() { return &b_; }

  private:
    uth_barrier_t b_;
};

class Semaphore {
  public:
    explicit Semaphore(uint32_t initial = 0) {
        uth_semaphore_init(&s_, initial);
    }
    Semaphore(const Semaphore &) = delete;
    Semaphore &operator=(const Semaphore &) = delete;
    void acquire() { uth_semaphore_down(&s_); }
    bool try_acquire() { return uth_semaphore_try_down(&s_); }
    template <class Clock, class Duration>
    bool try_acquire_until(const std::chrono::time_point<Clock, Duration> &tp) {
        return uth_semaphore_timed_down(&s_, to_monotonic_us(tp));
    }
    template <class Rep, class Period>
    bool try_acquire_for(const std::chrono::duration<Rep, Period> &d) {
        return try_acquire_until(std::chrono::steady_clock::now() + d);
    }
    void release(uint32_t n = 1) {
        while (n--) uth_semaphore_up(&s_);
    }
    uth_semaphore_t *native_handle() { return &s_; }

  private:
    uth_semaphore_t s_;
};

}  // namespace parlib
