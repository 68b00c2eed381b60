/* parlib/semaphore.h: counting semaphores for uthreads and other threads
 * (thesis §2.2.3).
 *
 * down takes one unit, blocking while the count is 0 (uthreads in user
 * space, other threads on a kernel futex); up adds one and wakes the oldest
 * waiter, which then competes for the unit (Mesa semantics). up never
 * blocks and may be called from anywhere, including vcore context (an
 * alarm or event handler); the blocking calls abort in vcore context.
 */
#ifndef PARLIB_SEMAPHORE_H
#define PARLIB_SEMAPHORE_H

#include <stdbool.h>
#include <stdint.h>

#include "spinlock.h"
#include "wait_queue.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct uth_semaphore {
    /* parlib's; all guarded by `lock` */
    spinlock_t lock;
    uint32_t count;
    struct uth_wait_queue wq;
} uth_semaphore_t;

#define UTH_SEMAPHORE_INIT(count)                                             \
    {SPINLOCK_INITIALIZER, (count), UTH_WAIT_QUEUE_INIT}

void uth_semaphore_init(uth_semaphore_t *s, uint32_t count);
/* 0, or EBUSY if threads are waiting on it. */
int uth_semaphore_destroy(uth_semaphore_t *s);

void uth_semaphore_down(uth_semaphore_t *s);
/* Takes a unit if one is available right now. */
bool uth_semaphore_try_down(uth_semaphore_t *s);
/* As down, but gives up (false) once the absolute time `abs_us` (µs of
 * CLOCK_MONOTONIC) has passed. An available unit is taken even if the
 * deadline is already past. */
bool uth_semaphore_timed_down(uth_semaphore_t *s, uint64_t abs_us);
void uth_semaphore_up(uth_semaphore_t *s);

#ifdef __cplusplus
}
#endif
#endif
