/* parlib/helper_thread.h: starting a kernel thread that lives beside the
 * vcores (parlib's I/O service thread, an adapter's timer thread).
 *
 * Such a thread never runs uthreads and must not disturb the vcores: it is
 * created detached, with every signal blocked (process-directed signals go
 * to threads that expect them, and parlib's notification signal only to
 * vcores), and with the process's CPU mask rather than the pinned mask of
 * the vcore that may be creating it. It may be called from any context,
 * vcore context included (it makes no uthread-level blocking call).
 */
#ifndef PARLIB_HELPER_THREAD_H
#define PARLIB_HELPER_THREAD_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Starts fn(arg) on a new helper thread named `name` (at most 15 chars)
 * with a stack of `stack_size` bytes. Returns 0, or pthread_create's error
 * number (nothing was started). */
int parlib_helper_thread_start(const char *name, size_t stack_size,
                               void *(*fn)(void *), void *arg);

#ifdef __cplusplus
}
#endif

#endif /* PARLIB_HELPER_THREAD_H */
