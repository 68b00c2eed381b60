/* lithe/fork_join.h: the reusable fork-join scheduler (thesis §3.3) that
 * the OpenMP, TBB and pthreads ports build on.
 *
 * Usage, from a lithe context:
 *     lithe_fj_sched_t *s = lithe_fj_sched_create();
 *     lithe_sched_enter(&s->sched);
 *     for (...) lithe_fj_context_create(s, 0, fn, arg);
 *     lithe_fj_sched_join_all(s);
 *     lithe_sched_exit();
 *     lithe_fj_sched_destroy(s);
 *
 * Policy: per-hart run queues (a context made runnable on hart h goes to
 * h's queue; idle harts steal the oldest context of a random victim);
 * incoming harts serve children first, round-robin, granting while a child
 * holds no more harts than it has requested; the scheduler counts +1 per
 * context made runnable and -1 per context that blocks or exits (see
 * docs/writing-a-scheduler.md, "Request accounting") and forwards its
 * children's requests to its parent, so demand reaches the root. Finished
 * contexts and destroyed schedulers go to process-wide free lists: a
 * recycled context keeps its TLS, like a pooled worker thread.
 *
 * Customising: copy lithe_fj_sched_funcs, override callbacks (calling the
 * exported defaults from the overrides if useful) and pass the table to
 * lithe_fj_sched_create_funcs. A runtime may embed or extend the scheduler
 * by keeping its own data in `user`.
 */
#ifndef LITHE_FORK_JOIN_H
#define LITHE_FORK_JOIN_H

#include <lithe/lithe.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lithe_fj_sched lithe_fj_sched_t;
typedef struct lithe_fj_context lithe_fj_context_t;

struct lithe_fj_sched {
    lithe_sched_t sched;          /* first: lithe hands out this pointer */
    lithe_context_t main;         /* storage for the promoted caller */
    struct lithe_sched_funcs funcs;
    void *user;                   /* free for the runtime */
    void *impl;                   /* the scheduler's private state */
};

struct lithe_fj_context {
    lithe_context_t ctx;          /* first */
    lithe_fj_sched_t *sched;
    void (*fn)(void *);
    void *arg;
    void *impl;                   /* private */
};

extern const struct lithe_sched_funcs lithe_fj_sched_funcs;

lithe_fj_sched_t *lithe_fj_sched_create(void);
lithe_fj_sched_t *lithe_fj_sched_create_funcs(const struct lithe_sched_funcs *f);
/* The scheduler must have exited (or never been entered); destroying one
 * whose lithe_sched_exit has not completed, or destroying one twice,
 * aborts with a message naming this call. */
void lithe_fj_sched_destroy(lithe_fj_sched_t *s);

/* Creates a context running fn(arg) under `s` and makes it runnable.
 * stack_size 0 = default. Callable from any context or hart of `s`. */
lithe_fj_context_t *lithe_fj_context_create(lithe_fj_sched_t *s,
                                            size_t stack_size,
                                            void (*fn)(void *), void *arg);
/* Waits (blocking the caller, a context of `s`) until `c` finished, then
 * releases it. Each context is joined once: by this or by join_all. */
void lithe_fj_context_join(lithe_fj_context_t *c);
/* Waits until every context of `s` not yet joined has finished, releases
 * them. Called from the scheduler's main context. */
void lithe_fj_sched_join_all(lithe_fj_sched_t *s);

/* The default callbacks, for overrides to call. */
void lithe_fj_hart_request(lithe_sched_t *, lithe_sched_t *child, int d);
void lithe_fj_child_enter(lithe_sched_t *, lithe_sched_t *child);
void lithe_fj_child_exit(lithe_sched_t *, lithe_sched_t *child);
void lithe_fj_hart_return(lithe_sched_t *, lithe_sched_t *child);
void lithe_fj_hart_enter(lithe_sched_t *);
void lithe_fj_sched_enter(lithe_sched_t *);
void lithe_fj_sched_exit(lithe_sched_t *);
void lithe_fj_context_block(lithe_sched_t *, lithe_context_t *);
void lithe_fj_context_unblock(lithe_sched_t *, lithe_context_t *);
void lithe_fj_context_yield(lithe_sched_t *, lithe_context_t *);
void lithe_fj_context_exit(lithe_sched_t *, lithe_context_t *);
/* Makes a context of `s` runnable (enqueue on this hart + request). */
void lithe_fj_enqueue(lithe_fj_sched_t *s, lithe_context_t *c);

#ifdef __cplusplus
}
#endif
#endif
