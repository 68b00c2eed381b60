/* omp_parallel.c: parallel regions: team sizes, thread numbers, the
 * num_threads clause, omp_set_num_threads, if(0) regions, levels,
 * threadprivate (native TLS per member), and hot teams (under lithe, the
 * process's kernel-thread count does not grow across repeated regions). */
#include <omp.h>

#include "check.h"

static int tp = -1;
#pragma omp threadprivate(tp)

int main(void) {
    CHECK(omp_get_num_threads() == 1);
    CHECK(omp_get_thread_num() == 0);
    CHECK(!omp_in_parallel());
    CHECK(omp_get_level() == 0);

    int seen[8] = {0}, nthr = 0;
#pragma omp parallel num_threads(8)
    {
#pragma omp atomic
        seen[omp_get_thread_num()]++;
        if (omp_get_thread_num() == 0) nthr = omp_get_num_threads();
        CHECK(omp_in_parallel());
        CHECK(omp_get_level() == 1 && omp_get_active_level() == 1);
        CHECK(omp_get_ancestor_thread_num(1) == omp_get_thread_num());
        CHECK(omp_get_ancestor_thread_num(0) == 0);
        CHECK(omp_get_team_size(1) == 8 && omp_get_team_size(0) == 1);
    }
    CHECK(nthr == 8);
    for (int i = 0; i < 8; ++i) CHECK(seen[i] == 1);

    omp_set_num_threads(3);
    CHECK(omp_get_max_threads() == 3);
#pragma omp parallel
    {
        CHECK(omp_get_num_threads() == 3);
    }

    int inif = -1;
#pragma omp parallel if (0)
    {
        inif = omp_get_num_threads();
        CHECK(omp_get_level() == 1 && omp_get_active_level() == 0);
    }
    CHECK(inif == 1);

    /* threadprivate: each member keeps its value in its own TLS across
     * regions of the same team size (hot team, no copyin). */
#pragma omp parallel num_threads(4)
    tp = omp_get_thread_num() * 10;
    int bad = 0;
#pragma omp parallel num_threads(4) reduction(+ : bad)
    bad += tp != omp_get_thread_num() * 10;
    CHECK(bad == 0);

    /* Many regions: results stay right; under lithe, workers are reused:
     * the kernel-thread count does not grow with the number of regions
     * (slack: parlib's TLS pool refills its spare backing threads
     * asynchronously). */
    int before = count_tasks(0);
    long total = 0;
    for (int r = 0; r < 200; ++r) {
#pragma omp parallel num_threads(4) reduction(+ : total)
        total += omp_get_thread_num() + 1;
    }
    CHECK(total == 200L * 10);
    int after = count_tasks(0);
    if (under_lithe()) CHECK(after <= before + 16);
    printf("omp_parallel: ok (tasks %d -> %d)\n", before, after);
    return 0;
}
