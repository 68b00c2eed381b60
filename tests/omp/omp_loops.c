/* omp_loops.c: worksharing loops with every schedule (static, static
 * chunked, dynamic, guided, runtime, auto), int / unsigned / long long /
 * unsigned long long induction variables, negative steps, nowait loops
 * back to back, combined parallel-for, sections. Each iteration must run
 * exactly once. */
#include <omp.h>

#include "check.h"

#define N 1000
static int hits[N];

static void reset(void) { memset(hits, 0, sizeof hits); }
static void all_once(void) {
    for (int i = 0; i < N; ++i) CHECK(hits[i] == 1);
}

#define LOOP_TEST(SCHED)                                                 \
    do {                                                                 \
        reset();                                                         \
        _Pragma("omp parallel num_threads(4)")                           \
        {                                                                \
            _Pragma(SCHED) for (int i = 0; i < N; ++i) {                 \
                _Pragma("omp atomic") hits[i]++;                         \
            }                                                            \
        }                                                                \
        all_once();                                                      \
    } while (0)

int main(void) {
    LOOP_TEST("omp for schedule(static)");
    LOOP_TEST("omp for schedule(static, 7)");
    LOOP_TEST("omp for schedule(dynamic)");
    LOOP_TEST("omp for schedule(dynamic, 13)");
    LOOP_TEST("omp for schedule(guided)");
    LOOP_TEST("omp for schedule(guided, 5)");
    LOOP_TEST("omp for schedule(runtime)");
    LOOP_TEST("omp for schedule(auto)");
    LOOP_TEST("omp for schedule(nonmonotonic: dynamic, 3)");

    omp_set_schedule(omp_sched_dynamic, 4);
    LOOP_TEST("omp for schedule(runtime)");
    omp_set_schedule(omp_sched_guided, 2);
    LOOP_TEST("omp for schedule(runtime)");

    /* Negative step, unsigned, 64-bit. */
    reset();
#pragma omp parallel for schedule(dynamic, 9) num_threads(3)
    for (int i = N - 1; i >= 0; i -= 1) {
#pragma omp atomic
        hits[i]++;
    }
    all_once();
    reset();
#pragma omp parallel for schedule(static, 4) num_threads(3)
    for (unsigned u = 0; u < N; ++u) {
#pragma omp atomic
        hits[u]++;
    }
    all_once();
    reset();
#pragma omp parallel for schedule(guided) num_threads(3)
    for (long long k = 2LL * N - 2; k >= 0; k -= 2) {
#pragma omp atomic
        hits[k / 2]++;
    }
    all_once();
    reset();
#pragma omp parallel for schedule(dynamic) num_threads(3)
    for (unsigned long long k = 0; k < N; ++k) {
#pragma omp atomic
        hits[k]++;
    }
    all_once();
    reset();
#pragma omp parallel for num_threads(3)
    for (unsigned long long k = 0; k < N; ++k) {
#pragma omp atomic
        hits[k]++;
    }
    all_once();

    /* nowait loops back to back (more than the dispatcher's slots). */
    int a[N] = {0};
#pragma omp parallel num_threads(4)
    {
        for (int rep = 0; rep < 10; ++rep) {
#pragma omp for schedule(dynamic, 7) nowait
            for (int i = 0; i < N; ++i) {
#pragma omp atomic
                a[i]++;
            }
        }
    }
    for (int i = 0; i < N; ++i) CHECK(a[i] == 10);

    /* Reduction over a dynamic loop; empty loops. */
    long sum = 0;
#pragma omp parallel for schedule(dynamic, 16) reduction(+ : sum) num_threads(4)
    for (int i = 1; i <= N; ++i) sum += i;
    CHECK(sum == (long)N * (N + 1) / 2);
    int ran = 0;
#pragma omp parallel for schedule(dynamic) num_threads(4)
    for (int i = 5; i < 5; ++i) ran = 1;
#pragma omp parallel for num_threads(4)
    for (int i = 5; i < 2; ++i) ran = 1;
    CHECK(!ran);

    /* Sections. */
    int s1 = 0, s2 = 0, s3 = 0;
#pragma omp parallel sections num_threads(2)
    {
#pragma omp section
        s1++;
#pragma omp section
        s2++;
#pragma omp section
        s3++;
    }
    CHECK(s1 == 1 && s2 == 1 && s3 == 1);
    int cnt[3] = {0};
#pragma omp parallel num_threads(3)
    {
#pragma omp sections
        {
#pragma omp section
            cnt[0]++;
#pragma omp section
            cnt[1]++;
#pragma omp section
            cnt[2]++;
        }
    }
    CHECK(cnt[0] == 1 && cnt[1] == 1 && cnt[2] == 1);
    printf("omp_loops: ok\n");
    return 0;
}
