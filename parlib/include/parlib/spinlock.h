/* parlib/spinlock.h: spinlocks for short critical sections in any context
 * (thesis §2.2.3).
 *
 * spinlock_t is a test-and-test-and-set lock: contenders poll the word with
 * `pause` and only retry the atomic exchange when it reads free. It never
 * blocks the kernel thread, so it is the lock to use in vcore context and to
 * protect the internals of the blocking primitives. Because vcores may
 * outnumber CPUs (PARLIB_VCORES), a contender that has polled for a while
 * also calls sched_yield so that a descheduled holder can run.
 *
 * spin_pdr_lock_t is the same lock plus irq_save-like behaviour: taken from a
 * uthread it disables notifications first (uth_disable_notifs) and re-enables
 * them after release, so the holder is neither interrupted nor migrated while
 * it holds the lock. Taken from vcore context or a foreign thread it is a
 * plain spinlock. On Linux vcores are never preempted by the system, so
 * there is no preemption detection and recovery to do (the "pdr" name is the
 * thesis' API). Use it whenever uthread code that may be interrupted shares
 * a lock with vcore context. Nested pdr locks keep notifications disabled
 * until the outermost one is released.
 *
 * Neither lock is recursive, and neither may be held across a uthread yield
 * except by handing its release to the yield callback (the blocking pattern).
 */
#ifndef PARLIB_SPINLOCK_H
#define PARLIB_SPINLOCK_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spinlock {
    uint32_t locked; /* 0 = free, 1 = held; accessed atomically */
} spinlock_t;
#define SPINLOCK_INITIALIZER {0}

void spinlock_init(spinlock_t *lock);
void spin_lock(spinlock_t *lock);
/* Takes the lock if it is free; never waits. */
bool spin_trylock(spinlock_t *lock);
void spin_unlock(spinlock_t *lock);
/* True while somebody holds the lock (a racy snapshot). */
bool spin_locked(const spinlock_t *lock);

typedef struct spin_pdr_lock {
    spinlock_t lock;
} spin_pdr_lock_t;
#define SPINPDR_INITIALIZER {SPINLOCK_INITIALIZER}

void spin_pdr_init(spin_pdr_lock_t *pdr);
void spin_pdr_lock(spin_pdr_lock_t *pdr);
bool spin_pdr_trylock(spin_pdr_lock_t *pdr);
void spin_pdr_unlock(spin_pdr_lock_t *pdr);
bool spin_pdr_locked(const spin_pdr_lock_t *pdr);

#ifdef __cplusplus
}
#endif
#endif
