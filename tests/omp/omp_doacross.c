/* omp_doacross.c: ordered(n) loops with depend(sink)/depend(source).
 * A 1-D recurrence must see its predecessor's value, in iteration order;
 * a 2-D wavefront must compute the serial result; with every schedule,
 * negative steps, unsigned long long, and more doacross loops (nowait) than the runtime keeps
 * slots for; a 10-dimensional loop (gcc's testsuite goes to 60) and an
 * empty one (gcc then leaves the inner counts unset); 8 members, so that
 * with one hart waits must block. */
#include <omp.h>

#include "check.h"

#define T 8
#define N 40
#define M 12
#define D10 1024 /* 2^10 iterations of the 10-dimensional loop */

/* Serial value of the 10-D recurrence at flat index x (bits i0..i9, i0
 * most significant). */
static long ref10(const long *v, int x) {
    return 1 + ((x & 512) ? v[x - 512] : 0) + ((x & 1) ? 3 * v[x - 1] % 1000003 : 0);
}

int main(void) {
    static long a[N], w[M][M], ref[M][M];
    static unsigned long long u[N];
    /* Not a constant: gcc uses its unsigned long long entry points. */
    volatile unsigned long long ubase_v = 5000000000ull;
    unsigned long long ubase = ubase_v;
    int order[N], pos = 0;
    static long v10[D10], r10[D10];
    volatile int empty_v = 0;
    int empty = empty_v, empty_ran = 0;
    for (int x = 0; x < D10; ++x) r10[x] = ref10(r10, x);
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
        /* Ten ordered dimensions: sinks along the first and the last. */
#pragma omp for ordered(10) schedule(dynamic)
        for (int i0 = 0; i0 < 2; ++i0)
        for (int i1 = 0; i1 < 2; ++i1)
        for (int i2 = 0; i2 < 2; ++i2)
        for (int i3 = 0; i3 < 2; ++i3)
        for (int i4 = 0; i4 < 2; ++i4)
        for (int i5 = 0; i5 < 2; ++i5)
        for (int i6 = 0; i6 < 2; ++i6)
        for (int i7 = 0; i7 < 2; ++i7)
        for (int i8 = 0; i8 < 2; ++i8)
        for (int i9 = 0; i9 < 2; ++i9) {
            int x = i0 << 9 | i1 << 8 | i2 << 7 | i3 << 6 | i4 << 5 | i5 << 4 |
                    i6 << 3 | i7 << 2 | i8 << 1 | i9;
#pragma omp ordered depend(sink : i0 - 1, i1, i2, i3, i4, i5, i6, i7, i8, i9) \
    depend(sink : i0, i1, i2, i3, i4, i5, i6, i7, i8, i9 - 1)
            v10[x] = ref10(v10, x);
#pragma omp ordered depend(source)
        }
        /* An empty doacross loop. */
#pragma omp for ordered(3) schedule(static)
        for (int i = 0; i < empty; ++i)
            for (int j = 0; j < 5; ++j)
                for (int k = 0; k < 7; ++k) {
#pragma omp ordered depend(sink : i - 1, j, k)
#pragma omp atomic
                    empty_ran++;
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
    for (int x = 0; x < D10; ++x) CHECK(v10[x] == r10[x]);
    CHECK(empty_ran == 0);
    return 0;
}
