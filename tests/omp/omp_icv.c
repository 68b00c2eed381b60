/* omp_icv.c: ICVs from the environment (CTest sets OMP_NUM_THREADS=3,2
 * OMP_SCHEDULE=dynamic,5 OMP_THREAD_LIMIT=64 OMP_DYNAMIC=false) and the
 * setters: nested nthreads lists, nesting enabled by the list,
 * run-sched-var, thread-limit, set/get_schedule, set/get_dynamic; ICVs
 * belong to the task: a setter in an undeferred or deferred task changes
 * neither its creator's value nor another task's. */
#include <omp.h>

#include "check.h"

int main(void) {
    CHECK(omp_get_max_threads() == 3);
    CHECK(omp_get_max_active_levels() > 1);  /* a list enables nesting */
    CHECK(omp_get_thread_limit() == 64);
    CHECK(!omp_get_dynamic());
    omp_sched_t k;
    int chunk;
    omp_get_schedule(&k, &chunk);
    CHECK((k & ~omp_sched_monotonic) == omp_sched_dynamic && chunk == 5);

    int outer = 0, inner_bad = 0;
#pragma omp parallel reduction(+ : inner_bad)
    {
#pragma omp single
        outer = omp_get_num_threads();
        inner_bad += omp_get_max_threads() != 2;
#pragma omp parallel reduction(+ : inner_bad)
        inner_bad += omp_get_num_threads() != 2;
    }
    CHECK(outer == 3 && inner_bad == 0);

    omp_set_schedule(omp_sched_guided, 7);
    omp_get_schedule(&k, &chunk);
    CHECK((k & ~omp_sched_monotonic) == omp_sched_guided && chunk == 7);
    omp_set_dynamic(1);
    CHECK(omp_get_dynamic());
    omp_set_dynamic(0); /* dyn-var may shrink teams: keep sizes exact */
    omp_set_max_active_levels(1);
    int nested = 0;
#pragma omp parallel num_threads(2)
#pragma omp parallel num_threads(2)
#pragma omp atomic
    nested += omp_get_num_threads();
    CHECK(nested == 2);

    /* Per-task ICVs (libgomp icv-1.c, and the deferred case). */
    omp_set_num_threads(4);
    int task_bad = 0;
#pragma omp parallel num_threads(2) reduction(| : task_bad)
    {
        /* nthreads-var here is 2, from the OMP_NUM_THREADS list */
        if (omp_get_max_threads() != 2) task_bad |= 1;
        omp_set_num_threads(6 + omp_get_thread_num());
#pragma omp task if (0) shared(task_bad)
        {
            if (omp_get_max_threads() != 6 + omp_get_thread_num()) task_bad |= 2;
            omp_set_num_threads(5);
            if (omp_get_max_threads() != 5) task_bad |= 4;
        }
        if (omp_get_max_threads() != 6 + omp_get_thread_num()) task_bad |= 8;
        int creator = 6 + omp_get_thread_num(), seen = -1;
#pragma omp task shared(seen)
        {
            seen = omp_get_max_threads();
            omp_set_num_threads(9);
        }
#pragma omp taskwait
        if (seen != creator) task_bad |= 16;
        if (omp_get_max_threads() != creator) task_bad |= 32;
    }
    if (task_bad) printf("omp_icv: per-task ICV failures 0x%x\n", task_bad);
    CHECK(task_bad == 0);
    CHECK(omp_get_max_threads() == 4);
    printf("omp_icv: ok\n");
    return 0;
}
