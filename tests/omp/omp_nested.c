/* omp_nested.c: composition. A 4-member region whose members each open a
 * nested 4-member region: every inner team has the right shape and the
 * right result, and (under lithe) all 4 + 4*3 members ran on no more
 * distinct kernel threads than there are harts (each member records the
 * kernel thread it computes on), so nesting never oversubscribes. */
#include <omp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "check.h"

static long work(int seed) {
    volatile long x = 0;
    for (int i = 0; i < 20000; ++i) x += (seed + i) % 7;
    return x;
}

int main(void) {
    omp_set_max_active_levels(2);
    CHECK(omp_get_max_active_levels() == 2);
    int harts = omp_get_num_procs();
    long total = 0, expect = 0;
    int shape_bad = 0, ntids = 0;
    long tids[4 * 4 * 5 * 2];
    for (int o = 0; o < 4; ++o)
        for (int i = 0; i < 4; ++i) expect += work(o * 4 + i);
    for (int rep = 0; rep < 5; ++rep) {
        total = 0;
#pragma omp parallel num_threads(4) reduction(+ : total, shape_bad)
        {
            int o = omp_get_thread_num();
#pragma omp parallel num_threads(4) reduction(+ : total, shape_bad)
            {
                shape_bad += omp_get_level() != 2 ||
                             omp_get_active_level() != 2 ||
                             omp_get_num_threads() != 4 ||
                             omp_get_ancestor_thread_num(1) != o ||
                             omp_get_team_size(1) != 4;
                long a = syscall(SYS_gettid);
                total += work(o * 4 + omp_get_thread_num());
                long b = syscall(SYS_gettid);
#pragma omp critical
                {
                    tids[ntids++] = a;
                    tids[ntids++] = b;
                }
            }
        }
        CHECK(shape_bad == 0);
        CHECK(total == expect);
    }
    /* Beyond max-active-levels a region is serialized. */
    int inner = 0;
#pragma omp parallel num_threads(2)
#pragma omp parallel num_threads(2)
#pragma omp parallel num_threads(2)
    {
#pragma omp atomic
        inner += omp_get_num_threads();
    }
    CHECK(inner == 4);
    int distinct = 0;
    for (int i = 0; i < ntids; ++i) {
        int seen = 0;
        for (int j = 0; j < i; ++j) seen |= tids[j] == tids[i];
        distinct += !seen;
    }
    if (under_lithe()) CHECK(distinct <= harts);
    printf("omp_nested: ok (members ran on %d kernel threads, %d harts)\n",
           distinct, harts);
    return 0;
}
