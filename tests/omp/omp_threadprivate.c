/* omp_threadprivate.c: threadprivate variables (clang builds this with
 * -fnoopenmp-use-tls, so it calls __kmpc_threadprivate_cached; gcc uses
 * native TLS). Checks: each member has its own copy, initialised from the
 * original's initial value; a member's copy persists across regions of
 * the same size; the master's copy is the original; copyin broadcasts the
 * master's values; many rounds from a changing set of harts. */
#include <omp.h>
#include <stdint.h>

#include "check.h"

#define N 4
int tp = 5;
double arr[3] = {1.5, 2.5, 3.5};
#pragma omp threadprivate(tp, arr)

int main(void) {
    omp_set_dynamic(0);
    int *addr[N];
    /* Copies start from the static initialiser. */
#pragma omp parallel num_threads(N)
    {
        int id = omp_get_thread_num();
        CHECK(tp == 5 && arr[0] == 1.5 && arr[2] == 3.5);
        addr[id] = &tp;
        tp = 100 + id;
        arr[1] = id;
    }
    for (int i = 0; i < N; ++i)
        for (int j = 0; j < i; ++j) CHECK(addr[i] != addr[j]);
    CHECK(addr[0] == &tp);  /* the master works on the original */
    CHECK(tp == 100 && arr[1] == 0.0);
    for (int round = 0; round < 200; ++round) {
        int bad = 0;
#pragma omp parallel num_threads(N) reduction(+ : bad)
        {
            int id = omp_get_thread_num();
            /* Persistence: the value this member number left last time. */
            if (tp != 100 + id + round || arr[1] != id + round) ++bad;
            if (&tp != addr[id]) ++bad;
#pragma omp barrier
            tp = 100 + id + round + 1;
            arr[1] = id + round + 1;
        }
        CHECK(bad == 0);
    }
    /* copyin: every member starts with the master's values. */
    for (int round = 0; round < 100; ++round) {
        tp = 42 + round;
        arr[0] = round;
        int bad = 0;
#pragma omp parallel num_threads(N) copyin(tp, arr) reduction(+ : bad)
        {
            if (tp != 42 + round || arr[0] != round) ++bad;
            tp += omp_get_thread_num();
        }
        CHECK(bad == 0);
        CHECK(tp == 42 + round);
    }
    return 0;
}
