/* omp_cancel.c: cancel and cancellation points, run with
 * OMP_CANCELLATION=true (CTest sets it). cancel parallel releases members
 * waiting at a barrier and ends the region; cancel for stops the loop but
 * not the region, and the next loop is not cancelled; cancel sections;
 * cancel taskgroup discards the group's tasks not yet started, and tasks
 * created in it afterwards, but not tasks of other groups. */
#include <omp.h>

#include "check.h"

#define T 4

int main(void) {
    CHECK(omp_get_cancellation() == 1);

    /* parallel: member 0 cancels; the others wait at the barrier (it
     * cannot complete without member 0) and must be released. */
    int after = 0, entered = 0;
#pragma omp parallel num_threads(T)
    {
#pragma omp atomic
        entered++;
        if (omp_get_thread_num() == 0) {
#pragma omp cancel parallel
        }
#pragma omp barrier
#pragma omp atomic
        after++;
    }
    CHECK(entered == T && after == 0);

    /* for: iterations stop soon after the cancel (iterations claimed
     * earlier may be skipped too, if their member reaches the
     * cancellation point after it); the region goes on and a second loop
     * in it runs completely. */
    int iters = 0, second = 0, past = 0, tenth = 0;
#pragma omp parallel num_threads(T)
    {
#pragma omp for schedule(dynamic, 1)
        for (int i = 0; i < 100000; ++i) {
#pragma omp cancellation point for
#pragma omp atomic
            iters++;
            if (i == 10) {
                tenth = 1;
#pragma omp cancel for
            }
        }
#pragma omp atomic
        past++;
#pragma omp for schedule(dynamic, 1)
        for (int i = 0; i < 1000; ++i) {
#pragma omp cancellation point for
#pragma omp atomic
            second++;
        }
    }
    if (iters >= 100000) fprintf(stderr, "cancel for: all %d iterations ran\n", iters);
    CHECK(tenth == 1 && iters >= 1 && iters < 100000);
    CHECK(past == T && second == 1000);

    /* sections */
    int s1 = 0, s2_after = 0, done = 0;
#pragma omp parallel num_threads(2)
    {
#pragma omp sections
        {
#pragma omp section
            {
                s1 = 1;
#pragma omp cancel sections
                s2_after = 1; /* never reached */
            }
#pragma omp section
            {
#pragma omp cancellation point sections
            }
        }
#pragma omp atomic
        done++;
    }
    CHECK(s1 == 1 && s2_after == 0 && done == 2);

    /* taskgroup */
    int ran = 0, other = 0, canceller_ran = 0;
#pragma omp parallel num_threads(T)
#pragma omp single
    {
#pragma omp taskgroup
        {
#pragma omp task shared(canceller_ran)
            {
                canceller_ran = 1;
#pragma omp cancel taskgroup
            }
#pragma omp taskwait
            for (int i = 0; i < 100; ++i) {
#pragma omp task shared(ran)
                {
#pragma omp atomic
                    ran++;
                }
            }
        }
#pragma omp taskgroup
        {
            for (int i = 0; i < 100; ++i) {
#pragma omp task shared(other)
                {
#pragma omp atomic
                    other++;
                }
            }
        }
    }
    CHECK(canceller_ran == 1 && ran == 0 && other == 100);

    /* Regions after a cancelled one are not cancelled. */
    int fresh = 0;
#pragma omp parallel num_threads(T)
    {
#pragma omp barrier
#pragma omp atomic
        fresh++;
    }
    CHECK(fresh == T);
    return 0;
}
