// rwlock.cpp: pthread_rwlock_rdlock, _wrlock, _tryrdlock, _trywrlock,
// _timedrdlock, _timedwrlock, _clockrdlock, _clockwrlock and _unlock on
// process-private rwlocks, for every caller, waiting as wait.hpp says (a
// context blocks and its hart runs other work; a foreign kernel thread
// sleeps in the kernel; hart context spins).
//
// The lock lives in glibc's pthread_rwlock_t (x86-64 layout), whose fields
// this implementation uses as follows:
//   __readers         the state: kWriter while a writer holds it, else the
//                     number of readers holding it;
//   __wrphase_futex   the wake sequence, incremented by every release that
//                     may let a waiter in; waiters wait on it;
//   __writers_futex   the number of waiters (a release wakes only if > 0);
//   __writers         the number of waiting writers (what the
//                     writer-preferring kind makes readers wait for);
//   __cur_writer      the holding writer's owner id (mutex.hpp's owner_id);
//   __flags, __shared as pthread_rwlock_init / the static initializers
//                     leave them (glibc's init and destroy are kept: init
//                     writes that layout and __shared is 0 for private locks).
// A waiter counts itself, then reads the sequence, then tries the state,
// and waits while the sequence is unchanged; a release changes the state,
// then increments the sequence, then reads the count (all sequentially
// consistent), so either the release sees the waiter counted and wakes it,
// or the waiter sees the new sequence or state. Releases wake every
// waiter (readers may all go in); those that lose wait again.
//
// Semantics as glibc's: readers go in while no writer holds the lock
// (PTHREAD_RWLOCK_PREFER_READER_NP, the default, and PREFER_WRITER_NP,
// which glibc treats alike), or also only while no writer waits
// (PREFER_WRITER_NONRECURSIVE_NP); EDEADLK for a lock or timed lock by the
// holding writer; EBUSY for the trylocks; EAGAIN when the reader count
// would overflow; EINVAL for an unsupported clock or a bad tv_nsec of a
// timed lock, checked first; ETIMEDOUT. Unlock releases the caller's write
// lock if it holds it, else one read lock; unlocking a lock nobody holds
// returns EPERM (glibc's result is undefined). Process-shared rwlocks go
// to glibc for every caller (a context waiting on one blocks its hart).
#include <pthread.h>

#include <parlib/futex.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>

#include "../../common/next_symbol.hpp"
#include "mutex.hpp"
#include "wait.hpp"

namespace lithe_pthread {
namespace {

using lithe_adapters::next_symbol;

constexpr uint32_t kWriter = 1u << 31;
constexpr uint32_t kMaxReaders = kWriter - 1;

enum class Op { kRdlock, kTryrdlock, kTimedrdlock, kClockrdlock, kWrlock,
                kTrywrlock, kTimedwrlock, kClockwrlock, kUnlock };
const char *const kNames[] = {
    "pthread_rwlock_rdlock", "pthread_rwlock_tryrdlock",
    "pthread_rwlock_timedrdlock", "pthread_rwlock_clockrdlock",
    "pthread_rwlock_wrlock", "pthread_rwlock_trywrlock",
    "pthread_rwlock_timedwrlock", "pthread_rwlock_clockwrlock",
    "pthread_rwlock_unlock"};
std::atomic<void *> g_next[9];

// glibc's definition of `op`, for process-shared locks.
template <class Fn>
Fn next(Op op) {
    return next_symbol<Fn>(g_next[int(op)], kNames[int(op)]);
}

bool shared(const pthread_rwlock_t *rw) {
    return __atomic_load_n(&rw->__data.__shared, __ATOMIC_RELAXED) != 0;
}

uint32_t *state(pthread_rwlock_t *rw) { return &rw->__data.__readers; }
uint32_t *sequence(pthread_rwlock_t *rw) { return &rw->__data.__wrphase_futex; }
uint32_t *waiters(pthread_rwlock_t *rw) { return &rw->__data.__writers_futex; }
uint32_t *writers_waiting(pthread_rwlock_t *rw) { return &rw->__data.__writers; }

bool writer_preferring(const pthread_rwlock_t *rw) {
    return rw->__data.__flags == PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP;
}

// 0 taken, EBUSY not now, EAGAIN reader count full.
int try_read(pthread_rwlock_t *rw) {
    uint32_t s = __atomic_load_n(state(rw), __ATOMIC_SEQ_CST);
    for (;;) {
        if ((s & kWriter) || (writer_preferring(rw) &&
                              __atomic_load_n(writers_waiting(rw), __ATOMIC_SEQ_CST)))
            return EBUSY;
        if (s == kMaxReaders) return EAGAIN;
        if (__atomic_compare_exchange_n(state(rw), &s, s + 1, true,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            return 0;
    }
}

int try_write(pthread_rwlock_t *rw) {
    uint32_t s = 0;
    if (!__atomic_compare_exchange_n(state(rw), &s, kWriter, false,
                                     __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        return EBUSY;
    __atomic_store_n(&rw->__data.__cur_writer, owner_id(), __ATOMIC_RELAXED);
    return 0;
}

// After the state changed in a waiter's favour: wake them all.
void release(pthread_rwlock_t *rw) {
    __atomic_fetch_add(sequence(rw), 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(waiters(rw), __ATOMIC_SEQ_CST) != 0)
        uth_futex_wake(sequence(rw), INT_MAX);
}

// rdlock / wrlock, timed when abstime is given (on `clock`).
int lock(pthread_rwlock_t *rw, bool write, const struct timespec *abstime,
         clockid_t clock) {
    if (abstime && ((clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) ||
                    !valid_timespec(abstime)))
        return EINVAL;
    if (__atomic_load_n(&rw->__data.__cur_writer, __ATOMIC_RELAXED) == owner_id())
        return EDEADLK;
    auto attempt = [&] { return write ? try_write(rw) : try_read(rw); };
    int rc = attempt();
    if (rc != EBUSY) return rc;
    Deadline d;
    if (abstime) d = Deadline::at(clock, *abstime);
    __atomic_fetch_add(waiters(rw), 1, __ATOMIC_SEQ_CST);
    if (write) __atomic_fetch_add(writers_waiting(rw), 1, __ATOMIC_SEQ_CST);
    for (;;) {
        uint32_t seq = __atomic_load_n(sequence(rw), __ATOMIC_SEQ_CST);
        if ((rc = attempt()) != EBUSY) break;
        if (wait_word(sequence(rw), seq, d) == ETIMEDOUT &&
            (rc = attempt()) == EBUSY) {
            rc = ETIMEDOUT;
            break;
        }
    }
    if (write) {
        uint32_t left = __atomic_sub_fetch(writers_waiting(rw), 1, __ATOMIC_SEQ_CST);
        check_invariant(left != UINT32_MAX, "pthread_rwlock_wrlock: waiting "
                                            "writers count underflowed");
        if (left == 0 && rc != 0 && writer_preferring(rw))
            release(rw);  // readers that waited for this writer may go in
    }
    uint32_t before = __atomic_fetch_sub(waiters(rw), 1, __ATOMIC_SEQ_CST);
    check_invariant(before != 0, "pthread_rwlock_*lock: waiter count underflowed");
    return rc;
}

int unlock(pthread_rwlock_t *rw) {
    uint32_t s = __atomic_load_n(state(rw), __ATOMIC_SEQ_CST);
    if (s == kWriter &&
        __atomic_load_n(&rw->__data.__cur_writer, __ATOMIC_RELAXED) == owner_id()) {
        __atomic_store_n(&rw->__data.__cur_writer, 0, __ATOMIC_RELAXED);
        __atomic_store_n(state(rw), 0, __ATOMIC_SEQ_CST);
        release(rw);
        return 0;
    }
    do {
        if (s == 0 || (s & kWriter)) return EPERM;  // no read lock to release
    } while (!__atomic_compare_exchange_n(state(rw), &s, s - 1, true,
                                          __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
    if (s == 1) release(rw);  // the last reader: a writer may go in
    return 0;
}

using Plain = int (*)(pthread_rwlock_t *);
using Timed = int (*)(pthread_rwlock_t *, const struct timespec *);
using Clocked = int (*)(pthread_rwlock_t *, clockid_t, const struct timespec *);

}  // namespace
}  // namespace lithe_pthread

using namespace lithe_pthread;

extern "C" {

__attribute__((visibility("default"))) int pthread_rwlock_rdlock(
    pthread_rwlock_t *rw) noexcept {
    if (shared(rw)) return next<Plain>(Op::kRdlock)(rw);
    return lock(rw, false, nullptr, CLOCK_REALTIME);
}

__attribute__((visibility("default"))) int pthread_rwlock_tryrdlock(
    pthread_rwlock_t *rw) noexcept {
    if (shared(rw)) return next<Plain>(Op::kTryrdlock)(rw);
    return try_read(rw);
}

__attribute__((visibility("default"))) int pthread_rwlock_timedrdlock(
    pthread_rwlock_t *rw, const struct timespec *abstime) noexcept {
    if (shared(rw)) return next<Timed>(Op::kTimedrdlock)(rw, abstime);
    return lock(rw, false, abstime, CLOCK_REALTIME);
}

__attribute__((visibility("default"))) int pthread_rwlock_clockrdlock(
    pthread_rwlock_t *rw, clockid_t clock, const struct timespec *abstime) noexcept {
    if (shared(rw)) return next<Clocked>(Op::kClockrdlock)(rw, clock, abstime);
    return lock(rw, false, abstime, clock);
}

__attribute__((visibility("default"))) int pthread_rwlock_wrlock(
    pthread_rwlock_t *rw) noexcept {
    if (shared(rw)) return next<Plain>(Op::kWrlock)(rw);
    return lock(rw, true, nullptr, CLOCK_REALTIME);
}

__attribute__((visibility("default"))) int pthread_rwlock_trywrlock(
    pthread_rwlock_t *rw) noexcept {
    if (shared(rw)) return next<Plain>(Op::kTrywrlock)(rw);
    return try_write(rw);
}

__attribute__((visibility("default"))) int pthread_rwlock_timedwrlock(
    pthread_rwlock_t *rw, const struct timespec *abstime) noexcept {
    if (shared(rw)) return next<Timed>(Op::kTimedwrlock)(rw, abstime);
    return lock(rw, true, abstime, CLOCK_REALTIME);
}

__attribute__((visibility("default"))) int pthread_rwlock_clockwrlock(
    pthread_rwlock_t *rw, clockid_t clock, const struct timespec *abstime) noexcept {
    if (shared(rw)) return next<Clocked>(Op::kClockwrlock)(rw, clock, abstime);
    return lock(rw, true, abstime, clock);
}

__attribute__((visibility("default"))) int pthread_rwlock_unlock(
    pthread_rwlock_t *rw) noexcept {
    if (shared(rw)) return next<Plain>(Op::kUnlock)(rw);
    return unlock(rw);
}

}  // extern "C"
