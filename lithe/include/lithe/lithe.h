/* lithe/lithe.h: harts, the scheduler tree, and contexts (thesis ch. 3,
 * Table 3.1). The API any runtime uses to become lithe-aware.
 *
 * A hart is a parlib vcore. Exactly one scheduler is *current* on each hart
 * at any time; harts move down the tree by lithe_hart_grant (parent ->
 * child) and up by lithe_hart_yield (child -> parent). The root is lithe's
 * base scheduler, which owns the application's main context (main() runs in
 * it from process start, no call needed) and takes harts from the vcore
 * layer. A context is a parlib uthread (own stack, own TLS by default).
 *
 * Contexts of execution for each call ("hart" = hart context, i.e. a
 * callback or code running on a vcore's own stack; "ctx" = inside a lithe
 * context; "any" = also foreign pthreads):
 *   lithe_hart_request      hart, ctx, any (delivered synchronously)
 *   lithe_hart_grant        hart (parent's hart_enter)
 *   lithe_hart_yield        hart
 *   lithe_sched_init        any
 *   lithe_sched_enter/exit  ctx
 *   lithe_sched_current     hart, ctx, any (NULL on a foreign thread)
 *   lithe_context_init/recycle/reassociate/cleanup   hart, ctx, any
 *   lithe_context_run       hart
 *   lithe_context_self      ctx (NULL elsewhere)
 *   lithe_context_block/yield/yield_to/exit   ctx
 *   lithe_context_unblock   hart, ctx, any (delivered synchronously)
 * Every callback runs in hart context, except hart_request and
 * context_unblock, which run synchronously wherever the request/unblock was
 * made; while any callback runs, lithe_sched_current() is the scheduler
 * receiving it. Callbacks must not block.
 *
 * Errors: functions return 0 or a negative LITHE_E* code. API misuse (not
 * an expected race) additionally aborts with a message naming the call when
 * the misuse policy is LITHE_MISUSE_ABORT (the default in builds with
 * assertions; see lithe_set_misuse_policy).
 */
#ifndef LITHE_LITHE_H
#define LITHE_LITHE_H

#include <parlib/uthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lithe_sched lithe_sched_t;
typedef struct lithe_context lithe_context_t;

enum lithe_error {
    LITHE_OK = 0,
    LITHE_EINVAL = -1,        /* bad argument (NULL, uninitialised, ...) */
    LITHE_EWRONGCONTEXT = -2, /* call made from a context where it is not
                                 allowed (see the table above) */
    LITHE_ENOTCURRENT = -3,   /* scheduler/context is not the current one */
    LITHE_ENOTCHILD = -4,     /* grant to a scheduler that is not a child */
    LITHE_ERUNNING = -5,      /* context is running */
    LITHE_ELIVE = -6,         /* cleanup of a context that has not exited */
    LITHE_EBUSY = -7,         /* scheduler still owns contexts/children */
    LITHE_EEXITING = -8,      /* scheduler is exiting (e.g. grant refused) */
    LITHE_ESTATE = -9,        /* object in the wrong state for the call
                                 (enter an entered scheduler, ...) */
    LITHE_ENOMEM = -10,
};

/* Human-readable name of an error code. */
const char *lithe_strerror(int err);

struct lithe_sched_funcs {
    /* A child asks for `delta` more harts (may be negative). */
    void (*hart_request)(lithe_sched_t *self, lithe_sched_t *child,
                         int delta);
    void (*child_enter)(lithe_sched_t *self, lithe_sched_t *child);
    void (*child_exit)(lithe_sched_t *self, lithe_sched_t *child);
    /* A child yielded a hart to us; hart_enter follows on that hart. */
    void (*hart_return)(lithe_sched_t *self, lithe_sched_t *child);
    /* A hart arrived (grant, yield from a child, context switch away).
     * Must not return: run a context, grant, or lithe_hart_yield. */
    void (*hart_enter)(lithe_sched_t *self);
    void (*sched_enter)(lithe_sched_t *self);
    void (*sched_exit)(lithe_sched_t *self);
    void (*context_block)(lithe_sched_t *self, lithe_context_t *ctx);
    void (*context_unblock)(lithe_sched_t *self, lithe_context_t *ctx);
    void (*context_yield)(lithe_sched_t *self, lithe_context_t *ctx);
    void (*context_exit)(lithe_sched_t *self, lithe_context_t *ctx);
};

/* Per-scheduler accounting (lithe_sched_stats). */
struct lithe_sched_stats {
    int harts;                /* harts for which it is current now */
    int subtree_harts;        /* harts of it and its descendants: `harts`
                                 plus its entered children's subtree_harts
                                 (what its `requested` is measured against) */
    int64_t requested;        /* sum of its request deltas (outstanding) */
    uint64_t hart_time_ns;    /* hart-time accumulated while current */
    uint64_t grants_received; /* harts granted to it */
    uint64_t grants_made;     /* harts it granted to children */
    uint64_t yields;          /* harts it yielded to its parent */
    uint64_t contexts;        /* contexts associated with it now */
    int children;             /* entered children now */
};

/* Embedded (first) in a runtime's scheduler struct. Every field is lithe's
 * (the runtime reads them only through the API); the bookkeeping is inline
 * so that initialising a scheduler never allocates.
 *
 * Two cache lines. The first holds what every callback dispatch and every
 * grant decision reads (a fork-join context yield reads its scheduler's and
 * its parent's `requested` and `subtree_harts` to decide the parent's turn):
 * it changes when demand changes or a hart enters or leaves this
 * scheduler's own subtree. The second holds what each hart transfer writes
 * and nothing on those paths reads: the lock, `harts`, and the statistics.
 * In one line, a hart bouncing in and out of a scheduler (no work, requests
 * outstanding) invalidated the line another hart's yield reads ~10 times
 * per bounce: fork-join context yields cost ~40 ns more next to such a hart
 * (docs/perf.md, session 6). */
struct lithe_sched {
    const struct lithe_sched_funcs *funcs;
    lithe_sched_t *parent;
    lithe_context_t *main_context; /* promoted caller while entered */
    lithe_context_t *entered_from; /* the parent's context that entered */
    uint32_t state;                /* lithe's: init/entered/exiting/exited */
    int32_t subtree_harts;
    int32_t children;
    int64_t requested;
    /* written on every hart transfer (see above) */
    uint32_t lock __attribute__((aligned(64))); /* orders grant vs exit */
    int32_t harts;
    int64_t contexts;
    uint64_t hart_time_ticks;      /* parlib_ticks(); stats convert */
    uint64_t grants_received;
    uint64_t grants_made;
    uint64_t yields;
} __attribute__((aligned(64)));

/* Embedded (first) in a runtime's context struct. Fields are lithe's. */
struct lithe_context {
    struct uthread uth;     /* storage for contexts made by context_init */
    struct uthread *u;      /* the uthread this context describes now */
    lithe_sched_t *sched;   /* owner: receives this context's callbacks */
    uint64_t id;            /* unique; kept by recycle */
    void (*fn)(void *);
    void *arg;
    uint32_t flags;         /* lithe's */
};

struct lithe_context_attr {
    size_t stack_size; /* 0 = PARLIB_STACK_SIZE */
    bool own_tls;      /* default true */
};

/* --- harts --- */
int lithe_hart_request(int delta);
/* Never returns on success (the child's hart_enter runs on this hart);
 * returns LITHE_EEXITING if the child is exiting (the hart stays with the
 * caller), or an error. `unlock(arg)` runs after the transfer, before the
 * child's hart_enter (may be NULL). */
int lithe_hart_grant(lithe_sched_t *child, void (*unlock)(void *), void *arg);
/* Never returns on success. */
int lithe_hart_yield(void);
/* Number of harts (= max vcores) and the scheduler current on hart i
 * (racy snapshot; for tests and tools). */
int lithe_num_harts(void);
lithe_sched_t *lithe_hart_owner(int hart);

/* --- schedulers --- */
int lithe_sched_init(lithe_sched_t *sched, const struct lithe_sched_funcs *f,
                     lithe_context_t *main_ctx);
int lithe_sched_enter(lithe_sched_t *child);
int lithe_sched_exit(void);
lithe_sched_t *lithe_sched_current(void);
/* The root (base) scheduler. */
lithe_sched_t *lithe_sched_base(void);
int lithe_sched_stats(lithe_sched_t *sched, struct lithe_sched_stats *out);
/* Hart context, `self` the current, entered scheduler (not the base):
 * should this hart give the parent a turn before `self` runs more of its
 * own work (the "one turn for the parent after a context yield" rule of
 * the fork-join scheduler and the pthreads adapter)? True when the
 * parent's subtree outside `self` wants more harts than it holds (its
 * demand there is parent.requested - self.requested: both are "subtree
 * demand minus the entry hart", and self's entry hart is one of the
 * parent's subtree; its harts there parent.subtree_harts -
 * self.subtree_harts) and the parent would grant the hart back afterwards
 * (without it, `self` still counts for it: subtree_harts - 1 <=
 * requested). A scheduler whose request sum no longer covers this hart
 * keeps it instead, or the context that yielded would wait for a hart
 * nobody grants. Racy snapshots: a heuristic. Inline, with the relaxed
 * loads lithe_sched_stats makes: it runs on every context yield. */
static inline bool lithe_sched_parent_turn(const lithe_sched_t *self) {
    int64_t req = __atomic_load_n(&self->requested, __ATOMIC_RELAXED);
    int64_t held = __atomic_load_n(&self->subtree_harts, __ATOMIC_RELAXED);
    const lithe_sched_t *p = self->parent;
    if (held - 1 > req) return false;
    return __atomic_load_n(&p->requested, __ATOMIC_RELAXED) - req >
           __atomic_load_n(&p->subtree_harts, __ATOMIC_RELAXED) - held;
}

/* --- contexts --- */
int lithe_context_init(lithe_context_t *ctx, void (*fn)(void *), void *arg);
int lithe_context_init_attr(lithe_context_t *ctx, void (*fn)(void *),
                            void *arg, const struct lithe_context_attr *a);
int lithe_context_recycle(lithe_context_t *ctx, void (*fn)(void *),
                          void *arg);
int lithe_context_reassociate(lithe_context_t *ctx, lithe_sched_t *sched);
int lithe_context_cleanup(lithe_context_t *ctx);
/* Never returns on success. */
int lithe_context_run(lithe_context_t *ctx);
lithe_context_t *lithe_context_self(void);
int lithe_context_block(void (*fn)(lithe_context_t *, void *), void *arg);
int lithe_context_unblock(lithe_context_t *ctx);
int lithe_context_yield(void);
/* Direct hand-off (an addition to Table 3.1): the calling context yields as
 * with lithe_context_yield (its scheduler's context_yield callback runs in
 * hart context, after the caller is saved), then `next` runs on this hart,
 * as if the scheduler's hart_enter had called lithe_context_run(next), with
 * one switch instead of two (parlib's uthread_yield_to: the callback runs
 * on next's stack, with next's TLS when it has its own). For a scheduler
 * that knows the next context in the yielding one: `next` must be a READY
 * context of the caller's scheduler that the scheduler has taken out of its
 * queues. Context only. Returns LITHE_OK once the caller runs again, or
 * LITHE_EWRONGCONTEXT / EINVAL / ENOTCURRENT (other scheduler) / ERUNNING
 * (running, or the caller) / ESTATE (exited or cleaned up). */
int lithe_context_yield_to(lithe_context_t *next);
/* Never returns when called from a context. */
int lithe_context_exit(void);

/* --- misuse policy --- */
enum lithe_misuse_policy { LITHE_MISUSE_ABORT = 0, LITHE_MISUSE_RETURN = 1 };
void lithe_set_misuse_policy(enum lithe_misuse_policy p);

#ifdef __cplusplus
}
#endif
#endif
