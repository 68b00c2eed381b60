/* omp_spin_release.c: members released by a barrier run before the member
 * that released them, when the team has more members than harts
 * (barrier.cpp; docs/omp.md "Conformance", kmp_sch_simd_guided.c).
 *
 * The pattern of LLVM's kmp_sch_simd_guided.c: each round the master sets
 * a flag while the workers wait for it in user code, first spinning a
 * bounded number of iterations, then polling with usleep; two barriers
 * end the round (the master clears the flag between them). If the last
 * member to reach a barrier keeps its hart, a worker that released the
 * team spins out its whole bound (about a millisecond) before the
 * master, waiting in the run queue, sets the flag: every round then
 * costs a spin. With released members first, the master sets the flag
 * before a worker has spun long. Checked on lithe-omp on one hart
 * (PARLIB_VCORES=1, the .vc1 tests), where the run queue's order alone
 * decides: workers may spin out their bound fewer than ROUNDS / 2 times
 * in all (before the change: more than once per round). With more harts
 * the kernel's scheduling of the vcores (a master on a vcore the host
 * has descheduled) also decides, so the default run and the stock
 * runtimes only run it for the result. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

#define ROUNDS 300
#define SPIN 1000000

static volatile int flag;

int main(void) {
    for (int team = 3; team <= 4; ++team) {
        int spun_out = 0, rounds_seen = 0;
#pragma omp parallel num_threads(team) reduction(+ : spun_out)
        for (int r = 0; r < ROUNDS; ++r) {
            if (omp_get_thread_num() == 0) {
                flag = 1;
                ++rounds_seen;
            } else {
                int i = 0;
                while (i < SPIN && !flag) ++i;
                if (i == SPIN) ++spun_out;
                while (!flag) usleep(10);
            }
#pragma omp barrier
            if (omp_get_thread_num() == 0) flag = 0;
#pragma omp barrier
        }
        CHECK(rounds_seen == ROUNDS);
        const char *vc = getenv("PARLIB_VCORES");
        if (under_lithe() && vc && strcmp(vc, "1") == 0) {
            if (spun_out * 2 >= ROUNDS)
                fprintf(stderr, "team %d: %d worker spin-outs in %d rounds\n",
                        team, spun_out, ROUNDS);
            CHECK(spun_out * 2 < ROUNDS);
        }
    }
    return 0;
}
