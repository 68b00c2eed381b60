/* parlib/barrier.h: reusable barriers for uthreads and other threads
 * (thesis §2.2.3).
 *
 * A barrier for `count` participants: each call to uth_barrier_wait blocks
 * until `count` calls have been made in the current phase, then all of them
 * return and the next phase begins (the barrier needs no reset). Exactly one
 * caller per phase - the last to arrive - gets true (the "serial" waiter,
 * like PTHREAD_BARRIER_SERIAL_THREAD). Uthreads block in user space, other
 * threads on a kernel futex; waiting aborts in vcore context.
 */
#ifndef PARLIB_BARRIER_H
#define PARLIB_BARRIER_H

#include <stdbool.h>
#include <stdint.h>

#include "spinlock.h"
#include "wait_queue.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct uth_barrier {
    /* parlib's; all guarded by `lock` */
    spinlock_t lock;
    uint32_t count;   /* participants per phase */
    uint32_t arrived; /* in the current phase */
    uint32_t phase;   /* incremented as each phase completes */
    struct uth_wait_queue wq;
} uth_barrier_t;

#define UTH_BARRIER_INIT(count)                                               \
    {SPINLOCK_INITIALIZER, (count), 0, 0, UTH_WAIT_QUEUE_INIT}

/* count >= 1, or it aborts. */
void uth_barrier_init(uth_barrier_t *b, uint32_t count);
/* 0, or EBUSY if a phase is in progress (somebody is waiting). */
int uth_barrier_destroy(uth_barrier_t *b);
bool uth_barrier_wait(uth_barrier_t *b);

#ifdef __cplusplus
}
#endif
#endif
