/* parlib/vcore.h: virtual cores ("vcores", thesis §2.2.1).
 *
 * A vcore is one kernel thread pinned to one CPU of the process's affinity
 * mask; while the process does not want it, it spins briefly and then parks
 * on a futex. Code on a vcore runs either in *vcore context* (always entered
 * at the top of the vcore's dedicated stack, never interrupted, never blocks,
 * never returns) or in a uthread (see uthread.h).
 *
 * Counts: max_vcores() is fixed at init (PARLIB_VCORES, default = CPUs in the
 * affinity mask; may exceed the CPU count for testing). num_vcores() is the
 * number currently online (not yielded); it is racy by nature.
 */
#ifndef PARLIB_VCORE_H
#define PARLIB_VCORE_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Called in vcore context each time a vcore (re)starts; must never return.
 * Installed by the uthread layer (uthread_lib_init); there is exactly one. */
typedef void (*vcore_entry_fn)(void);

/* Creates the vcore kernel threads (all yielded) on first call; later calls
 * are no-ops. Returns 0 or a negative errno. Thread-safe. */
int vcore_lib_init(void);

/* The fixed maximum number of vcores (PARLIB_VCORES or the CPU count). */
int max_vcores(void);

/* The number of vcores online right now (racy; for heuristics only). */
int num_vcores(void);

/* The id of the vcore running the caller in [0, max_vcores()), or -1 when
 * the caller is not running on a vcore (a foreign pthread). From a uthread
 * the answer can be stale as soon as it is read unless notifications are
 * disabled (uth_disable_notifs), which pins the uthread to its vcore. */
int vcore_id(void);

/* True when the caller runs in vcore context (not in a uthread). */
bool in_vcore_context(void);

/* True in the child of a fork() of this process: the child has one kernel
 * thread and no vcores, so nothing would ever run or wake a uthread that
 * blocked or yielded there. Code that would block or yield a uthread (the
 * adapters' interposed sleeps, joins, yields and I/O) makes the plain
 * kernel call instead. Otherwise only exec and _exit are safe in the child,
 * as in any multi-threaded process. */
bool vcore_forked_child(void);

/* Asks for `n` more vcores. Each yielded vcore that is brought online starts
 * in the vcore entry. A request that finds no yielded vcore is remembered
 * (at most max_vcores() of them): the next vcore that tries to yield
 * restarts its entry instead, so "publish work, then request" never loses a
 * wake-up. Callable from any thread. Returns the number of vcores brought
 * online by this call. */
int vcore_request(int n);

/* The idle spin window in microseconds, fixed at init: how long
 * vcore_yield spins before parking (PARLIB_SPIN_US, default 50; 0 when
 * there are more vcores than CPUs in the affinity mask and PARLIB_SPIN_US
 * is not given, since the kernel then time-slices the vcores and a spinner
 * takes CPU time from the vcore it waits for). Code above parlib that
 * spins on another vcore's progress uses it as its bound. */
uint64_t vcore_spin_window_us(void);

/* Vcore context only: gives this vcore back. It spins for the idle window
 * (PARLIB_SPIN_US, default 50 µs, or 0 when there are more vcores than
 * CPUs in the process's mask) watching for requests and events, then
 * parks on a futex. Returns only by restarting the vcore entry at the top of
 * the vcore stack (after a request or an event); never returns to the
 * caller. */
__attribute__((noreturn)) void vcore_yield(void);

/* Vcore context (or a uthread whose state is already saved): restart vcore
 * context at the top of the vcore stack, running `entry`, which must not
 * return. */
__attribute__((noreturn)) void vcore_reenter(void (*entry)(void));

/* Monotonic clock in microseconds (CLOCK_MONOTONIC; "time since boot"). */
uint64_t parlib_now_us(void);

#ifdef __cplusplus
}
#endif
#endif
