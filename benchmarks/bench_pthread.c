/* bench_pthread: per-operation costs of the pthread calls a threaded
 * program makes, on whatever pthreads the process gets: glibc's NPTL, or
 * lithe's adapter when benchmarks/bench_pthread.sh runs it with
 * LD_PRELOAD=liblithe_pthread.so (docs/pthread.md). Plain C and pthreads
 * only, and never linked against lithe, so the one binary measures both.
 *
 *   bench_pthread MODE [ITERS [THREADS]]
 *
 * MODE (ITERS default: sized for ~0.1-0.5 s on the 2-CPU VM):
 *   pipe     two threads pass one byte back and forth over two pipes
 *            (blocking read/write); per round trip
 *   condvar  the same ping-pong with one mutex, a turn flag and two
 *            condition variables; per round trip
 *   sem      the same ping-pong with two semaphores; per round trip
 *   mutex    THREADS (default 4) threads increment one counter under one
 *            mutex, ITERS increments in all; per lock + unlock
 *   create   pthread_create + pthread_join of a thread that returns at
 *            once; per pair
 *   yield    two threads call sched_yield ITERS times each; per call (of
 *            the 2 * ITERS)
 * Each mode runs once untimed with ITERS / 10 (the warm-up: first-touch of
 * stacks, lithe's scheduler and backing threads made), then timed with
 * ITERS on CLOCK_MONOTONIC, and prints one line:
 *   MODE NS_PER_OP ITERS
 * A result that shows the work was not done (a lost increment, a wrong
 * byte) exits 1: a broken runtime must not produce a fast number.
 *
 * Runs in the main thread (a lithe context under the adapter) and the
 * threads it makes; the ping-pongs and yields run both sides in made
 * threads, so main only waits in pthread_join. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what, int err) {
    fprintf(stderr, "bench_pthread: %s: %s\n", what, strerror(err));
    exit(1);
}

static void check(int rc, const char *what) {
    if (rc != 0) die(what, rc);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Runs `a` and `b` as two threads on one argument and joins them. */
static void run_pair(void *(*a)(void *), void *(*b)(void *), void *arg) {
    pthread_t ta, tb;
    check(pthread_create(&ta, NULL, a, arg), "pthread_create");
    check(pthread_create(&tb, NULL, b, arg), "pthread_create");
    check(pthread_join(ta, NULL), "pthread_join");
    check(pthread_join(tb, NULL), "pthread_join");
}

/* pipe: `ping` writes to fwd and reads the echo from back; `pong` echoes. */
struct pipes {
    long iters;
    int fwd[2], back[2];
};

/* One byte in or out; anything else is a failure (a short or failed call). */
static void put(int fd, char c) {
    ssize_t n = write(fd, &c, 1);
    if (n != 1) die("write", n < 0 ? errno : EIO);
}

static char get(int fd) {
    char c;
    ssize_t n = read(fd, &c, 1);
    if (n != 1) die("read", n < 0 ? errno : EIO);
    return c;
}

static void *pipe_ping(void *arg) {
    struct pipes *p = arg;
    for (long i = 0; i < p->iters; ++i) {
        put(p->fwd[1], (char)i);
        if (get(p->back[0]) != (char)i) die("pipe ping-pong got another byte", EIO);
    }
    return NULL;
}

static void *pipe_pong(void *arg) {
    struct pipes *p = arg;
    for (long i = 0; i < p->iters; ++i) put(p->back[1], get(p->fwd[0]));
    return NULL;
}

static double bench_pipe(long iters) {
    struct pipes p = {.iters = iters};
    if (pipe(p.fwd) != 0 || pipe(p.back) != 0) die("pipe", errno);
    double t0 = now();
    run_pair(pipe_ping, pipe_pong, &p);
    double t = now() - t0;
    close(p.fwd[0]), close(p.fwd[1]), close(p.back[0]), close(p.back[1]);
    return t;
}

/* condvar: `turn` says whose move it is; each side waits on its own
 * condition variable. */
struct cv {
    long iters;
    pthread_mutex_t m;
    pthread_cond_t to_ping, to_pong;
    int turn;  /* 0: ping's move, 1: pong's */
};

static void cv_side(struct cv *s, int me, pthread_cond_t *mine, pthread_cond_t *other) {
    check(pthread_mutex_lock(&s->m), "pthread_mutex_lock");
    for (long i = 0; i < s->iters; ++i) {
        while (s->turn != me) check(pthread_cond_wait(mine, &s->m), "pthread_cond_wait");
        s->turn = !me;
        check(pthread_cond_signal(other), "pthread_cond_signal");
    }
    check(pthread_mutex_unlock(&s->m), "pthread_mutex_unlock");
}

static void *cv_ping(void *arg) {
    struct cv *s = arg;
    cv_side(s, 0, &s->to_ping, &s->to_pong);
    return NULL;
}

static void *cv_pong(void *arg) {
    struct cv *s = arg;
    cv_side(s, 1, &s->to_pong, &s->to_ping);
    return NULL;
}

static double bench_condvar(long iters) {
    struct cv s = {.iters = iters, .m = PTHREAD_MUTEX_INITIALIZER,
                   .to_ping = PTHREAD_COND_INITIALIZER, .to_pong = PTHREAD_COND_INITIALIZER};
    double t0 = now();
    run_pair(cv_ping, cv_pong, &s);
    double t = now() - t0;
    if (s.turn != 0) die("condvar ping-pong ended on pong's move", EIO);
    return t;
}

/* sem: ping posts `fwd` and waits on `back`; pong the reverse. */
struct sems {
    long iters;
    sem_t fwd, back;
};

static void spost(sem_t *s) {
    if (sem_post(s) != 0) die("sem_post", errno);
}

static void swait(sem_t *s) {
    while (sem_wait(s) != 0)
        if (errno != EINTR) die("sem_wait", errno);
}

static void *sem_ping(void *arg) {
    struct sems *s = arg;
    for (long i = 0; i < s->iters; ++i) spost(&s->fwd), swait(&s->back);
    return NULL;
}

static void *sem_pong(void *arg) {
    struct sems *s = arg;
    for (long i = 0; i < s->iters; ++i) swait(&s->fwd), spost(&s->back);
    return NULL;
}

static double bench_sem(long iters) {
    struct sems s = {.iters = iters};
    if (sem_init(&s.fwd, 0, 0) != 0 || sem_init(&s.back, 0, 0) != 0) die("sem_init", errno);
    double t0 = now();
    run_pair(sem_ping, sem_pong, &s);
    double t = now() - t0;
    int v1, v2;
    sem_getvalue(&s.fwd, &v1), sem_getvalue(&s.back, &v2);
    if (v1 != 0 || v2 != 0) die("sem ping-pong left units", EIO);
    sem_destroy(&s.fwd), sem_destroy(&s.back);
    return t;
}

/* mutex: the threads start together at a barrier; the time is the span
 * from the first one's start to the last one's end, each read by the
 * thread itself (main's clock would be wrong under cooperative
 * scheduling: at one hart the workers run to the end before main returns
 * from the barrier). */
struct counter {
    long per_thread;
    pthread_mutex_t m;
    pthread_barrier_t start;
    volatile long value;  /* volatile: each increment is a real load + store */
};

struct worker {
    struct counter *c;
    double start, end;
};

static void *mutex_worker(void *arg) {
    struct worker *w = arg;
    struct counter *c = w->c;
    pthread_barrier_wait(&c->start);
    w->start = now();
    for (long i = 0; i < c->per_thread; ++i) {
        check(pthread_mutex_lock(&c->m), "pthread_mutex_lock");
        c->value = c->value + 1;
        check(pthread_mutex_unlock(&c->m), "pthread_mutex_unlock");
    }
    w->end = now();
    return NULL;
}

static int mutex_threads = 4;

static double bench_mutex(long iters) {
    int n = mutex_threads;
    struct counter c = {.per_thread = iters / n, .m = PTHREAD_MUTEX_INITIALIZER};
    pthread_t t[n];
    struct worker w[n];
    check(pthread_barrier_init(&c.start, NULL, n), "pthread_barrier_init");
    for (int i = 0; i < n; ++i) {
        w[i].c = &c;
        check(pthread_create(&t[i], NULL, mutex_worker, &w[i]), "pthread_create");
    }
    double first = 0, last = 0;
    for (int i = 0; i < n; ++i) {
        check(pthread_join(t[i], NULL), "pthread_join");
        if (i == 0 || w[i].start < first) first = w[i].start;
        if (i == 0 || w[i].end > last) last = w[i].end;
    }
    pthread_barrier_destroy(&c.start);
    if (c.value != c.per_thread * n) die("mutex counter lost increments", EIO);
    return (last - first) * iters / (c.per_thread * n);  /* per lock, scaled to `iters` */
}

static void *nothing(void *arg) { return arg; }

static double bench_create(long iters) {
    double t0 = now();
    for (long i = 0; i < iters; ++i) {
        pthread_t t;
        void *r;
        check(pthread_create(&t, NULL, nothing, (void *)i), "pthread_create");
        check(pthread_join(t, &r), "pthread_join");
        if (r != (void *)i) die("pthread_join returned another value", EIO);
    }
    return now() - t0;
}

static long yield_iters;

static void *yielder(void *arg) {
    for (long i = 0; i < yield_iters; ++i) sched_yield();
    return arg;
}

static double bench_yield(long iters) {
    yield_iters = iters;
    double t0 = now();
    run_pair(yielder, yielder, NULL);
    return (now() - t0) / 2;  /* per call of the 2 * iters */
}

static const struct mode {
    const char *name;
    double (*run)(long iters);  /* seconds for `iters` operations */
    long iters;
} modes[] = {
    {"pipe", bench_pipe, 10000},
    {"condvar", bench_condvar, 10000},
    {"sem", bench_sem, 10000},
    {"mutex", bench_mutex, 4000000},
    {"create", bench_create, 5000},
    {"yield", bench_yield, 200000},
};

int main(int argc, char **argv) {
    const struct mode *m = NULL;
    for (size_t i = 0; argc > 1 && i < sizeof modes / sizeof modes[0]; ++i)
        if (strcmp(argv[1], modes[i].name) == 0) m = &modes[i];
    if (!m) {
        fprintf(stderr, "usage: bench_pthread pipe|condvar|sem|mutex|create|yield [ITERS [THREADS]]\n");
        return 2;
    }
    long iters = argc > 2 ? atol(argv[2]) : m->iters;
    if (argc > 3) mutex_threads = atoi(argv[3]);
    if (iters < 10 || mutex_threads < 1 || iters < mutex_threads) {
        fprintf(stderr, "bench_pthread: ITERS must be >= 10 and >= THREADS >= 1\n");
        return 2;
    }
    m->run(iters / 10);
    double t = m->run(iters);
    printf("%s %.1f %ld\n", m->name, t * 1e9 / iters, iters);
    return 0;
}
