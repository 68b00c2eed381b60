/* omp_detach.c: detachable tasks (detach(event) + omp_fulfill_event).
 * A detached task completes only when its body has ended *and* its event
 * is fulfilled, whichever comes last, whoever fulfils it:
 *  - fulfilled by another task (on any member) after the body ended: its
 *    dependent task, taskwait and the barrier wait for the fulfilment;
 *  - fulfilled inside its own body (before the body ends);
 *  - fulfilled by a foreign pthread while the team waits in taskwait;
 *  - undeferred (if(0)) detached tasks, in and outside a region;
 *  - many detached tasks fulfilled in reverse order by the last task.
 * 4 members (more than harts at PARLIB_VCORES=1, 2). */
#include <omp.h>
#include <pthread.h>
#include <unistd.h>

#include "check.h"

#define NT 4

static void fulfilled_by_later_task(void) {
    int fulfilled = 0, seen = -1, dep = 0;
#pragma omp parallel num_threads(NT) shared(fulfilled, seen, dep)
#pragma omp single
    {
        omp_event_handle_t ev;
#pragma omp task detach(ev) depend(out : dep)
        dep = 1;
        /* depends on the detached task: runs only after the fulfilment */
#pragma omp task depend(in : dep) shared(seen, fulfilled)
        {
#pragma omp atomic read
            seen = fulfilled;
        }
#pragma omp task firstprivate(ev) shared(fulfilled)
        {
            usleep(2000);
#pragma omp atomic write
            fulfilled = 1;
            omp_fulfill_event(ev);
        }
#pragma omp taskwait
        CHECK(fulfilled == 1);
        CHECK(seen == 1);
    }
}

static void fulfilled_in_body(void) {
    int ran = 0;
#pragma omp parallel num_threads(NT) shared(ran)
    {
        omp_event_handle_t ev;
#pragma omp task detach(ev) shared(ran)
        {
#pragma omp atomic
            ran++;
            omp_fulfill_event(ev);
        }
#pragma omp taskwait
    }
    CHECK(ran == NT);
}

/* The barrier at the end of a region waits for detached tasks. */
static void barrier_waits(void) {
    int done = 0;
#pragma omp parallel num_threads(NT) shared(done)
    {
#pragma omp single nowait
        {
            omp_event_handle_t ev;
#pragma omp task detach(ev) shared(done)
            {
#pragma omp atomic
                done += 0;
            }
#pragma omp task firstprivate(ev) shared(done)
            {
                usleep(3000);
#pragma omp atomic write
                done = 1;
                omp_fulfill_event(ev);
            }
        }
    }
    CHECK(done == 1);
}

static omp_event_handle_t g_ev;
static volatile int g_thread_fulfilled;
static int g_ran;
static void *fulfil_later(void *arg) {
    (void)arg;
    usleep(5000);
    g_thread_fulfilled = 1;
    omp_fulfill_event(g_ev);
    return NULL;
}

static void fulfilled_by_pthread(void) {
    pthread_t th;
    g_thread_fulfilled = 0;
#pragma omp parallel num_threads(NT)
#pragma omp single
    {
        omp_event_handle_t ev;
#pragma omp task detach(ev)
        {
#pragma omp atomic
            g_ran++;
        }
        g_ev = ev;
        CHECK(pthread_create(&th, NULL, fulfil_later, NULL) == 0);
#pragma omp taskwait
        CHECK(g_thread_fulfilled == 1);
    }
    pthread_join(th, NULL);
}

static void undeferred(void) {
    int n = 0;
    omp_event_handle_t ev = 0;
#pragma omp task detach(ev) if (0) shared(n)
    {
        n++;
        omp_fulfill_event(ev);
    }
    CHECK(n == 1);
#pragma omp parallel num_threads(NT) shared(n)
#pragma omp single
    {
        omp_event_handle_t e2;
#pragma omp task detach(e2) if (0) shared(n)
        {
            n++;
            omp_fulfill_event(e2);
        }
#pragma omp taskwait
        CHECK(n == 2);
    }
}

#define M 64
static void reverse_order(void) {
    int order[M], k = 0;
    omp_event_handle_t evs[M];
#pragma omp parallel num_threads(NT) shared(order, k, evs)
#pragma omp single
    {
        for (int i = 0; i < M; i++) {
            omp_event_handle_t ev;
#pragma omp task detach(ev) firstprivate(i) shared(order)
            order[i] = i;
            evs[i] = ev;
        }
#pragma omp task shared(evs)
        for (int i = M - 1; i >= 0; i--) omp_fulfill_event(evs[i]);
#pragma omp taskwait
        k = M;
    }
    CHECK(k == M);
    for (int i = 0; i < M; i++) CHECK(order[i] == i);
}

int main(void) {
    for (int rep = 0; rep < 10; rep++) {
        fulfilled_by_later_task();
        fulfilled_in_body();
        barrier_waits();
        fulfilled_by_pthread();
        undeferred();
        reverse_order();
    }
    puts("omp_detach: ok");
    return 0;
}
