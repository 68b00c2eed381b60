/* omp_doacross.c: ordered(n) loops with depend(sink)/depend(source).
 * A 1-D recurrence must see its predecessor's value, in iteration order;
 * a 2-D wavefront must compute the serial result; with every schedule,
 * negative steps, unsigned long long, and more doacross loops (nowait) than the runtime keeps
 * slots for; 8 members, so that with one hart waits must block. */
#include <omp.h>

#include "check.h"

#define T 8
#define N 40
#define M 12

int main(void) {
    static long a[N], w[M][M], ref[M][M];
    static unsigned long long u[N];
    /* Not a constant: gcc uses its unsigned long long entry points. */
    volatile unsigned long long ubase_v = 5000000000ull;
    unsigned long long ubase = ubase_v;
    int order[N], pos = 0;
    for (int i = 0; i < M; ++i)
        for (int j = 0; j < M; ++j)
            ref[i][j] = (i == 0 || j == 0) ? 1 : (ref[i - 1][j] + ref[i][j - 1]) % 1000003;

#pragma omp parallel num_threads(T)
    {
        for (int r = 0; r < 3; ++r) {
#pragma omp single
            {
                a[0] = 1;
                pos = 0;
            }
#pragma omp for ordered(1) schedule(static, 1)
            for (int i = 1; i < N; ++i) {
#pragma omp ordered depend(sink : i - 1)
                a[i] = a[i - 1] + 1;
                order[pos++] = i;
#pragma omp ordered depend(source)
            }
#pragma omp single
            {
                for (int i = 0; i < N; ++i) CHECK(a[i] == i + 1);
                for (int i = 1; i < N; ++i) CHECK(order[i - 1] == i);
            }
        }
#pragma omp for ordered(1) schedule(dynamic, 3)
        for (int i = N - 2; i >= 0; --i) {
#pragma omp ordered depend(sink : i + 1)
            a[i] = a[i + 1] * 2 % 1000003;
#pragma omp ordered depend(source)
        }
#pragma omp for ordered(2) schedule(guided)
        for (int i = 0; i < M; ++i)
            for (int j = 0; j < M; ++j) {
#pragma omp ordered depend(sink : i - 1, j) depend(sink : i, j - 1)
                w[i][j] = (i == 0 || j == 0) ? 1 : (w[i - 1][j] + w[i][j - 1]) % 1000003;
#pragma omp ordered depend(source)
            }
        /* unsigned long long induction variable */
#pragma omp for ordered(1) schedule(dynamic, 2)
        for (unsigned long long i = ubase; i < ubase + N; ++i) {
            unsigned long long k = i - ubase;
#pragma omp ordered depend(sink : i - 1)
            u[k] = k == 0 ? 7 : u[k - 1] + 3;
#pragma omp ordered depend(source)
        }
        /* More doacross loops than slots, nowait. */
        for (int r = 0; r < 5; ++r) {
#pragma omp for ordered(1) schedule(dynamic) nowait
            for (int i = 0; i < 20; ++i) {
#pragma omp ordered depend(sink : i - 1)
#pragma omp ordered depend(source)
            }
        }
    }
    long expect = a[N - 1];
    for (int i = N - 2; i >= 0; --i) {
        expect = expect * 2 % 1000003;
        CHECK(a[i] == expect);
    }
    for (int i = 0; i < M; ++i)
        for (int j = 0; j < M; ++j) CHECK(w[i][j] == ref[i][j]);
    for (int k = 0; k < N; ++k) CHECK(u[k] == 7 + 3ull * k);
    return 0;
}
