/* lithe/tbb.h: what the TBB adapter (liblithe_tbb) reports to programs.
 *
 * Linking liblithe_tbb (or LD_PRELOADing it) makes oneTBB run its worker
 * threads as lithe contexts: TBB finds our RML server at its first
 * scheduler initialisation (docs/tbb.md). These calls tell whether that
 * happened. All are callable anywhere, at any time (counters are atomics,
 * read without synchronisation: a snapshot).
 *
 * Setting LITHE_TBB_REPORT=1 in the environment prints the same information
 * to stderr when the process exits.
 */
#ifndef LITHE_TBB_H
#define LITHE_TBB_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct lithe_tbb_stats {
    uint64_t servers;        /* RML servers TBB made on lithe (1 per
                                TBB start; tbb::finalize ends one) */
    uint64_t servers_closed; /* ... of which TBB closed again */
    uint64_t jobs;           /* TBB worker jobs = worker contexts made */
    uint64_t process_calls;  /* times a worker context ran TBB work */
    uint64_t peak_workers;   /* most worker contexts inside TBB at once */
    uint64_t spin_rests;     /* times a worker that yielded (a spin-wait)
                                with nothing else wanting its hart gave
                                the hart up for a short rest instead of
                                spinning on (docs/tbb.md) */
    uint64_t rests_cut;      /* ... of those rests, ended early because
                                TBB asked for more workers */
    uint64_t hart_time_ns;   /* time the TBB scheduler (the workers' lithe
                                scheduler) held harts, summed over harts
                                (lithe_sched_stats of it; 0 before TBB's
                                first use) */
    int refused;             /* nonzero: TBB's version was refused and TBB
                                uses its private thread pool */
    int foreign_start;       /* nonzero: TBB started on a thread that is not
                                a lithe context and uses its private pool */
};

/* Nonzero once TBB has made an RML server on lithe, i.e. its workers are
 * (or were) lithe contexts, not TBB's private threads. */
int lithe_tbb_active(void);
void lithe_tbb_get_stats(struct lithe_tbb_stats *out);

#ifdef __cplusplus
}
#endif
#endif
