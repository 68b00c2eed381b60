/* omp_tasks.c: explicit tasks. Deferred tasks from one producer run on
 * the whole team (idle members at the single's barrier take them);
 * recursive tasks with taskwait inside tasks (a member blocked in
 * taskwait must not stop the others: 8 members on 1 hart complete);
 * if(0) and final tasks run at once; omp_in_final; taskgroup waits for
 * descendants; taskyield; mergeable/untied/priority/affinity accepted; tasks
 * still queued when the region's body ends complete before the region
 * does; tasks created by every member; a task opening a nested region. */
#include <omp.h>

#include "check.h"

#define T 8

static int fib(int n) {
    if (n < 2) return n;
    int a, b;
#pragma omp task shared(a) firstprivate(n)
    a = fib(n - 1);
#pragma omp task shared(b) firstprivate(n)
    b = fib(n - 2);
#pragma omp taskwait
    return a + b;
}

static int fib_untied(int n) {
    if (n < 2) return n;
    int a, b;
#pragma omp task shared(a) firstprivate(n) untied
    a = fib_untied(n - 1);
#pragma omp task shared(b) firstprivate(n) untied mergeable
    b = fib_untied(n - 2);
#pragma omp taskwait
    return a + b;
}

int main(void) {
    /* One producer, the team consumes; every task runs once, on a member. */
    int ran[2000] = {0}, bad_tid = 0;
#pragma omp parallel num_threads(T)
#pragma omp single
    for (int i = 0; i < 2000; ++i) {
#pragma omp task firstprivate(i) shared(ran, bad_tid)
        {
            int me = omp_get_thread_num();
            if (me < 0 || me >= T) {
#pragma omp atomic
                bad_tid++;
            }
#pragma omp atomic
            ran[i]++;
        }
    }
    for (int i = 0; i < 2000; ++i) CHECK(ran[i] == 1);
    CHECK(bad_tid == 0);

    /* Recursive tasks, taskwait inside tasks. */
    int f = 0, fu = 0;
#pragma omp parallel num_threads(T)
#pragma omp single
    {
        f = fib(20);
        fu = fib_untied(16);
    }
    CHECK(f == 6765 && fu == 987);

    /* if(0): undeferred, done before the encountering task continues;
     * final: the task and its descendants are final and included. */
    int und = 0, in_final = 0, child_final = 0, seen = 0, not_final = -1;
#pragma omp parallel num_threads(T)
#pragma omp single
    {
#pragma omp task if (0) shared(und)
        und = 1;
        CHECK(und == 1);
#pragma omp task final(1) shared(in_final, child_final, seen)
        {
            int x = 0;
            in_final = omp_in_final();
#pragma omp task shared(x, child_final)
            {
                x = 42;
                child_final = omp_in_final();
            }
            seen = x; /* included task: already done, no taskwait */
        }
#pragma omp task shared(not_final)
        not_final = omp_in_final();
#pragma omp taskwait
    }
    CHECK(in_final == 1 && child_final == 1 && seen == 42 && not_final == 0);

    /* taskgroup waits for children and grandchildren; taskwait does not
     * wait for grandchildren, but the group does. */
    int grand = 0;
#pragma omp parallel num_threads(T)
#pragma omp single
    {
#pragma omp taskgroup
        {
            for (int i = 0; i < 20; ++i) {
#pragma omp task shared(grand)
                {
                    for (int j = 0; j < 10; ++j) {
#pragma omp task shared(grand)
                        {
#pragma omp taskyield
#pragma omp atomic
                            grand++;
                        }
                    }
                }
            }
        }
        CHECK(grand == 200);
    }

    /* Tasks from every member, priorities, and a region whose body ends
     * with tasks still queued (single nowait: no barrier but the end). */
    int made = 0;
#pragma omp parallel num_threads(T)
    {
#pragma omp single nowait
        for (int i = 0; i < 300; ++i) {
#pragma omp task priority(i % 4) shared(made)
            {
#pragma omp atomic
                made++;
            }
        }
        for (int i = 0; i < 50; ++i) {
#pragma omp task shared(made)
            {
#pragma omp atomic
                made++;
            }
        }
    }
    CHECK(made == 300 + 50 * T);

    /* A barrier completes only after all tasks created before it. */
    int before = 0, after_bad = 0;
#pragma omp parallel num_threads(T) reduction(+ : after_bad)
    {
        for (int i = 0; i < 20; ++i) {
#pragma omp task shared(before)
            {
#pragma omp atomic
                before++;
            }
        }
#pragma omp barrier
        int b;
#pragma omp atomic read
        b = before;
        after_bad += b != 20 * T;
    }
    CHECK(after_bad == 0);

    /* A task opening a nested region, with tasks of its own (the inner
     * team's pool), then carrying on as the same task. */
    omp_set_max_active_levels(2);
    int nested_bad = 0, inner_tasks = 0;
#pragma omp parallel num_threads(4)
#pragma omp single
    for (int t = 0; t < 4; ++t) {
#pragma omp task shared(nested_bad, inner_tasks)
        {
            int outer_tid = omp_get_thread_num();
#pragma omp parallel num_threads(2)
            {
                if (omp_get_num_threads() != 2 || omp_get_level() != 2 ||
                    omp_get_ancestor_thread_num(1) != outer_tid) {
#pragma omp atomic
                    nested_bad++;
                }
#pragma omp task shared(inner_tasks)
                {
#pragma omp atomic
                    inner_tasks++;
                }
            }
            if (omp_get_thread_num() != outer_tid || omp_get_level() != 1) {
#pragma omp atomic
                nested_bad++;
            }
        }
    }
    omp_set_max_active_levels(1);
    CHECK(nested_bad == 0 && inner_tasks == 8);

    /* Outside any region: tasks run (undeferred) too; affinity is a hint. */
    int outside = 0;
#pragma omp task shared(outside)
    outside = 7;
#pragma omp task affinity(ran[0:10]) shared(outside)
    outside += ran[3];
#pragma omp taskwait
    CHECK(outside == 8);
    return 0;
}
