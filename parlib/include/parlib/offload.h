/* parlib/offload.h: blocking calls made on a helper kernel thread while
 * the calling uthread blocks in user space.
 *
 * Some system calls can block for a long time and have no non-blocking
 * form parlib's I/O service could wait on instead: waitpid, flock,
 * sendfile or splice into a full socket or pipe, System V message queues
 * and semaphores. Made from a uthread they would stop the uthread's vcore
 * in the kernel, and with it every uthread that vcore could run.
 * uth_offload runs such a call on a helper kernel thread; the calling
 * uthread blocks (its vcore runs other uthreads) and resumes when the call
 * returns. Cost: a helper hand-off and an event (tens of µs), so it is for
 * calls that may wait, not for calls that are known to return at once.
 *
 * Helpers are started on demand, one per call in progress (a call may
 * block for ever, e.g. waitpid on a child that never exits, so a bounded
 * pool could deadlock); at most PARLIB_OFFLOAD_IDLE (default 4) are kept
 * parked for later calls, the others exit once their call returns.
 */
#ifndef PARLIB_OFFLOAD_H
#define PARLIB_OFFLOAD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Runs fn(arg) and returns its result; if fn set errno, so is the
 * caller's (as when fn runs on the caller, errno is otherwise untouched).
 * From a uthread that may block, fn runs on a helper kernel thread while
 * the uthread blocks; from anything else (vcore context, a thread that is
 * not a uthread, the child of a fork) it runs on the caller. fn runs on
 * another kernel thread than the caller's: it must not depend on the
 * calling thread's identity (tid, signal mask, thread-local data), and it
 * is never interrupted by a signal (helpers block them all). */
long uth_offload(long (*fn)(void *arg), void *arg);

/* Process-wide counts since start. */
struct uth_offload_stats {
    uint64_t offloaded;       /* calls run on a helper */
    uint64_t helpers_started; /* helper threads created */
    uint32_t helpers_idle;    /* parked now, waiting for a call */
};
void uth_offload_stats(struct uth_offload_stats *out);

#ifdef __cplusplus
}
#endif
#endif
