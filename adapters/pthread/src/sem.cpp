// sem.cpp: sem_wait, sem_timedwait, sem_clockwait, sem_trywait, sem_post
// and sem_getvalue on unnamed process-private semaphores, for every caller,
// waiting as wait.hpp says (a context blocks and its hart runs other work;
// a foreign kernel thread sleeps in the kernel; hart context spins).
//
// The semaphore lives in glibc's layout (struct new_sem, 64-bit atomics):
// `data` holds the value in its low 32 bits and the number of waiters in
// its high 32 bits; `private` is 0 for a process-private semaphore and
// FUTEX_PRIVATE_FLAG (glibc's LLL_SHARED, 128) for a process-shared one.
// sem_init and sem_destroy stay glibc's (init writes that layout; destroy
// does nothing). Process-shared
// semaphores (sem_init with pshared != 0, sem_open) go to glibc for every
// caller, so each semaphore follows exactly one protocol; a context
// waiting on one blocks its hart (docs/pthread.md).
//
// Waiting: a waiter counts itself in the high half, then waits in parlib's
// futex table while the value (the low half) is 0, re-trying to take a unit
// after every wake. sem_post increments the value with a compare-exchange
// of the whole word, so it sees, atomically with its increment, whether
// anyone was counted as waiting, and wakes one waiter only then: a waiter
// either was counted before the increment (and is woken, or has not
// queued yet and then finds the value nonzero: the table checks the word
// and queues atomically with respect to wakes) or takes the unit itself.
//
// Errors as glibc's: EAGAIN (trywait), ETIMEDOUT, EOVERFLOW (post at
// SEM_VALUE_MAX), EINVAL for an unsupported clock or a bad tv_nsec,
// checked before trying to take a unit, as glibc does. EINTR never (a
// context's wait is not interrupted by signals).
#include <semaphore.h>

#include <parlib/futex.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>

#include "../../common/next_symbol.hpp"
#include "wait.hpp"

namespace lithe_pthread {
namespace {

using lithe_adapters::next_symbol;

// glibc's struct new_sem (nptl/semaphoreP.h, __HAVE_64B_ATOMICS).
struct NewSem {
    uint64_t data;
    int priv;
    int pad;
};
static_assert(sizeof(NewSem) <= sizeof(sem_t));
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the value is the low half of `data`, its first word");

constexpr uint64_t kValueMask = 0xffffffffu;
constexpr uint64_t kOneWaiter = uint64_t(1) << 32;

std::atomic<void *> g_next_wait{nullptr}, g_next_timedwait{nullptr},
    g_next_clockwait{nullptr}, g_next_trywait{nullptr}, g_next_post{nullptr},
    g_next_getvalue{nullptr};

NewSem *of(sem_t *s) { return reinterpret_cast<NewSem *>(s); }

bool shared(sem_t *s) { return __atomic_load_n(&of(s)->priv, __ATOMIC_RELAXED) != 0; }

uint32_t *value_word(NewSem *s) { return reinterpret_cast<uint32_t *>(&s->data); }

bool try_take(NewSem *s) {
    uint64_t d = __atomic_load_n(&s->data, __ATOMIC_RELAXED);
    while ((d & kValueMask) != 0)
        if (__atomic_compare_exchange_n(&s->data, &d, d - 1, true,
                                        __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return true;
    return false;
}

// sem_wait (abstime null) or the timed waits; returns 0 or -1 with errno.
int wait(sem_t *sem, const struct timespec *abstime, clockid_t clock) {
    NewSem *s = of(sem);
    if (try_take(s)) return 0;
    Deadline d;
    if (abstime) d = Deadline::at(clock, *abstime);
    __atomic_fetch_add(&s->data, kOneWaiter, __ATOMIC_SEQ_CST);
    int rc = 0;
    while (!try_take(s)) {
        if (wait_word(value_word(s), 0, d) == ETIMEDOUT && !try_take(s)) {
            rc = ETIMEDOUT;
            break;
        }
    }
    uint64_t before = __atomic_fetch_sub(&s->data, kOneWaiter, __ATOMIC_RELAXED);
    check_invariant((before >> 32) != 0, "sem_wait: the semaphore's waiter count "
                                         "underflowed (corrupted or not sem_init'ed?)");
    if (rc == 0) return 0;
    errno = rc;
    return -1;
}

int invalid() {
    errno = EINVAL;
    return -1;
}

}  // namespace
}  // namespace lithe_pthread

using namespace lithe_pthread;

extern "C" {

__attribute__((visibility("default"))) int sem_wait(sem_t *s) {
    if (shared(s)) return next_symbol<int (*)(sem_t *)>(g_next_wait, "sem_wait")(s);
    return wait(s, nullptr, CLOCK_REALTIME);
}

__attribute__((visibility("default"))) int sem_timedwait(
    sem_t *s, const struct timespec *abstime) {
    if (shared(s))
        return next_symbol<int (*)(sem_t *, const struct timespec *)>(
            g_next_timedwait, "sem_timedwait")(s, abstime);
    if (!valid_timespec(abstime)) return invalid();
    return wait(s, abstime, CLOCK_REALTIME);
}

__attribute__((visibility("default"))) int sem_clockwait(
    sem_t *s, clockid_t clock, const struct timespec *abstime) {
    if (shared(s))
        return next_symbol<int (*)(sem_t *, clockid_t, const struct timespec *)>(
            g_next_clockwait, "sem_clockwait")(s, clock, abstime);
    if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return invalid();
    if (!valid_timespec(abstime)) return invalid();
    return wait(s, abstime, clock);
}

__attribute__((visibility("default"))) int sem_trywait(sem_t *s) noexcept {
    if (shared(s))
        return next_symbol<int (*)(sem_t *)>(g_next_trywait, "sem_trywait")(s);
    if (try_take(of(s))) return 0;
    errno = EAGAIN;
    return -1;
}

__attribute__((visibility("default"))) int sem_post(sem_t *sem) noexcept {
    if (shared(sem))
        return next_symbol<int (*)(sem_t *)>(g_next_post, "sem_post")(sem);
    NewSem *s = of(sem);
    uint64_t d = __atomic_load_n(&s->data, __ATOMIC_RELAXED);
    do {
        if ((d & kValueMask) == SEM_VALUE_MAX) {
            errno = EOVERFLOW;
            return -1;
        }
    } while (!__atomic_compare_exchange_n(&s->data, &d, d + 1, true,
                                          __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
    if (d >> 32) uth_futex_wake(value_word(s), 1);
    return 0;
}

__attribute__((visibility("default"))) int sem_getvalue(sem_t *__restrict s,
                                                        int *__restrict v) noexcept {
    if (shared(s))
        return next_symbol<int (*)(sem_t *, int *)>(g_next_getvalue,
                                                    "sem_getvalue")(s, v);
    *v = static_cast<int>(__atomic_load_n(&of(s)->data, __ATOMIC_RELAXED) & kValueMask);
    return 0;
}

}  // extern "C"
