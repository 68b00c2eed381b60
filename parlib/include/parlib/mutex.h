/* parlib/mutex.h: uthread mutexes (thesis §2.2.3).
 *
 * A waiter that finds the mutex held blocks: a uthread blocks in user space
 * (its vcore runs other uthreads meanwhile); any other thread (a foreign
 * pthread, a thread running TLS destructors) sleeps on a kernel futex. Both
 * kinds may contend for the same mutex. Unlock wakes the oldest waiter,
 * which then competes for the mutex again (Mesa semantics: a newcomer may
 * take it first; no hand-off).
 *
 * Types: NORMAL (relocking it from its owner aborts naming the call, since
 * it could only deadlock), RECURSIVE (the owner may relock; it is released
 * when unlocked as many times), ERRORCHECK (relock by the owner returns
 * EDEADLK). Unlocking a mutex the caller does not hold returns EPERM for
 * every type. The owner is the calling uthread, or the calling kernel thread
 * when the caller is not a uthread.
 *
 * Return values are 0 or a positive errno, as in pthreads. Blocking calls
 * (lock, timed_lock) abort if made in vcore context, or from a uthread with
 * notifications disabled (e.g. while holding a pdr lock). trylock and unlock
 * never block and may be called anywhere.
 */
#ifndef PARLIB_MUTEX_H
#define PARLIB_MUTEX_H

#include <stdint.h>

#include "spinlock.h"
#include "wait_queue.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    UTH_MUTEX_NORMAL = 0,
    UTH_MUTEX_RECURSIVE = 1,
    UTH_MUTEX_ERRORCHECK = 2,
};

typedef struct uth_mutex {
    /* parlib's; all guarded by `lock` */
    spinlock_t lock;
    uint32_t type;
    uint32_t depth; /* times locked by the owner; 0 = unlocked */
    void *owner;
    struct uth_wait_queue wq;
} uth_mutex_t;

#define UTH_MUTEX_INIT                                                        \
    {SPINLOCK_INITIALIZER, UTH_MUTEX_NORMAL, 0, NULL, UTH_WAIT_QUEUE_INIT}
#define UTH_RECURSIVE_MUTEX_INIT                                              \
    {SPINLOCK_INITIALIZER, UTH_MUTEX_RECURSIVE, 0, NULL, UTH_WAIT_QUEUE_INIT}
#define UTH_ERRORCHECK_MUTEX_INIT                                             \
    {SPINLOCK_INITIALIZER, UTH_MUTEX_ERRORCHECK, 0, NULL, UTH_WAIT_QUEUE_INIT}

/* `type` is one of UTH_MUTEX_*; anything else aborts. */
void uth_mutex_init(uth_mutex_t *m, int type);
/* 0, or EBUSY if it is held or has waiters (then it is left untouched). */
int uth_mutex_destroy(uth_mutex_t *m);

/* 0, or EDEADLK (errorcheck, already the owner). */
int uth_mutex_lock(uth_mutex_t *m);
/* 0, EBUSY (held by somebody else, or by the caller unless recursive). */
int uth_mutex_trylock(uth_mutex_t *m);
/* As uth_mutex_lock, but gives up with ETIMEDOUT once the absolute time
 * `abs_us` (µs of CLOCK_MONOTONIC, see parlib_now_us) has passed. A free
 * mutex is taken even if the deadline is already past. */
int uth_mutex_timed_lock(uth_mutex_t *m, uint64_t abs_us);
/* 0, or EPERM if the caller does not hold it. */
int uth_mutex_unlock(uth_mutex_t *m);

#ifdef __cplusplus
}
#endif
#endif
