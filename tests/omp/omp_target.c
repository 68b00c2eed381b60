/* omp_target.c: target constructs without devices run on the host. No
 * devices, the host is the initial device; `map` shares host memory,
 * firstprivate copies do not leak back; target teams / distribute /
 * parallel inside a target region; data constructs (data, enter/exit,
 * update) are no-ops whose `depend` still orders them; `nowait` target
 * regions are tasks that honour dependences and complete by taskwait.
 * gcc only (libgomp's host fallback; clang calls the region inline and
 * libomp has no omp_target_* routines, they are libomptarget's): the
 * region runs as a new initial thread (level 0, its own thread_limit),
 * and the device memory routines for the host device; a nonexistent
 * device falls back to the host, except under OMP_TARGET_OFFLOAD=mandatory
 * (test .mandatory: the program must stop at `device(1)`, after the host
 * device's regions ran). */
#include <omp.h>
#include <string.h>

#include "check.h"

#define N 1000

static void basics(void) {
    CHECK(omp_get_num_devices() == 0);
    CHECK(omp_get_initial_device() == 0);
    CHECK(omp_is_initial_device());
    int a[N], y = 5, host = 0, fp = 7;
    for (int i = 0; i < N; ++i) a[i] = i;
#pragma omp target map(tofrom : a, host) firstprivate(y, fp)
    {
        for (int i = 0; i < N; ++i) a[i] += y;
        host = omp_is_initial_device();
        fp = 100; /* a private copy */
    }
    for (int i = 0; i < N; ++i) CHECK(a[i] == i + 5);
    CHECK(host == 1 && fp == 7);
}

static void teams_in_target(void) {
    long sum = 0;
    int nteams = 0, maxthr = 0;
#pragma omp target teams num_teams(3) thread_limit(2) map(tofrom : sum, nteams, maxthr) reduction(+ : sum)
    {
        if (omp_get_team_num() == 0) nteams = omp_get_num_teams();
#pragma omp distribute parallel for reduction(+ : sum)
        for (int i = 0; i < N; ++i) {
            sum += i;
            int n = omp_get_num_threads();
#pragma omp critical
            if (n > maxthr) maxthr = n;
        }
    }
    CHECK(sum == (long)N * (N - 1) / 2);
    CHECK(nteams >= 1 && nteams <= 3);
    CHECK(maxthr >= 1 && maxthr <= 2);
}

static void data_constructs(void) {
    int x[10];
    for (int i = 0; i < 10; ++i) x[i] = i;
#pragma omp target data map(tofrom : x)
    {
#pragma omp target
        for (int i = 0; i < 10; ++i) x[i] *= 2;
#pragma omp target update from(x)
        CHECK(x[9] == 18);
    }
#pragma omp target enter data map(to : x)
#pragma omp target
    x[0] = 42;
#pragma omp target exit data map(from : x)
    CHECK(x[0] == 42);
}

/* A chain of nowait target regions and data constructs ordered by
 * dependences; deferred tasks in a team; many independent ones complete
 * by taskwait. */
static void nowait_depend(void) {
    int x = 0, done[64] = {0}, bad = 0;
#pragma omp parallel num_threads(4)
#pragma omp single
    {
        for (int r = 0; r < 20; ++r) {
#pragma omp target nowait depend(out : x) map(tofrom : x)
            x = 1;
#pragma omp target update to(x) nowait depend(inout : x)
#pragma omp target nowait depend(inout : x) map(tofrom : x)
            x *= 10;
#pragma omp target nowait depend(inout : x) map(tofrom : x)
            x += 3;
#pragma omp target enter data map(to : x) nowait depend(in : x)
#pragma omp task depend(in : x) shared(bad)
            bad += x != 13;
#pragma omp taskwait
        }
        for (int i = 0; i < 64; ++i) {
#pragma omp target nowait map(tofrom : done[i : 1]) firstprivate(i)
            done[i] = i + 1;
        }
#pragma omp taskwait
    }
    CHECK(bad == 0 && x == 13);
    for (int i = 0; i < 64; ++i) CHECK(done[i] == i + 1);
}

#ifndef __clang__
static void initial_thread(void) {
    int bad = 0;
#pragma omp parallel num_threads(2) reduction(+ : bad)
    {
        int level = -1, inpar = -1, tl = -1, nthr = 0;
#pragma omp target map(tofrom : level, inpar, tl, nthr) thread_limit(3)
        {
            level = omp_get_level();
            inpar = omp_in_parallel();
            tl = omp_get_thread_limit();
#pragma omp parallel num_threads(3)
#pragma omp master
            nthr = omp_get_num_threads();
        }
        bad += level != 0 || inpar != 0 || tl != 3;
        bad += nthr < 1 || nthr > 3;
        bad += omp_get_level() != 1; /* restored after the region */
    }
    CHECK(bad == 0);
}

static void devices(void) {
    const char *v = getenv("OMP_TARGET_OFFLOAD");
    int mandatory = v && strcmp(v, "mandatory") == 0;
    int x = 0;
#pragma omp target map(tofrom : x) device(omp_get_initial_device())
    x += 1;
#pragma omp target map(tofrom : x) if (0)
    x += 1;
    CHECK(x == 2);
    if (mandatory) fprintf(stderr, "reached device(1)\n");
#pragma omp target map(tofrom : x) device(1)
    x += 1;
    CHECK(!mandatory && x == 3);
}

static void device_memory(void) {
    int h = omp_get_initial_device();
    CHECK(omp_target_alloc(16, 5) == NULL);
    int *d = omp_target_alloc(100 * sizeof(int), h);
    CHECK(d != NULL);
    CHECK(omp_target_is_present(d, h));
    int src[100];
    for (int i = 0; i < 100; ++i) src[i] = i;
    CHECK(omp_target_memcpy(d, src, 50 * sizeof(int), 10 * sizeof(int),
                            20 * sizeof(int), h, h) == 0);
    CHECK(d[10] == 20 && d[59] == 69);
    CHECK(omp_target_memcpy(d, src, 4, 0, 0, 5, h) != 0);
    /* a 3x4 block at (1,2) of a 6x8 matrix to (0,1) of a 5x5 one */
    int m[6][8], o[5][5];
    for (int i = 0; i < 6; ++i)
        for (int j = 0; j < 8; ++j) m[i][j] = 10 * i + j;
    memset(o, 0, sizeof o);
    size_t vol[2] = {3, 4}, soff[2] = {1, 2}, doff[2] = {0, 1};
    size_t sdim[2] = {6, 8}, ddim[2] = {5, 5};
    CHECK(omp_target_memcpy_rect(o, m, sizeof(int), 2, vol, doff, soff, ddim,
                                 sdim, h, h) == 0);
    for (int i = 0; i < 5; ++i)
        for (int j = 0; j < 5; ++j) {
            int in = i < 3 && j >= 1 && j < 5;
            CHECK(o[i][j] == (in ? 10 * (i + 1) + (j - 1 + 2) : 0));
        }
    CHECK(omp_target_memcpy_rect(NULL, NULL, 0, 0, NULL, NULL, NULL, NULL,
                                 NULL, h, h) > 0);
    CHECK(omp_target_associate_ptr(src, d, 4, 0, h) != 0);
    omp_target_free(d, h);
}
#endif

int main(void) {
    basics();
    teams_in_target();
    data_constructs();
    nowait_depend();
#ifndef __clang__
    initial_thread();
    device_memory();
    devices();
#endif
    return 0;
}
