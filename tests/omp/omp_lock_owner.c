/* omp_lock_owner.c: nest locks are owned by tasks (OpenMP 3.0 on), not by
 * the thread running them (libgomp.c/lock-1.c). The implicit task of a
 * `parallel if(0)` region and an undeferred explicit task do not own a
 * lock their encountering task holds: omp_test_nest_lock returns 0 there,
 * and the owner's count is unchanged. libomp ties nest locks to threads,
 * so those checks run only on libgomp (gcc) and lithe. */
#include <omp.h>

#include "check.h"

int main(void) {
#ifdef __clang__
    int task_owned = under_lithe();
#else
    int task_owned = 1;
#endif
    omp_nest_lock_t lock;
    omp_init_nest_lock(&lock);
    CHECK(omp_test_nest_lock(&lock) == 1);
    CHECK(omp_test_nest_lock(&lock) == 2);
    int in_region = -1, in_task = -1;
#pragma omp parallel if (0) shared(in_region)
    in_region = omp_test_nest_lock(&lock);
#pragma omp task if (0) shared(in_task)
    in_task = omp_test_nest_lock(&lock);
    if (task_owned) {
        CHECK(in_region == 0);
        CHECK(in_task == 0);
        CHECK(omp_test_nest_lock(&lock) == 3);
    } else {
        /* thread-owned: both nested in the same thread */
        CHECK(in_region == 3);
        CHECK(in_task == 4);
        omp_unset_nest_lock(&lock);
        omp_unset_nest_lock(&lock);
        CHECK(omp_test_nest_lock(&lock) == 3);
    }
    omp_unset_nest_lock(&lock);
    omp_unset_nest_lock(&lock);
    omp_unset_nest_lock(&lock);
    /* a lock held by one task, released, is free for a task elsewhere */
    int got = 0;
#pragma omp parallel num_threads(4) shared(got)
    {
        omp_set_nest_lock(&lock);
        omp_set_nest_lock(&lock);
#pragma omp atomic
        got++;
        omp_unset_nest_lock(&lock);
        omp_unset_nest_lock(&lock);
    }
    CHECK(got == 4 || got == omp_get_max_threads());
    omp_destroy_nest_lock(&lock);
    puts("omp_lock_owner: ok");
    return 0;
}
