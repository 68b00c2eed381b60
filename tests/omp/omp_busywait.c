/* omp_busywait.c: teams whose members busy-wait on each other complete,
 * also with more members than harts (docs/omp.md, "Busy-waiting teams").
 * Nothing here calls into the runtime while waiting: members spin on shared
 * flags with `flush` (gcc inlines it; clang calls __kmpc_flush), as NPB LU
 * does, so a runtime that runs a team on fewer harts than members without
 * time-slicing never finishes (the ctest variants with LITHE_OMP_SLICE_US=0
 * show that).
 *
 *  1. LU's wavefront: a forward sweep where member t computes its rows of
 *     plane k after member t-1 has done them (sync_left / sync_right with
 *     flags, copied from NPB LU's OpenMP version), then a backward sweep in
 *     the other direction; results equal a serial run.
 *  2. A user-written sense-reversing spin barrier, 30 rounds, each round
 *     checking every member's contribution to the previous one.
 *  3. Master waits for the last member: member 0 spins until the
 *     highest-numbered member sets a flag (the member created last).
 *
 * Team sizes: omp_get_max_threads() (OMP_NUM_THREADS; the `.vc1` ctest
 * variants run 4 on one hart) and harts + 1, more than the harts at any
 * PARLIB_VCORES. */
#include <omp.h>
#include <stdint.h>

#include "check.h"

#define MAXT 64
#define PLANES 16
#define ROWS_PER 3

static volatile int flag[MAXT];
static uint32_t grid[PLANES][MAXT * ROWS_PER], serial[PLANES][MAXT * ROWS_PER];

/* NPB LU's sync_left / sync_right (ssor.c, OpenMP C version). */
static void sync_left(int iam) {
    if (iam > 0) {
        int neigh = iam - 1;
        while (flag[neigh] == 0) {
#pragma omp flush(flag)
        }
        flag[neigh] = 0;
#pragma omp flush(flag)
    }
}

static void sync_right(int iam, int nt) {
    if (iam < nt - 1) {
        while (flag[iam] == 1) {
#pragma omp flush(flag)
        }
        flag[iam] = 1;
#pragma omp flush(flag)
    }
}

/* Mirror images for the backward sweep: member t waits for t+1. */
static void sync_right_back(int iam, int nt) {
    if (iam < nt - 1) {
        while (flag[iam + 1] == 0) {
#pragma omp flush(flag)
        }
        flag[iam + 1] = 0;
#pragma omp flush(flag)
    }
}

static void sync_left_back(int iam) {
    if (iam > 0) {
        while (flag[iam] == 1) {
#pragma omp flush(flag)
        }
        flag[iam] = 1;
#pragma omp flush(flag)
    }
}

static uint32_t mix(uint32_t a, uint32_t b) { return (a * 2654435761u) ^ (b + 7u); }

/* Team size n (OMP_DYNAMIC may shrink it): rows = n * ROWS_PER, member t
 * owns rows [t * ROWS_PER, (t + 1) * ROWS_PER) (the static schedule). */
static void wavefront(int nt) {
    int got = 0;
    for (int t = 0; t < MAXT; ++t) flag[t] = 0;
#pragma omp parallel num_threads(nt)
    {
        int iam = omp_get_thread_num(), n = omp_get_num_threads();
        int rows = n * ROWS_PER;
#pragma omp single
        got = n;
        for (int k = 0; k < PLANES; ++k) {
            sync_left(iam);
#pragma omp for schedule(static) nowait
            for (int j = 0; j < rows; ++j) {
                uint32_t up = k ? grid[k - 1][j] : 1, left = j ? grid[k][j - 1] : 2;
                grid[k][j] = mix(up, left);
            }
            sync_right(iam, n);
        }
#pragma omp barrier
        for (int k = PLANES - 1; k >= 0; --k) {
            sync_right_back(iam, n);
            int lo = iam * ROWS_PER, hi = lo + ROWS_PER;
            for (int j = hi - 1; j >= lo; --j) {
                uint32_t down = k + 1 < PLANES ? grid[k + 1][j] : 3;
                uint32_t right = j + 1 < rows ? grid[k][j + 1] : 4;
                grid[k][j] = mix(grid[k][j] ^ down, right);
            }
            sync_left_back(iam);
        }
    }
    CHECK(got >= 1 && got <= nt);
    int rows = got * ROWS_PER;
    for (int k = 0; k < PLANES; ++k)
        for (int j = 0; j < rows; ++j) {
            uint32_t up = k ? serial[k - 1][j] : 1, left = j ? serial[k][j - 1] : 2;
            serial[k][j] = mix(up, left);
        }
    for (int k = PLANES - 1; k >= 0; --k)
        for (int j = rows - 1; j >= 0; --j) {
            uint32_t down = k + 1 < PLANES ? serial[k + 1][j] : 3;
            uint32_t right = j + 1 < rows ? serial[k][j + 1] : 4;
            serial[k][j] = mix(serial[k][j] ^ down, right);
        }
    for (int k = 0; k < PLANES; ++k)
        for (int j = 0; j < rows; ++j) CHECK(grid[k][j] == serial[k][j]);
}

static void spin_barrier_rounds(int nt) {
    static int count, sense;
    static long contrib[MAXT];
    int bad = 0;
    count = 0;
    sense = 0;
#pragma omp parallel num_threads(nt) reduction(+ : bad)
    {
        int me = omp_get_thread_num(), n = omp_get_num_threads(), local = 0;
        for (int r = 1; r <= 30; ++r) {
            contrib[me] = (long)r * (me + 1);
            local = !local;
            if (__atomic_add_fetch(&count, 1, __ATOMIC_ACQ_REL) == n) {
                __atomic_store_n(&count, 0, __ATOMIC_RELAXED);
                __atomic_store_n(&sense, local, __ATOMIC_RELEASE);
            } else {
                while (__atomic_load_n(&sense, __ATOMIC_ACQUIRE) != local)
                    __builtin_ia32_pause();
            }
            long sum = 0;
            for (int t = 0; t < n; ++t) sum += contrib[t];
            bad += sum != (long)r * n * (n + 1) / 2;
            /* Second phase so that nobody overwrites contrib[] of round r
             * while a slower member still sums it. */
            local = !local;
            if (__atomic_add_fetch(&count, 1, __ATOMIC_ACQ_REL) == n) {
                __atomic_store_n(&count, 0, __ATOMIC_RELAXED);
                __atomic_store_n(&sense, local, __ATOMIC_RELEASE);
            } else {
                while (__atomic_load_n(&sense, __ATOMIC_ACQUIRE) != local)
                    __builtin_ia32_pause();
            }
        }
    }
    CHECK(bad == 0);
}

static void master_waits_for_last(int nt) {
    volatile int ready = 0;
    int seen = -1, got = 0;
#pragma omp parallel num_threads(nt)
    {
        int me = omp_get_thread_num(), n = omp_get_num_threads();
        if (me == 0) got = n;
        if (me == n - 1) {
            ready = n;
#pragma omp flush
        }
        if (me == 0) {
            while (!ready) {
#pragma omp flush
            }
            seen = ready;
        }
    }
    CHECK(seen == got && got >= 1 && got <= nt);
}

int main(void) {
    int sizes[2] = {omp_get_max_threads(), omp_get_num_procs() + 1};
    for (int i = 0; i < 2; ++i) {
        int nt = sizes[i] < MAXT ? sizes[i] : MAXT;
        if (nt < 2) nt = 2;
        wavefront(nt);
        spin_barrier_rounds(nt);
        master_waits_for_last(nt);
    }
    return 0;
}
