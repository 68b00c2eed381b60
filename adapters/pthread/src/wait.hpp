// wait.hpp: how any caller of the adapter's blocking calls (mutex, condition
// variable, barrier, join) waits for a 32-bit word to change.
//
// A lithe context that may switch and a foreign kernel thread both wait in
// parlib's user-space futex table (uth_futex_wait): the context blocks and
// its hart runs other work; the foreign thread sleeps on a kernel futex of
// its own in the same table. So one uth_futex_wake reaches both kinds of
// waiter, which is what makes objects shared between contexts and foreign
// threads (a TBB worker thread, a thread created before lithe started)
// safe: every waiter of every object waits in one place, and every waker
// of these objects wakes there.
//
// Vcore (hart) context and a context with parlib notifications disabled
// (holding a lithe::SpinLock or a parlib pdr lock) must not block: they
// re-check the word, yielding the kernel thread (the raw sched_yield system
// call) between checks. This keeps the hart; it is only correct because
// the word's writer is running elsewhere, which holds for the holder of
// a mutex unless it blocked while holding it (docs/pthread.md, limits).
//
// Any context; no state.
#pragma once

#include <parlib/futex.h>
#include <parlib/uthread.h>
#include <parlib/vcore.h>

#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace lithe_pthread {

// An absolute deadline on `clock` (none if !set).
struct Deadline {
    bool set = false;
    clockid_t clock = CLOCK_REALTIME;
    int64_t abs_ns = 0;

    static Deadline at(clockid_t c, const struct timespec &t) {
        return {true, c, int64_t(t.tv_sec) * 1'000'000'000 + t.tv_nsec};
    }
    // Microseconds left, rounded up; <= 0 once passed.
    int64_t left_us() const {
        struct timespec now;
        clock_gettime(clock, &now);
        int64_t left =
            abs_ns - (int64_t(now.tv_sec) * 1'000'000'000 + now.tv_nsec);
        return left <= 0 ? 0 : (left + 999) / 1000;
    }
};

inline bool valid_timespec(const struct timespec *t) {
    return t && t->tv_nsec >= 0 && t->tv_nsec < 1'000'000'000;
}

// An invariant of an object the adapter implements (LITHE_ASSERTS builds):
// aborts with `what` (naming the call) when it does not hold.
inline void check_invariant(bool ok, const char *what) {
#if defined(LITHE_ASSERTS) && LITHE_ASSERTS
    if (!ok) {
        std::fprintf(stderr, "liblithe_pthread: %s\n", what);
        std::abort();
    }
#else
    (void)ok;
    (void)what;
#endif
}

// May the caller sleep in parlib's futex table?
inline bool can_futex_wait() {
    if (in_vcore_context()) return false;
    const struct uthread *u = uthread_self();
    return !u || u->notif_disabled == 0;
}

// Waits while *word == val, until woken, the value differs, or `d` passes.
// Returns 0 or ETIMEDOUT. Callers re-check their condition (a wake is
// about the address).
inline int wait_word(uint32_t *word, uint32_t val, const Deadline &d) {
    if (can_futex_wait()) {
        int64_t t = -1;
        if (d.set && (t = d.left_us()) <= 0) return ETIMEDOUT;
        return uth_futex_wait(word, val, t) == ETIMEDOUT ? ETIMEDOUT : 0;
    }
    while (__atomic_load_n(word, __ATOMIC_ACQUIRE) == val) {
        if (d.set && d.left_us() <= 0) return ETIMEDOUT;
        syscall(SYS_sched_yield);
    }
    return 0;
}

// The classic futex lock on a word (0 free, 1 held, 2 held and maybe
// waited for), for mutexes (mutex.cpp) and fd turns (fd_turn.cpp).
inline bool try_lock_word(uint32_t *word) {
    uint32_t expect = 0;
    return __atomic_compare_exchange_n(word, &expect, 1, false, __ATOMIC_ACQUIRE,
                                       __ATOMIC_RELAXED);
}
// After try_lock_word failed: waits for the word; 0 or ETIMEDOUT. Before
// each sleep, spin(take) may try to take the word by spinning (true once
// it did, setting it to `take`). `take` is 1 until the caller has slept and
// 2 from then on: the sleeper that took a wake-up must leave the word at 2
// so that its unlock wakes the next one.
template <class Spin>
int lock_word_contended(uint32_t *word, const Deadline &d, Spin spin) {
    for (uint32_t take = 1;; take = 2) {
        if (spin(take)) return 0;
        if (__atomic_exchange_n(word, 2, __ATOMIC_ACQUIRE) == 0) return 0;
        if (wait_word(word, 2, d) == ETIMEDOUT) return ETIMEDOUT;
    }
}
inline int lock_word_contended(uint32_t *word, const Deadline &d) {
    return lock_word_contended(word, d, [](uint32_t) { return false; });
}
inline void unlock_word(uint32_t *word) {
    if (__atomic_exchange_n(word, 0, __ATOMIC_RELEASE) == 2) uth_futex_wake(word, 1);
}

}  // namespace lithe_pthread
