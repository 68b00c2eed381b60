/* lithe/sync.h: synchronisation for lithe contexts.
 *
 * lithe's mutex, recursive mutex, condition variable, barrier, semaphore,
 * futex and once are parlib's (parlib/mutex.h, condvar.h, barrier.h,
 * semaphore.h, futex.h, once.h). They need nothing from lithe: a waiting
 * context blocks through uthread_yield + uthread_has_blocked, which lithe
 * delivers as context_block to the context's owner, and a waker's
 * uthread_runnable arrives as that owner's context_unblock. So one mutex
 * can be shared by contexts of any schedulers in the tree, by hart-less
 * foreign pthreads (they sleep in the kernel), and across nesting levels.
 * Do not call them from hart context (callbacks): they would block a hart.
 */
#ifndef LITHE_SYNC_H
#define LITHE_SYNC_H

#include <parlib/barrier.h>
#include <parlib/condvar.h>
#include <parlib/futex.h>
#include <parlib/mutex.h>
#include <parlib/once.h>
#include <parlib/semaphore.h>

#endif
