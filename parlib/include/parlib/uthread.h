/* parlib/uthread.h: user-level threads and the scheduler callbacks (thesis
 * §2.2.2).
 *
 * A uthread is a saved register context plus a stack and, by default, its
 * own glibc TLS (TCB, errno, __thread, pthread_self, key data): the TLS of a
 * parked "backing" pthread whose FS base the uthread runs with. Lightweight
 * uthreads (attr.own_tls = false) share the TLS of whatever vcore runs them.
 *
 * There is one user-level scheduler per process (the "2LS"): it embeds
 * `struct uthread` as the first member of its own thread struct, allocates
 * it, and installs its callbacks with uthread_lib_init. lithe is such a 2LS.
 *
 * Ownership: every field of struct uthread is parlib's; a scheduler reads
 * them only through the functions below. A uthread runs on at most one vcore
 * at a time; run_uthread on a running or exited uthread aborts naming the
 * call.
 */
#ifndef PARLIB_UTHREAD_H
#define PARLIB_UTHREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vcore.h"

#ifdef __cplusplus
extern "C" {
#endif

struct uthread;

/* Why a uthread blocked (passed to thread_has_blocked). */
enum {
    UTH_BLK_YIELD = 0,
    UTH_BLK_MUTEX = 1,
    UTH_BLK_IO = 2,
    UTH_BLK_SLEEP = 3,
    UTH_BLK_JOIN = 4,
    UTH_BLK_MISC = 5,
};

/* Scheduler callbacks ("sched_ops"). All run in vcore context except
 * thread_runnable and thread_has_blocked, which run in whatever context made
 * the corresponding uthread_* call (a uthread, vcore context, or a foreign
 * thread for thread_runnable). None may block. */
struct schedule_ops {
    /* A vcore needs a scheduling decision. Must not return: run a uthread
     * (run_uthread) or give the vcore back (vcore_yield). Spinning here must
     * call handle_events(). */
    void (*sched_entry)(void);
    /* `u` may run again; typically enqueue it. */
    void (*thread_runnable)(struct uthread *u);
    /* `u` was interrupted (notification) or paused by a sync primitive but
     * is still runnable; the scheduler decides when it runs again. */
    void (*thread_paused)(struct uthread *u);
    /* Something outside the scheduler blocked `u`; a later
     * uthread_runnable(u) makes it runnable again. May be NULL. */
    void (*thread_has_blocked)(struct uthread *u, int flags);
    /* `u` blocked waiting for I/O readiness on `fd` (the counterpart of the
     * thesis' thread_blockon_sysc). May be NULL (treated as has_blocked). */
    void (*thread_blockon_io)(struct uthread *u, int fd);
    /* `u`'s entry function returned (or uthread_exit was called). Its stack
     * is dead; the scheduler may uthread_cleanup or uthread_recycle it. */
    void (*thread_exited)(struct uthread *u);
};

struct uthread_attr {
    size_t stack_size; /* 0 = PARLIB_STACK_SIZE (default 1 MiB) */
    bool own_tls;      /* true (default) = private glibc TLS */
};
#define UTHREAD_ATTR_DEFAULT {0, true}

/* Opaque to schedulers; the layout is here only so it can be embedded. */
struct uthread {
    void *sp;               /* saved stack pointer while not running */
    uint64_t fsbase;        /* TLS base to load; 0 = use the vcore's TLS */
    uint32_t flags;         /* UTHREAD_F_* */
    uint32_t state;         /* enum uthread_state, atomic */
    int32_t notif_disabled; /* uth_disable_notifs nesting depth */
    int32_t vcoreid;        /* vcore it runs or last ran on */
    void *stack_lo;         /* usable stack [stack_lo, stack_lo + stack_size) */
    size_t stack_size;
    void *tls_slot;         /* backing thread (full-TLS uthreads) */
    void *stack_region;     /* own mapping (lightweight uthreads) */
    void (*entry)(void *);
    void *arg;
    void (*yield_fn)(struct uthread *, void *);
    void *yield_arg;
    int64_t switches;       /* times this uthread was run (statistics) */
    void *owner;            /* the 2LS's: parlib never reads or writes it */
};

enum uthread_state {
    UTH_ST_FREE = 0,    /* not initialised, or cleaned up */
    UTH_ST_READY = 1,   /* saved; may be run */
    UTH_ST_RUNNING = 2, /* running on vcore `vcoreid` */
    UTH_ST_EXITED = 3,  /* entry returned; only cleanup/recycle allowed */
};

enum {
    UTHREAD_F_OWN_TLS = 1u << 0,
    UTHREAD_F_MAIN = 1u << 1,        /* the process's original main thread */
    UTHREAD_F_PREEMPTIBLE = 1u << 2, /* notifications may interrupt it */
};

/* Turns the caller (the process's main thread, not yet a uthread) into the
 * uthread `main_thread`, installs `ops`, and resumes it on vcore 0. Only one
 * call per process; a second returns -EBUSY. Returns 0 or -errno. Every
 * field of main_thread but `owner` is (re)initialised: set `owner` first if
 * thread_runnable needs it. */
int uthread_lib_init(struct uthread *main_thread,
                     const struct schedule_ops *ops);

/* The installed callbacks (NULL before uthread_lib_init). */
const struct schedule_ops *uthread_sched_ops(void);

/* Prepares `u` to run `entry(arg)` when first run. Takes a fresh TLS from
 * the warm pool when attr->own_tls (no kernel thread is created on this path
 * while the pool has entries). attr may be NULL. Returns 0 or -errno. The
 * uthread is READY; call uthread_runnable to hand it to the scheduler. */
int uthread_init(struct uthread *u, void (*entry)(void *), void *arg,
                 const struct uthread_attr *attr);

/* Re-arms an EXITED uthread to run `entry(arg)`, keeping its stack and TLS
 * (thread_local values persist: that is the point). Returns 0 or -EINVAL. */
int uthread_recycle(struct uthread *u, void (*entry)(void *), void *arg);

/* Releases an EXITED or never-run READY uthread's stack and TLS (its
 * thread_local and pthread-key destructors run on its backing thread). */
void uthread_cleanup(struct uthread *u);

/* Vcore context: switch to `u` (READY). Never returns. */
__attribute__((noreturn)) void run_uthread(struct uthread *u);

/* Vcore context: resume the uthread that a notification interrupted on this
 * vcore (current_uthread()). Never returns. */
__attribute__((noreturn)) void run_current_uthread(void);

/* The uthread that a notification interrupted on this vcore and that is
 * still current, or NULL. Vcore context only. Event handlers may take it
 * with uthread_paused(). */
struct uthread *current_uthread(void);

/* From a uthread: save it (if save_state), drop into vcore context, run
 * yield_fn(self, arg) there, then the vcore entry. Returns when the uthread
 * is run again. With save_state false the uthread is exiting and this never
 * returns. yield_fn is where a blocking primitive enqueues the uthread and
 * releases its lock: after it runs, anyone may run the uthread. */
void uthread_yield(bool save_state, void (*yield_fn)(struct uthread *, void *),
                   void *arg);

/* uthread_yield(true, yield_fn, arg), returning 0 when the uthread runs
 * again: a wrapper that returns a status can end in `return
 * uthread_yield_status(...)`, which compiles to a jump, so that the resumed
 * uthread returns straight to the wrapper's caller. Each return right after
 * a switch is mispredicted (~6 ns on the VM of docs/perf.md); lithe's
 * context calls use this to save one per yield. */
int uthread_yield_status(void (*yield_fn)(struct uthread *, void *),
                         void *arg);

/* Direct hand-off: like uthread_yield(save_state, yield_fn, arg) followed,
 * in vcore context, by run_uthread(next), but with one switch instead of two
 * (the FS base is written once, and only if it changes). `next` must be
 * READY (never run, yielded or blocked) and is claimed before the caller is
 * saved; a running, exited or freed `next` aborts naming the call.
 * yield_fn(self, arg) still runs after the caller is fully saved and
 * published READY (EXITED when !save_state, followed by thread_exited), not
 * on the caller's stack: it runs on next's stack below next's saved frame,
 * with next's TLS if next has its own (errno is preserved around it; other
 * thread_locals it touches are next's) or the vcore's otherwise. There it
 * sees vcore-context state (uthread_self() == NULL, in_vcore_context(),
 * current_uthread() == NULL, notifications only set pending) but must not
 * leave: run_uthread, vcore_yield and vcore_reenter are refused or undefined
 * (next runs when it returns). If events are queued on the vcore when the
 * call starts, the hand-off goes through vcore context instead and
 * handle_events() runs between yield_fn and next. */
void uthread_yield_to(struct uthread *next, bool save_state,
                      void (*yield_fn)(struct uthread *, void *), void *arg);

/* uthread_yield_to(next, true, yield_fn, arg), returning 0 when the caller
 * runs again: the hand-off's uthread_yield_status (a wrapper can end in a
 * jump to it). */
int uthread_yield_to_status(struct uthread *next,
                            void (*yield_fn)(struct uthread *, void *),
                            void *arg);

/* Ends the calling uthread (as if its entry returned). */
__attribute__((noreturn)) void uthread_exit(void);

/* The calling uthread, or NULL in vcore context or on a foreign thread. */
struct uthread *uthread_self(void);

/* True if `u` is current on a vcore other than the caller's: running
 * there (also while it sits in a system call), or interrupted there by a
 * notification and still current. False for NULL, and always false for the
 * caller itself. `u` is only compared, never dereferenced, so it may be
 * stale or freed; the answer is stale as soon as it is read. For waiters
 * that spin only while what they wait for makes progress elsewhere (the
 * pthreads adapter's mutex: "does the holder run on another vcore?"); with
 * one vcore it is false for every uthread a uthread asks about. Reads one
 * word per vcore. Any context. */
bool uthread_running_elsewhere(const struct uthread *u);

/* Forwarders to the scheduler (see struct schedule_ops). uthread_paused may
 * also be called on current_uthread() from vcore context. */
void uthread_has_blocked(struct uthread *u, int flags);
void uthread_paused(struct uthread *u);
void uthread_runnable(struct uthread *u);

/* Nested notification disable for the calling uthread: while disabled, the
 * uthread cannot be interrupted or migrated. No-ops outside uthreads. */
void uth_disable_notifs(void);
void uth_enable_notifs(void);

/* Allow notifications to interrupt `u` (time-slicing). Off by default: an
 * interrupted uthread is only ever paused outside libc (see docs). */
void uthread_set_preemptible(struct uthread *u, bool on);

/* Runs now the TLS destructors of every cleaned-up full-TLS uthread whose
 * backing thread has not exited yet (normally done in batches in the
 * background). Returns when they have all run. Not from vcore context. */
void uthread_tls_flush(void);

#ifdef __cplusplus
}
#endif
#endif
