/* omp_taskdep.c: depend(in/out/inout/mutexinoutset) between sibling
 * tasks, taskwait depend, and if(0) tasks with dependences. Chains must
 * run in creation order, readers after their writer and before the next
 * writer, a 2-D wavefront must compute the serial result, and
 * mutexinoutset tasks must exclude each other; a depend(depobj:) task
 * orders like the dependence its object holds (clang allocates the object
 * with __kmpc_alloc, gcc in place). */
#include <omp.h>

#include "check.h"

#define T 8
#define N 24

int main(void) {
    /* inout chain: strictly in creation order. */
    int order[200], pos = 0, x = 0;
#pragma omp parallel num_threads(T)
#pragma omp single
    for (int i = 0; i < 200; ++i) {
#pragma omp task depend(inout : x) firstprivate(i) shared(order, pos, x)
        {
            order[pos++] = i;
            x = i;
        }
    }
    CHECK(pos == 200 && x == 199);
    for (int i = 0; i < 200; ++i) CHECK(order[i] == i);

    /* out -> many in -> out: readers see the first value, the second
     * writer runs after every reader. */
    int v = 0, readers_ok = 0, readers_done = 0, writer_saw = -1;
#pragma omp parallel num_threads(T)
#pragma omp single
    {
        for (int r = 0; r < 5; ++r) {
#pragma omp task depend(out : v) shared(v)
            v = 100;
            for (int i = 0; i < 10; ++i) {
#pragma omp task depend(in : v) shared(v, readers_ok, readers_done)
                {
                    if (v == 100) {
#pragma omp atomic
                        readers_ok++;
                    }
#pragma omp atomic
                    readers_done++;
                }
            }
#pragma omp task depend(out : v) shared(v, readers_done, writer_saw)
            {
                writer_saw = readers_done;
                v = 0;
            }
#pragma omp taskwait
            CHECK(writer_saw == 10 * (r + 1));
        }
    }
    CHECK(readers_ok == 50 && v == 0);

    /* Wavefront: a[i][j] = a[i-1][j] + a[i][j-1] with element deps. */
    static long a[N][N], ref[N][N];
    for (int i = 0; i < N; ++i)
        for (int j = 0; j < N; ++j) {
            ref[i][j] = (i == 0 || j == 0) ? 1 : ref[i - 1][j] + ref[i][j - 1];
            a[i][j] = 0;
        }
#pragma omp parallel num_threads(T)
#pragma omp single
    for (int i = 0; i < N; ++i)
        for (int j = 0; j < N; ++j) {
            if (i == 0 || j == 0) {
#pragma omp task depend(out : a[i][j]) firstprivate(i, j)
                a[i][j] = 1;
            } else {
#pragma omp task depend(in : a[i - 1][j], a[i][j - 1]) depend(out : a[i][j]) firstprivate(i, j)
                a[i][j] = a[i - 1][j] + a[i][j - 1];
            }
        }
    for (int i = 0; i < N; ++i)
        for (int j = 0; j < N; ++j) CHECK(a[i][j] == ref[i][j]);

    /* mutexinoutset: mutually exclusive (non-atomic updates stay exact),
     * and a later `in` task sees them all. */
    int m = 0, inside = 0, overlap = 0, final_m = -1;
#pragma omp parallel num_threads(T)
#pragma omp single
    {
        for (int i = 0; i < 100; ++i) {
#pragma omp task depend(mutexinoutset : m) shared(m, inside, overlap)
            {
                int in;
#pragma omp atomic capture
                in = ++inside;
                if (in != 1) {
#pragma omp atomic
                    overlap++;
                }
                int t = m;
                for (volatile int k = 0; k < 100; ++k) {
                }
                m = t + 1;
#pragma omp atomic
                inside--;
            }
        }
#pragma omp task depend(in : m) shared(m, final_m)
        final_m = m;
    }
    CHECK(m == 100 && overlap == 0 && final_m == 100);

    /* taskwait depend waits only for the named predecessors; an if(0)
     * task with a dependence waits for its predecessor too. */
    int p = 0, q = 0, seen_p = -1, seen_q = -1;
#pragma omp parallel num_threads(T)
#pragma omp single
    {
#pragma omp task depend(out : p) shared(p)
        {
            for (volatile int k = 0; k < 100000; ++k) {
            }
            p = 1;
        }
#pragma omp taskwait depend(in : p)
        seen_p = p;
#pragma omp task depend(out : q) shared(q)
        {
            for (volatile int k = 0; k < 100000; ++k) {
            }
            q = 2;
        }
#pragma omp task if (0) depend(in : q) shared(q, seen_q)
        seen_q = q;
    }
    CHECK(seen_p == 1 && seen_q == 2);

    /* depobj: a writer through the object, then a plain reader. */
    for (int r = 0; r < 20; ++r) {
        int x = 0, first = 0, second = 0;
        omp_depend_t obj;
#pragma omp depobj(obj) depend(inout : x)
#pragma omp parallel num_threads(T)
#pragma omp single
        {
#pragma omp task depend(depobj : obj) shared(x, first)
            {
                for (volatile int k = 0; k < 20000; ++k) {
                }
                x = 1;
                first = 1;
            }
#pragma omp task depend(in : x) shared(x, first, second)
            second = first == 1 && x == 1 ? 2 : -1;
#pragma omp taskwait
        }
#pragma omp depobj(obj) destroy
        CHECK(first == 1 && second == 2);
    }
    return 0;
}
