/* omp_ordered.c: ordered loops. With every schedule the ordered regions
 * run in iteration order (each appends its index; the log must be sorted
 * and complete), also when only some iterations reach an ordered region,
 * and with unsigned long long induction variables. */
#include <omp.h>

#include "check.h"

#define N 300
static int log_[N], nlog;
static volatile int sink; /* uneven per-iteration work */

static void check_log(int step) {
    CHECK(nlog == (N + step - 1) / step);
    for (int k = 0; k < nlog; ++k) CHECK(log_[k] == k * step);
}

#define ORDERED_TEST(SCHED, STEP)                                        \
    do {                                                                 \
        nlog = 0;                                                        \
        _Pragma("omp parallel num_threads(4)")                           \
        {                                                                \
            _Pragma(SCHED) for (int i = 0; i < N; ++i) {                 \
                for (int k = 0; k < (i * 37) % 200; ++k) sink += k;      \
                if (i % (STEP) == 0) {                                   \
                    _Pragma("omp ordered") log_[nlog++] = i;             \
                }                                                        \
            }                                                            \
        }                                                                \
        check_log(STEP);                                                 \
    } while (0)

int main(void) {
    ORDERED_TEST("omp for ordered schedule(static)", 1);
    ORDERED_TEST("omp for ordered schedule(static, 1)", 1);
    ORDERED_TEST("omp for ordered schedule(static, 7)", 3);
    ORDERED_TEST("omp for ordered schedule(dynamic)", 1);
    ORDERED_TEST("omp for ordered schedule(dynamic, 5)", 4);
    ORDERED_TEST("omp for ordered schedule(guided)", 1);
    ORDERED_TEST("omp for ordered schedule(runtime)", 2);
    ORDERED_TEST("omp for ordered schedule(auto)", 1);

    nlog = 0;
#pragma omp parallel for ordered schedule(dynamic, 3) num_threads(3)
    for (unsigned long long u = 0; u < N; ++u) {
#pragma omp ordered
        log_[nlog++] = (int)u;
    }
    check_log(1);
    printf("omp_ordered: ok\n");
    return 0;
}
