// beside_sibling.hpp: the harness omp_team_start.cpp and
// omp_short_regions.cpp share. The test's regions run in one context of a
// fork-join scheduler entered by main, next to a sibling context of the
// same scheduler that keeps asking for harts (2 µs steps, yielding between
// them) until the regions are done and it has taken 1000 steps: region
// accounting must come back to where it was with a sibling's demand
// outstanding, and the sibling must get harts while regions run back to
// back. Header-only: each test is one translation unit.
#pragma once

#include <lithe/fork_join.h>
#include <time.h>

#include <atomic>

#include "check.h"

namespace beside_sibling {

inline lithe_fj_sched_t *fj;  // the scheduler main entered
// Raised once both contexts exist: the regions' reference counts must
// include the sibling (and main, blocked in join_all).
inline std::atomic<bool> sibling_created{false};
inline std::atomic<bool> regions_done{false};  // the regions raise it
inline std::atomic<long> sibling_steps{0};

inline void spin_us(long us) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do clock_gettime(CLOCK_MONOTONIC, &b);
    while ((b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000 <
           us);
}

inline void sibling(void *) {
    while (!regions_done.load() || sibling_steps.load() < 1000) {
        spin_us(2);
        sibling_steps++;
        lithe_context_yield();
    }
}

// From main: runs `regions` beside the sibling and returns once both have
// finished and the scheduler has been exited and destroyed.
inline void run(void (*regions)(void *)) {
    fj = lithe_fj_sched_create();
    CHECK(lithe_sched_enter(&fj->sched) == LITHE_OK);
    lithe_fj_context_create(fj, 0, regions, nullptr);
    lithe_fj_context_create(fj, 0, sibling, nullptr);
    sibling_created = true;
    lithe_fj_sched_join_all(fj);
    CHECK(lithe_sched_exit() == LITHE_OK);
    lithe_fj_sched_destroy(fj);
    CHECK(sibling_steps.load() >= 1000);
}

}  // namespace beside_sibling
