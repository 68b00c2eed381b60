/* omp_taskloop.c: taskloop. Every iteration runs exactly once for int,
 * long long, unsigned long long induction variables and negative steps;
 * num_tasks(k) makes exactly k tasks of contiguous iterations;
 * grainsize(g) makes tasks of g..2g-1 iterations; nogroup does not wait
 * (taskwait does); if(0) runs the tasks at once; firstprivate and
 * lastprivate; a taskloop inside tasks of a taskloop. */
#include <omp.h>

#include "check.h"

#define T 4
#define N 1000

/* Task `first` iteration for each iteration; counts the tasks. */
static int count_tasks_of(const int *owner, int n, int *min_len, int *max_len) {
    int tasks = 0, len = 0;
    *min_len = n + 1;
    *max_len = 0;
    for (int i = 0; i < n; ++i) {
        if (i == 0 || owner[i] != owner[i - 1]) {
            if (i > 0) {
                if (len < *min_len) *min_len = len;
                if (len > *max_len) *max_len = len;
            }
            ++tasks;
            len = 0;
            CHECK(owner[i] == i); /* contiguous: a task starts at its first */
        }
        ++len;
    }
    if (len < *min_len) *min_len = len;
    if (len > *max_len) *max_len = len;
    return tasks;
}

int main(void) {
    static int hit[N], owner[N], back[N];
    long long sum = 0;
    unsigned long long usum = 0;
    int nog = 0, iff = 0, first_ok = 1, last = -1, inner = 0;
    int lens[3][2], ntasks[3];
#pragma omp parallel num_threads(T)
#pragma omp single
    {
#pragma omp taskloop shared(hit)
        for (int i = 0; i < N; ++i) {
#pragma omp atomic
            hit[i]++;
        }
#pragma omp taskloop grainsize(7) shared(sum)
        for (long long i = 0; i < N; ++i) {
#pragma omp atomic
            sum += i;
        }
#pragma omp taskloop num_tasks(13) shared(usum)
        for (unsigned long long i = 3000000000ull; i < 3000000000ull + N; i += 2) {
#pragma omp atomic
            usum += i - 3000000000ull;
        }
#pragma omp taskloop shared(back)
        for (int i = N - 1; i >= 0; i -= 3) {
#pragma omp atomic
            back[i]++;
        }
        /* Task shapes: num_tasks(5), num_tasks(2000) (more than iterations),
         * grainsize(10). */
        int start = -1;
#pragma omp taskloop num_tasks(5) firstprivate(start) shared(owner)
        for (int i = 0; i < N; ++i) {
            if (start < 0) start = i;
            owner[i] = start;
        }
        ntasks[0] = count_tasks_of(owner, N, &lens[0][0], &lens[0][1]);
#pragma omp taskloop num_tasks(2000) firstprivate(start) shared(owner)
        for (int i = 0; i < 100; ++i) {
            if (start < 0) start = i;
            owner[i] = start;
        }
        ntasks[1] = count_tasks_of(owner, 100, &lens[1][0], &lens[1][1]);
#pragma omp taskloop grainsize(10) firstprivate(start) shared(owner)
        for (int i = 0; i < N; ++i) {
            if (start < 0) start = i;
            owner[i] = start;
        }
        ntasks[2] = count_tasks_of(owner, N, &lens[2][0], &lens[2][1]);

        /* nogroup: the taskloop does not wait; taskwait does. */
#pragma omp taskloop nogroup num_tasks(4) shared(nog)
        for (int i = 0; i < 40; ++i) {
            for (volatile int k = 0; k < 1000; ++k) {
            }
#pragma omp atomic
            nog++;
        }
#pragma omp taskwait
        CHECK(nog == 40);

        /* if(0): each task runs at once, in order, on this member. */
        int me = omp_get_thread_num(), seq = 0;
#pragma omp taskloop if (0) num_tasks(4) shared(iff, seq, me)
        for (int i = 0; i < 40; ++i) {
            if (omp_get_thread_num() != me || seq != i) iff = -1000;
            seq++;
            iff++;
        }

        int fp = 5;
#pragma omp taskloop firstprivate(fp) lastprivate(last) shared(first_ok)
        for (int i = 0; i < 100; ++i) {
            if (fp != 5) first_ok = 0;
            last = i * 2;
        }

        /* taskloop in the tasks of a taskloop */
#pragma omp taskloop num_tasks(4) shared(inner)
        for (int i = 0; i < 4; ++i) {
#pragma omp taskloop num_tasks(5) shared(inner)
            for (int j = 0; j < 10; ++j) {
#pragma omp atomic
                inner++;
            }
        }
    }
    for (int i = 0; i < N; ++i) CHECK(hit[i] == 1);
    for (int i = 0; i < N; ++i) CHECK(back[i] == ((N - 1 - i) % 3 == 0));
    CHECK(sum == (long long)N * (N - 1) / 2);
    CHECK(usum == 2ull * (N / 2) * (N / 2 - 1) / 2);
    CHECK(ntasks[0] == 5 && lens[0][0] == 200 && lens[0][1] == 200);
    CHECK(ntasks[1] == 100 && lens[1][0] == 1 && lens[1][1] == 1);
    CHECK(lens[2][0] >= 10 && lens[2][1] < 20 && ntasks[2] >= 50 && ntasks[2] <= 100);
    CHECK(iff == 40);
    CHECK(first_ok && last == 198);
    CHECK(inner == 40);
    return 0;
}
