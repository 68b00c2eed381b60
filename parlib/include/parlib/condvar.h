/* parlib/condvar.h: condition variables for uthread mutexes (thesis
 * §2.2.3), with Mesa semantics: a woken waiter re-acquires the mutex and
 * must re-check its condition, since another thread may have run first.
 *
 * Waiting releases the mutex only after the waiter is queued, so a
 * signal sent by whoever takes the mutex next is never lost. signal wakes
 * the oldest waiter, broadcast every waiter queued at the time of the call.
 * A timed waiter is woken by exactly one of "signalled" and "timed out": a
 * waiter that returns ETIMEDOUT did not consume a signal, so the signal went
 * to another waiter (or found none). Waiters may be uthreads (blocked in
 * user space) and other threads (kernel futex) alike.
 *
 * Return values are 0 or a positive errno. Waiting aborts in vcore context
 * or with notifications disabled; signal and broadcast may be called from
 * anywhere, with or without the mutex held.
 */
#ifndef PARLIB_CONDVAR_H
#define PARLIB_CONDVAR_H

#include <stdint.h>

#include "mutex.h"
#include "spinlock.h"
#include "wait_queue.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct uth_cond_var {
    /* parlib's: the queue is guarded by `lock` */
    spinlock_t lock;
    struct uth_wait_queue wq;
} uth_cond_var_t;

#define UTH_COND_VAR_INIT {SPINLOCK_INITIALIZER, UTH_WAIT_QUEUE_INIT}

void uth_cond_var_init(uth_cond_var_t *cv);
/* 0, or EBUSY if threads are waiting on it. */
int uth_cond_var_destroy(uth_cond_var_t *cv);

/* Releases `m` (which the caller must hold; EPERM otherwise), waits for a
 * signal, re-acquires `m` and returns 0. A recursive mutex held several
 * times is released fully and re-acquired to the same depth. */
int uth_cond_var_wait(uth_cond_var_t *cv, uth_mutex_t *m);
/* As uth_cond_var_wait, but returns ETIMEDOUT (with `m` re-acquired) once
 * the absolute time `abs_us` (µs of CLOCK_MONOTONIC) has passed without a
 * signal reaching this waiter. */
int uth_cond_var_timed_wait(uth_cond_var_t *cv, uth_mutex_t *m,
                            uint64_t abs_us);
void uth_cond_var_signal(uth_cond_var_t *cv);
void uth_cond_var_broadcast(uth_cond_var_t *cv);

#ifdef __cplusplus
}
#endif
#endif
