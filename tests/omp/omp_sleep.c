/* omp_sleep.c: the libc sleeps (nanosleep, clock_nanosleep, usleep, sleep)
 * called by team members and by the initial thread.
 *
 * Hart release: member 0 sleeps while member 1 waits (yielding) for it to
 * be asleep. Under lithe with one hart (the .vc1 runs, PARLIB_VCORES=1)
 * member 1 can only run if the sleep gave the hart up (the adapters' sleep
 * guard, docs/omp.md), so member 0 must find it ran when it wakes; else
 * (more harts, the reference runtime) the sleeper just waits for it.
 * Contract, everywhere: each sleep lasts at least what was asked on the
 * clock named (relative and absolute, CLOCK_MONOTONIC and CLOCK_REALTIME),
 * returns 0, leaves *rem untouched or zero (Linux: untouched; the guard:
 * zero), keeps errno; zero and sub-microsecond sleeps
 * return; invalid timespecs and clocks fail with EINVAL before sleeping. */
#include <errno.h>
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

enum { kNanosleep, kClockRel, kClockAbsMono, kClockAbsReal, kUsleep, kSleep, kKinds };

static int64_t now_ns(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static struct timespec ts_of(int64_t ns) {
    struct timespec t = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    return t;
}

/* Sleeps `ns` (sleep(): whole seconds) with function `kind`; checks the
 * result and that at least `ns` passed on the clock it measures. */
static void sleep_checked(int kind, int64_t ns) {
    struct timespec req = ts_of(ns), rem = {7, 7};
#define REM_OK (rem.tv_sec == rem.tv_nsec && (rem.tv_sec == 0 || rem.tv_sec == 7))
    clockid_t clk = kind == kClockAbsReal ? CLOCK_REALTIME : CLOCK_MONOTONIC;
    int64_t start = now_ns(clk);
    errno = 1234;
    switch (kind) {
    case kNanosleep:
        CHECK(nanosleep(&req, &rem) == 0);
        CHECK(REM_OK);
        break;
    case kClockRel:
        CHECK(clock_nanosleep(CLOCK_MONOTONIC, 0, &req, &rem) == 0);
        CHECK(REM_OK);
        break;
    case kClockAbsMono:
    case kClockAbsReal:
        req = ts_of(start + ns);
        CHECK(clock_nanosleep(clk, TIMER_ABSTIME, &req, NULL) == 0);
        break;
    case kUsleep:
        CHECK(usleep((useconds_t)(ns / 1000)) == 0);
        ns = ns / 1000 * 1000;
        break;
    case kSleep:
        CHECK(sleep((unsigned)(ns / 1000000000)) == 0);
        ns = ns / 1000000000 * 1000000000;
        break;
    }
    CHECK(errno == 1234);
    int64_t took = now_ns(clk) - start;
    if (took < ns) {
        fprintf(stderr, "sleep kind %d: %lld ns < %lld ns\n", kind,
                (long long)took, (long long)ns);
        exit(1);
    }
}

static atomic_int asleep, ran;

/* Member 0 sleeps with `kind`, member 1 runs while it sleeps. */
static void overlap(int kind, int one_hart) {
    atomic_store(&asleep, 0);
    atomic_store(&ran, 0);
#pragma omp parallel num_threads(2)
    {
        if (omp_get_thread_num() == 0) {
            atomic_store(&asleep, 1);
            sleep_checked(kind, kind == kSleep ? 1000000000 : 20000000);
            if (one_hart) CHECK(atomic_load(&ran));
            while (!atomic_load(&ran)) sched_yield();
        } else {
            while (!atomic_load(&asleep)) sched_yield();
            atomic_store(&ran, 1);
        }
    }
}

static void short_and_bad(void) {
    /* Zero, sub-microsecond, an absolute deadline already past. */
    struct timespec zero = {0, 0}, tiny = {0, 500}, past;
    CHECK(nanosleep(&zero, NULL) == 0);
    CHECK(clock_nanosleep(CLOCK_MONOTONIC, 0, &zero, NULL) == 0);
    CHECK(usleep(0) == 0 && sleep(0) == 0);
    sleep_checked(kNanosleep, 500);
    sleep_checked(kClockAbsMono, 500);
    CHECK(nanosleep(&tiny, NULL) == 0);
    clock_gettime(CLOCK_MONOTONIC, &past);
    past.tv_sec -= 1;
    CHECK(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &past, NULL) == 0);
    /* Invalid requests. */
    const struct timespec bad[] = {{0, -1}, {0, 1000000000}, {-1, 0}};
    for (int i = 0; i < 3; ++i) {
        struct timespec rem = {7, 7};
        errno = 0;
        CHECK(nanosleep(&bad[i], &rem) == -1 && errno == EINVAL);
        errno = 1234;
        CHECK(clock_nanosleep(CLOCK_MONOTONIC, 0, &bad[i], &rem) == EINVAL);
        CHECK(clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &bad[i], NULL) == EINVAL);
        CHECK(errno == 1234);
    }
    /* A clock one cannot sleep on. */
    struct timespec ms = {0, 1000000};
    CHECK(clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &ms, NULL) == EINVAL);
}

static void all_kinds(void) {
    for (int k = 0; k < kKinds; ++k)
        if (k != kSleep) sleep_checked(k, 3000000);
    short_and_bad();
}

static void *foreign(void *arg) {
    all_kinds();
    return arg;
}

int main(void) {
    int one_hart = under_lithe() && omp_get_num_procs() == 1;
    for (int round = 0; round < 3; ++round)
        for (int k = 0; k < kKinds; ++k)
            if (k != kSleep || round == 0) overlap(k, one_hart);
    /* From the initial thread, from members of a 3-member team (on one
     * hart they interleave their sleeps), and from a foreign pthread. */
    all_kinds();
#pragma omp parallel num_threads(3)
    all_kinds();
    pthread_t t;
    CHECK(pthread_create(&t, NULL, foreign, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    printf("omp_sleep: ok%s\n", one_hart ? " (one hart)" : "");
    return 0;
}
