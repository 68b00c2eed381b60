/* parlib/futex.h: futexes in user space (thesis §2.2.3).
 *
 * Same contract as the Linux futex (FUTEX_WAIT/FUTEX_WAKE, process-private)
 * but the waiters live in parlib's table (hashed buckets, each a spinlock
 * and a wait queue), so a waiting uthread blocks in user space and its
 * vcore runs other uthreads. Callers that are not uthreads wait in the same
 * table on a kernel futex of their own, so uthreads and other threads can
 * wait on and wake each other. The value check and the enqueue are atomic
 * with respect to uth_futex_wake on the same address: a waker that changes
 * *addr and then wakes never misses a waiter that saw the old value.
 *
 * Return values are 0 or a positive errno. Waiting aborts in vcore context;
 * waking may be done from anywhere.
 */
#ifndef PARLIB_FUTEX_H
#define PARLIB_FUTEX_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* If *addr == val, blocks until woken by uth_futex_wake(addr, ...) (0) or
 * until `timeout_us` microseconds have passed (ETIMEDOUT); a negative
 * timeout waits forever. Returns EAGAIN at once if *addr != val. There are
 * no spurious wake-ups, but callers should still re-check their condition
 * (a wake is about the address, not about a value). */
int uth_futex_wait(uint32_t *addr, uint32_t val, int64_t timeout_us);
/* Wakes up to `n` threads waiting on `addr` (oldest first); returns how
 * many it woke. n <= 0 wakes none. */
int uth_futex_wake(uint32_t *addr, int n);

#ifdef __cplusplus
}
#endif
#endif
