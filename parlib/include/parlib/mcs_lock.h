/* parlib/mcs_lock.h: MCS queue locks (thesis §2.2.3).
 *
 * Contenders queue in arrival order, each spinning on the `locked` flag of
 * its own qnode instead of on the shared lock word, so a contended hand-off
 * costs one cache-line transfer. The caller provides the qnode and must pass
 * the same qnode to unlock; it must stay valid (typically on the caller's
 * stack) from lock until unlock returns. Never blocks the kernel thread:
 * usable in vcore context. Waiters that have polled for a while also call
 * sched_yield, since vcores may outnumber CPUs.
 *
 * The pdr variants disable notifications while held when called from a
 * uthread, exactly like spin_pdr_lock (see spinlock.h).
 */
#ifndef PARLIB_MCS_LOCK_H
#define PARLIB_MCS_LOCK_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mcs_lock_qnode {
    struct mcs_lock_qnode *next; /* successor, written by the successor */
    uint32_t locked;             /* 1 while its owner must keep waiting */
} mcs_lock_qnode_t;
#define MCS_QNODE_INIT {NULL, 0}

typedef struct mcs_lock {
    mcs_lock_qnode_t *tail; /* last queued qnode, NULL when free */
} mcs_lock_t;
#define MCS_LOCK_INIT {NULL}

void mcs_lock_init(mcs_lock_t *lock);
void mcs_lock_lock(mcs_lock_t *lock, mcs_lock_qnode_t *qnode);
/* Takes the lock only if nobody holds or waits for it; never waits. */
bool mcs_lock_trylock(mcs_lock_t *lock, mcs_lock_qnode_t *qnode);
void mcs_lock_unlock(mcs_lock_t *lock, mcs_lock_qnode_t *qnode);

void mcs_pdr_lock(mcs_lock_t *lock, mcs_lock_qnode_t *qnode);
void mcs_pdr_unlock(mcs_lock_t *lock, mcs_lock_qnode_t *qnode);

#ifdef __cplusplus
}
#endif
#endif
