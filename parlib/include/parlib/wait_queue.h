/* parlib/wait_queue.h: the storage of a wait queue, embedded in every
 * blocking primitive (mutex, condvar, barrier, semaphore, futex buckets).
 *
 * Opaque: only parlib touches the fields, always under the spinlock of the
 * primitive that embeds the queue. A zero-filled queue is empty, so the
 * primitives' static initializers need nothing else.
 */
#ifndef PARLIB_WAIT_QUEUE_H
#define PARLIB_WAIT_QUEUE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct uth_wait_queue {
    void *head; /* oldest waiter */
    void *tail; /* newest waiter */
};
#define UTH_WAIT_QUEUE_INIT {NULL, NULL}

#ifdef __cplusplus
}
#endif
#endif
