// cond.cpp: pthread_cond_wait, _timedwait, _clockwait, _signal and
// _broadcast on the object's own storage, for every caller (as mutex.cpp).
//
// The condition variable is a sequence word (glibc's __g_signals[0]):
// signal and broadcast increment it and wake one or all of its waiters; a
// waiter reads it while holding the mutex, releases the mutex and waits
// while the word still has the value it read (wait.hpp). The read happens
// before the release, and the futex table checks the value and queues the
// waiter atomically with respect to wakes, so a signal made after the
// waiter released the mutex either changes the value it waits on or finds
// it queued: no wakeup is lost. A waiter may return without a signal of its
// own (a signal that came between its read and its wait, or one that
// another waiter also saw), which POSIX allows. After 2^32 signals between
// a waiter's read and its wait it would wait for the next one.
//
// pthread_cond_init / glibc's static initializer (all zeros) leave the
// word 0; the clock (pthread_condattr_setclock) is read from glibc's
// __wrefs bit 1, as glibc stores it. A process-shared condition variable
// (bit 0) goes to glibc. pthread_cond_init and _destroy stay glibc's: init
// zeroes the object, destroy finds no glibc waiters and returns. The
// mutex is released and retaken with the adapter's mutex (or glibc's for
// kinds the adapter leaves to it); a timed wait retakes it before
// returning ETIMEDOUT.
#include <parlib/futex.h>

#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <climits>

#include "../../common/next_symbol.hpp"
#include "mutex.hpp"
#include "wait.hpp"

namespace lithe_pthread {
namespace {

using lithe_adapters::next_symbol;

constexpr unsigned kShared = 1, kMonotonic = 2;  // glibc's __wrefs bits

std::atomic<void *> g_next_wait{nullptr}, g_next_timedwait{nullptr},
    g_next_clockwait{nullptr}, g_next_signal{nullptr}, g_next_broadcast{nullptr};

bool shared(const pthread_cond_t *c) {
    return __atomic_load_n(&c->__data.__wrefs, __ATOMIC_RELAXED) & kShared;
}

uint32_t *seq(pthread_cond_t *c) { return &c->__data.__g_signals[0]; }

int wait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *abstime,
         clockid_t clock) {
    if (abstime && !valid_timespec(abstime)) return EINVAL;
    bool ours = mutex_ours(m);
    uint32_t v = __atomic_load_n(seq(c), __ATOMIC_ACQUIRE);
    if (int rc = ours ? mutex_unlock(m) : next_mutex_unlock(m)) return rc;
    Deadline d;
    if (abstime) d = Deadline::at(clock, *abstime);
    int rc = wait_word(seq(c), v, d);
    int lrc = ours ? mutex_lock(m, nullptr, CLOCK_REALTIME) : next_mutex_lock(m);
    return lrc ? lrc : rc;
}

void wake(pthread_cond_t *c, int n) {
    __atomic_fetch_add(seq(c), 1, __ATOMIC_RELEASE);
    uth_futex_wake(seq(c), n);
}

}  // namespace
}  // namespace lithe_pthread

using namespace lithe_pthread;

extern "C" {

__attribute__((visibility("default"))) int pthread_cond_wait(pthread_cond_t *c,
                                                             pthread_mutex_t *m) {
    if (shared(c))
        return next_symbol<int (*)(pthread_cond_t *, pthread_mutex_t *)>(
            g_next_wait, "pthread_cond_wait")(c, m);
    return wait(c, m, nullptr, CLOCK_REALTIME);
}

__attribute__((visibility("default"))) int pthread_cond_timedwait(
    pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *abstime) {
    if (shared(c))
        return next_symbol<int (*)(pthread_cond_t *, pthread_mutex_t *,
                                   const struct timespec *)>(
            g_next_timedwait, "pthread_cond_timedwait")(c, m, abstime);
    unsigned w = __atomic_load_n(&c->__data.__wrefs, __ATOMIC_RELAXED);
    return wait(c, m, abstime, (w & kMonotonic) ? CLOCK_MONOTONIC : CLOCK_REALTIME);
}

__attribute__((visibility("default"))) int pthread_cond_clockwait(
    pthread_cond_t *c, pthread_mutex_t *m, clockid_t clock,
    const struct timespec *abstime) {
    if (shared(c))
        return next_symbol<int (*)(pthread_cond_t *, pthread_mutex_t *, clockid_t,
                                   const struct timespec *)>(
            g_next_clockwait, "pthread_cond_clockwait")(c, m, clock, abstime);
    if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return EINVAL;
    return wait(c, m, abstime, clock);
}

__attribute__((visibility("default"))) int pthread_cond_signal(
    pthread_cond_t *c) noexcept {
    if (shared(c))
        return next_symbol<int (*)(pthread_cond_t *)>(g_next_signal,
                                                      "pthread_cond_signal")(c);
    wake(c, 1);
    return 0;
}

__attribute__((visibility("default"))) int pthread_cond_broadcast(
    pthread_cond_t *c) noexcept {
    if (shared(c))
        return next_symbol<int (*)(pthread_cond_t *)>(g_next_broadcast,
                                                      "pthread_cond_broadcast")(c);
    wake(c, INT_MAX);
    return 0;
}

}  // extern "C"
