/* omp_surface.c: the smaller OpenMP 5.x routines. omp_display_env prints
 * its banner block; the affinity format (set/get with truncation, field
 * expansion with widths and long names, display); teams ICVs
 * (omp_set_num_teams, omp_set_teams_thread_limit and their effect on a
 * teams construct); the schedule's monotonic modifier round trip (LLVM's
 * omp_monotonic_schedule_set_get); pause and control_tool; workers' stacks
 * hold more than 4.8 MB (LLVM's stack-propagate) when RLIMIT_STACK allows;
 * clang only: libomp's simd schedules (__kmpc_dispatch_init 46 and 47:
 * non-last chunks are multiples of the simd width, every iteration runs
 * once) and kmp_set_defaults. Lithe-only: no places, the default affinity
 * format, pause fails inside a region, kmp_set_defaults's effect,
 * OMP_DISPLAY_AFFINITY's lines (test .display_affinity). */
#include <fcntl.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "check.h"

/* Runs fn() with stdout and stderr going to a file; returns its text. */
static char captured[16384];
static const char *capture(void (*fn)(void)) {
    char path[] = "/tmp/omp_surface_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    fflush(NULL);
    int o1 = dup(1), o2 = dup(2);
    dup2(fd, 1);
    dup2(fd, 2);
    fn();
    fflush(NULL);
    dup2(o1, 1);
    dup2(o2, 2);
    close(o1);
    close(o2);
    ssize_t n = pread(fd, captured, sizeof captured - 1, 0);
    captured[n > 0 ? n : 0] = 0;
    close(fd);
    unlink(path);
    return captured;
}

static void show_env(void) { omp_display_env(0); }
static void show_affinity(void) {
#pragma omp parallel num_threads(2)
    omp_display_affinity("marker t%n of %N");
}

static void display(void) {
    const char *s = capture(show_env);
    const char *b = strstr(s, "OPENMP DISPLAY ENVIRONMENT BEGIN");
    CHECK(b && strstr(b, "_OPENMP"));
    CHECK(strstr(b, "OPENMP DISPLAY ENVIRONMENT END"));
    if (under_lithe()) CHECK(strstr(b, "OMP_NUM_THREADS = '"));
    s = capture(show_affinity);
    CHECK(strstr(s, "marker t0 of 2") && strstr(s, "marker t1 of 2"));
}

static void affinity_format(void) {
    char buf[256];
    if (under_lithe()) {
        omp_get_affinity_format(buf, sizeof buf);
        CHECK(strcmp(buf, "level %L thread %i affinity %A") == 0);
        CHECK(omp_get_num_places() == 0 && omp_get_place_num() == -1);
        CHECK(omp_get_partition_num_places() == 0);
        CHECK(omp_get_proc_bind() == omp_proc_bind_false);
    }
    const char *fmt = "x%L-%n/%N|%0.4n|%.3n|%3n|%{thread_num}|%%";
    omp_set_affinity_format(fmt);
    CHECK(omp_get_affinity_format(buf, sizeof buf) == strlen(fmt));
    CHECK(strcmp(buf, fmt) == 0);
    CHECK(omp_get_affinity_format(buf, 4) == strlen(fmt));
    CHECK(strcmp(buf, "x%L") == 0);
    int bad = 0;
#pragma omp parallel num_threads(2) reduction(+ : bad)
    {
        char out[256], want[256];
        int t = omp_get_thread_num();
        size_t n = omp_capture_affinity(out, sizeof out, NULL);
        snprintf(want, sizeof want, "x1-%d/2|000%d|  %d|%d  |%d|%%", t, t, t,
                 t, t);
        bad += strcmp(out, want) != 0 || n != strlen(want);
        n = omp_capture_affinity(out, 3, "%{num_threads}%{nesting_level}xyz");
        bad += strcmp(out, "21") != 0 || n != 5;
    }
    CHECK(bad == 0);
    /* zero padding keeps the sign first: ancestor of level 0 is -1 */
    omp_capture_affinity(buf, sizeof buf, "%0.5{ancestor_tnum}|%0.3L");
    CHECK(strcmp(buf, "-0001|000") == 0);
}

/* OMP_DISPLAY_AFFINITY=true (test .display_affinity, lithe): each member
 * of a region with a new team size prints one line, once. */
static volatile int region5_ran;
static void region5(void) { /* not empty: gcc drops empty regions */
    for (int r = 0; r < 2; ++r) {
#pragma omp parallel num_threads(5)
        {
#pragma omp atomic
            region5_ran++;
        }
    }
}
static void display_affinity_env(void) {
    const char *v = getenv("OMP_DISPLAY_AFFINITY");
    if (!v || strcmp(v, "true") != 0 || !under_lithe()) return;
    omp_set_affinity_format("DA %n/%N");
    const char *s = capture(region5);
    for (int k = 0; k < 5; ++k) {
        char want[32];
        snprintf(want, sizeof want, "DA %d/5\n", k);
        const char *hit = strstr(s, want);
        CHECK(hit && !strstr(hit + 1, want));
    }
}

static void teams_icvs(void) {
    omp_set_num_teams(3);
    CHECK(omp_get_max_teams() == 3);
    omp_set_teams_thread_limit(2);
    CHECK(omp_get_teams_thread_limit() == 2);
    int nteams = 0, maxthr = 0, nthr[64] = {0};
#pragma omp teams
    {
        int t = omp_get_team_num();
#pragma omp parallel
#pragma omp master
        nthr[t < 64 ? t : 63] = omp_get_num_threads();
        if (t == 0) nteams = omp_get_num_teams();
    }
    for (int t = 0; t < 64; ++t)
        if (nthr[t] > maxthr) maxthr = nthr[t];
    CHECK(nteams >= 1 && nteams <= 3);
    CHECK(maxthr >= 1 && maxthr <= 2);
    if (under_lithe()) CHECK(nteams == 3);
    omp_set_num_teams(1);
    omp_set_teams_thread_limit(64);
}

static void check_sched(omp_sched_t want_kind, int want_chunk, int *bad) {
    omp_sched_t k;
    int c;
    omp_get_schedule(&k, &c);
    *bad += k != want_kind || c != want_chunk;
}

static void monotonic(void) {
    int bad = 0;
    if (under_lithe()) /* libgomp's default is dynamic,1 */
        check_sched(omp_sched_static, 0, &bad);
    omp_sched_t mono = (omp_sched_t)(omp_sched_dynamic | omp_sched_monotonic);
    omp_set_schedule(mono, 3);
    check_sched(mono, 3, &bad);
#pragma omp parallel num_threads(3) reduction(+ : bad)
    {
        check_sched(mono, 3, &bad); /* inherited */
        int t = omp_get_thread_num();
        omp_sched_t mine = (omp_sched_t)((t + 1) | omp_sched_monotonic);
        omp_set_schedule(mine, t);
        check_sched(mine, t, &bad);
#pragma omp for schedule(runtime)
        for (int i = 0; i < 100; ++i) bad += i < 0;
    }
    check_sched(mono, 3, &bad); /* members' settings stayed theirs */
    omp_set_schedule(omp_sched_guided, 2);
    check_sched(omp_sched_guided, 2, &bad);
    omp_set_schedule(omp_sched_static, 0);
    CHECK(bad == 0);
}

static void pause_and_tool(void) {  /* and omp_control_tool */
    int dev = omp_get_initial_device();
    CHECK(omp_pause_resource(omp_pause_soft, dev) == 0);
    int n = 0;
#pragma omp parallel
#pragma omp single
    n = omp_get_num_threads();
    CHECK(n >= 1);
    CHECK(omp_pause_resource(omp_pause_hard, dev) == 0);
#pragma omp parallel reduction(+ : n)
    n += 1;
    CHECK(omp_pause_resource_all(omp_pause_soft) == 0);
#pragma omp parallel reduction(+ : n)
    n += 1;
    CHECK(n >= 2);
    if (under_lithe()) {
        int inside = 0;
#pragma omp parallel num_threads(2) reduction(+ : inside)
        inside += omp_pause_resource(omp_pause_soft, dev) != 0;
        CHECK(inside == 2);
    }
#ifdef __clang__ /* not in gcc-12's omp.h */
    CHECK(omp_control_tool(omp_control_tool_start, 0, NULL) ==
          omp_control_tool_notool);
#endif
}

/* Each member puts ~6 MB on its stack (a VLA), as LLVM's stack-propagate
 * test does with 4.8 MB. */
static double deep(int n) {
    volatile double arr[n];
    double s = 0;
    for (int i = 0; i < n; ++i) arr[i] = (double)i / (n + 2);
    for (int i = 0; i < n; ++i) s += arr[i] / n;
    return s;
}
static void stacks(void) {
    struct rlimit rl;
    if (getenv("OMP_STACKSIZE") || getrlimit(RLIMIT_STACK, &rl) != 0 ||
        rl.rlim_cur < 7u * 1024 * 1024)
        return; /* the documented default needs an 8 MB rlimit */
    int m = 6 * 1000 * 1000 / 8;
    double v = 0;
#pragma omp parallel num_threads(3) reduction(+ : v)
    v += deep(m);
    CHECK(v > 0.1);
}

#ifdef __clang__
typedef struct {
    int a, flags, b, c;
    const char *psource;
} ident;
static ident loc = {0, 2, 0, 0, ";omp_surface.c;simd;0;0;;"};
int __kmpc_global_thread_num(ident *);
void __kmpc_dispatch_init_4(ident *, int, int, int, int, int, int);
int __kmpc_dispatch_next_4(ident *, int, int *, int *, int *, int *);
void __kmpc_barrier(ident *, int);

/* All members take chunks of [0, 997) with schedule `sched` and simd
 * width 4; non-last chunks are multiples of `mult` (`exact`: equal to it,
 * and the last no larger); each iteration once. */
static void simd_loop(int sched, int mult, int exact) {
    enum { TRIP = 997 };
    static int hits[TRIP];
    memset(hits, 0, sizeof hits);
    int bad = 0;
#pragma omp parallel num_threads(3) reduction(+ : bad)
    {
        int g = __kmpc_global_thread_num(&loc);
        int last, lb, ub, st;
        __kmpc_dispatch_init_4(&loc, g, sched, 0, TRIP - 1, 1, 4);
        while (__kmpc_dispatch_next_4(&loc, g, &last, &lb, &ub, &st)) {
            int n = ub - lb + 1;
            bad += st != 1 || n < 1 || ub >= TRIP;
            if (!last) bad += n % mult != 0 || lb % 4 != 0;
            if (exact) bad += last ? n > mult : n != mult;
            for (int i = lb; i <= ub; ++i) {
#pragma omp atomic
                hits[i]++;
            }
        }
    }
    CHECK(bad == 0);
    for (int i = 0; i < TRIP; ++i) CHECK(hits[i] == 1);
}

static void simd_schedules(void) {
    simd_loop(46, 4, 0); /* kmp_sch_guided_simd */
    omp_set_schedule(omp_sched_dynamic, 2);
    simd_loop(47, 8, 1); /* kmp_sch_runtime_simd: chunk 2 x width 4 */
    omp_set_schedule(omp_sched_guided, 3);
    simd_loop(47, 12, 0);
    omp_set_schedule(omp_sched_static, 0);
    simd_loop(47, 4, 0); /* one balanced block per member */
    omp_set_schedule(omp_sched_static, 1);
    simd_loop(47, 4, 1); /* static,1 x width 4 */
}

static void set_defaults(void) {
    kmp_set_defaults("OMP_NUM_THREADS"); /* no value: nothing to set */
    if (!under_lithe()) return;
    kmp_set_defaults("OMP_NUM_THREADS=3|OMP_SCHEDULE=guided,7");
    CHECK(omp_get_max_threads() == 3);
    omp_sched_t k;
    int c;
    omp_get_schedule(&k, &c);
    CHECK(k == omp_sched_guided && c == 7);
    omp_set_schedule(omp_sched_static, 0);
}
#endif

int main(void) {
    display();
    affinity_format();
    display_affinity_env();
    teams_icvs();
    monotonic();
    pause_and_tool();
    stacks();
#ifdef __clang__
    simd_schedules();
    set_defaults();
#endif
    return 0;
}
