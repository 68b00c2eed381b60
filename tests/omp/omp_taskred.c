/* omp_taskred.c: task reductions and the worksharing forms that carry them.
 * Every result is compared with the closed form; tasks run on whichever
 * member takes them, so each member's private copy is used and all copies
 * must be combined exactly once.
 *  - taskgroup task_reduction + in_reduction tasks (two variables, two
 *    operators), from one producer and from every member; nested
 *    taskgroups reducing into the outer one;
 *  - taskloop reduction (and in_reduction of a taskloop in a taskgroup);
 *  - reduction(task, ...) on parallel, for (static, dynamic, runtime,
 *    ordered, unsigned long long), sections and (gcc) scope;
 *  - gcc's generic loop entry points with `mem` (lastprivate(conditional))
 *    and doacross with a task reduction.
 * 4 members (more than harts at PARLIB_VCORES=1, 2). */
#include <omp.h>

#include "check.h"

#define N 1000
#define NT 4

static long tri(long n) { return n * (n + 1) / 2; }

static void taskgroup_single_producer(void) {
    long s = 0;
    unsigned long long x = 0;
#pragma omp parallel num_threads(NT) shared(s, x)
#pragma omp single
    {
#pragma omp taskgroup task_reduction(+ : s) task_reduction(^ : x)
        {
            for (long i = 1; i <= N; i++) {
#pragma omp task in_reduction(+ : s) in_reduction(^ : x) firstprivate(i)
                {
                    s += i;
                    x ^= (unsigned long long)i * 2654435761u;
                }
            }
        }
        /* combined at the end of the taskgroup */
        CHECK(s == tri(N));
    }
    unsigned long long want = 0;
    for (long i = 1; i <= N; i++) want ^= (unsigned long long)i * 2654435761u;
    CHECK(s == tri(N));
    CHECK(x == want);
}

/* Every member opens its own taskgroup on its own variable. */
static void taskgroup_every_member(void) {
    long total = 0;
#pragma omp parallel num_threads(NT) shared(total)
    {
        long mine = 0;
#pragma omp taskgroup task_reduction(+ : mine)
        {
            for (long i = 1; i <= 100; i++) {
#pragma omp task in_reduction(+ : mine) firstprivate(i)
                mine += i;
            }
        }
        CHECK(mine == tri(100));
#pragma omp atomic
        total += mine;
    }
    CHECK(total == NT * tri(100));
}

/* Nested taskgroups: tasks of the inner one reduce into both items. */
static void taskgroup_nested(void) {
    long outer = 0, inner = 0;
#pragma omp parallel num_threads(NT) shared(outer, inner)
#pragma omp single
    {
#pragma omp taskgroup task_reduction(+ : outer)
        {
            for (long i = 1; i <= 100; i++) {
#pragma omp task in_reduction(+ : outer) firstprivate(i)
                outer += i;
            }
#pragma omp taskgroup task_reduction(+ : inner)
            {
                for (long i = 1; i <= 50; i++) {
#pragma omp task in_reduction(+ : inner) in_reduction(+ : outer) firstprivate(i)
                    {
                        inner += i;
                        outer += 1;
                    }
                }
            }
            CHECK(inner == tri(50));
        }
    }
    CHECK(outer == tri(100) + 50);
    CHECK(inner == tri(50));
}

static void taskloops(void) {
    long s = 0, t = 0;
#pragma omp parallel num_threads(NT)
#pragma omp single
    {
#pragma omp taskloop reduction(+ : s) grainsize(7)
        for (long i = 1; i <= N; i++) s += i;
#pragma omp taskgroup task_reduction(+ : t)
        {
#pragma omp taskloop in_reduction(+ : t) num_tasks(13)
            for (long i = 1; i <= N; i++) t += 2 * i;
#pragma omp task in_reduction(+ : t)
            t += 5;
        }
        /* an empty taskloop with a reduction leaves the value alone */
        long e = 42;
        int zero = 0;
#pragma omp taskloop reduction(+ : e)
        for (int i = 0; i < zero; i++) e += i;
        CHECK(e == 42);
    }
    CHECK(s == tri(N));
    CHECK(t == 2 * tri(N) + 5);
}

static void parallel_task_modifier(void) {
    long s = 0;
    int n = 0;
#pragma omp parallel num_threads(NT) reduction(task, + : s) shared(n)
    {
#pragma omp single
        n = omp_get_num_threads();
        for (long i = 1; i <= 100; i++) {
#pragma omp task in_reduction(+ : s) firstprivate(i)
            s += i;
        }
        s += 1; /* the member's own contribution */
    }
    CHECK(s == n * tri(100) + n);
}

static void worksharing_task_modifier(void) {
    long s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0;
    unsigned long long u = 0;
    int ord_next = 0, ord_bad = 0;
#pragma omp parallel num_threads(NT)
    {
#pragma omp for reduction(task, + : s1) schedule(static)
        for (long i = 1; i <= N; i++) {
#pragma omp task in_reduction(+ : s1) firstprivate(i)
            s1 += i;
        }
#pragma omp for reduction(task, + : s2) schedule(dynamic, 3)
        for (long i = 1; i <= N; i++) {
            if (i % 2) {
#pragma omp task in_reduction(+ : s2) firstprivate(i)
                s2 += i;
            } else {
                s2 += i;
            }
        }
#pragma omp for reduction(task, + : s3) schedule(runtime)
        for (long i = 1; i <= N; i++) {
#pragma omp task in_reduction(+ : s3) firstprivate(i)
            s3 += i;
        }
#pragma omp for reduction(task, + : s4) ordered schedule(dynamic)
        for (int i = 0; i < 200; i++) {
#pragma omp task in_reduction(+ : s4) firstprivate(i)
            s4 += i;
#pragma omp ordered
            {
                if (ord_next != i) ord_bad = 1;
                ord_next = i + 1;
            }
        }
#pragma omp for reduction(task, + : u) schedule(guided)
        for (unsigned long long i = 1; i <= (unsigned long long)N; i++) {
#pragma omp task in_reduction(+ : u) firstprivate(i)
            u += i;
        }
#pragma omp sections reduction(task, + : s5)
        {
#pragma omp section
            {
#pragma omp task in_reduction(+ : s5)
                s5 += 1;
            }
#pragma omp section
            {
#pragma omp task in_reduction(+ : s5)
                s5 += 10;
            }
#pragma omp section
            s5 += 100;
        }
    }
    CHECK(s1 == tri(N));
    CHECK(s2 == tri(N));
    CHECK(s3 == tri(N));
    CHECK(s4 == tri(199));
    CHECK(!ord_bad && ord_next == 200);
    CHECK(u == (unsigned long long)tri(N));
    CHECK(s5 == 111);
}

#ifndef __clang__
/* gcc only: scope (clang 14 lacks it), lastprivate(conditional) on
 * loops/sections (GOMP_loop_start / GOMP_sections2_start with `mem`), and
 * a doacross loop with a task reduction (GOMP_loop_doacross_start). */
static void gcc_generic_forms(void) {
    long s = 0, d = 0;
    int last = -1;
    static int lastsec = -1;
    int a[64] = {0};
#pragma omp parallel num_threads(NT)
    {
#pragma omp scope reduction(task, + : s)
        {
#pragma omp task in_reduction(+ : s)
            s += 1;
        }
#pragma omp for lastprivate(conditional : last) schedule(dynamic, 5)
        for (int i = 0; i < N; i++)
            if (i % 7 == 3) last = i;
#pragma omp sections lastprivate(conditional : lastsec)
        {
#pragma omp section
            lastsec = 1;
#pragma omp section
            lastsec = 2;
#pragma omp section
            last = last;
        }
#pragma omp for ordered(1) reduction(task, + : d) schedule(dynamic)
        for (int i = 1; i < 64; i++) {
#pragma omp ordered depend(sink : i - 1)
            a[i] = a[i - 1] + 1;
#pragma omp ordered depend(source)
#pragma omp task in_reduction(+ : d) firstprivate(i)
            d += i;
        }
    }
    int nt = 0;
#pragma omp parallel num_threads(NT)
#pragma omp single
    nt = omp_get_num_threads();
    CHECK(s == nt);
    CHECK(last == 997);
    CHECK(lastsec == 2);
    for (int i = 0; i < 64; i++) CHECK(a[i] == i);
    CHECK(d == tri(63));
}
#endif

/* Orphaned: a taskgroup with task reductions outside any parallel. */
static void orphaned(void) {
    long s = 0;
#pragma omp taskgroup task_reduction(+ : s)
    {
        for (long i = 1; i <= 10; i++) {
#pragma omp task in_reduction(+ : s) firstprivate(i)
            s += i;
        }
    }
    CHECK(s == tri(10));
}

int main(void) {
    for (int rep = 0; rep < 5; rep++) {
        taskgroup_single_producer();
        taskgroup_every_member();
        taskgroup_nested();
        taskloops();
        parallel_task_modifier();
        worksharing_task_modifier();
#ifndef __clang__
        gcc_generic_forms();
#endif
    }
    /* last: libgomp turns the initial thread into an artificial team for
     * it, after which its regions misbehave (hang) */
    orphaned();
    puts("omp_taskred: ok");
    return 0;
}
