/* omp_gomp_legacy.c: GOMP 1.0's split-region ABI (what gcc before 4.9
 * emitted), called directly: GOMP_parallel_start returns to the master,
 * which runs fn itself, then GOMP_parallel_end joins; the
 * parallel_loop_*_start and parallel_sections_start forms also start the
 * worksharing construct the members then continue with *_next. Checks team
 * sizes and member numbers, that every iteration / section runs exactly
 * once, nesting, and many rounds. */
#include <omp.h>
#include <stdbool.h>
#include <string.h>

#include "check.h"

void GOMP_parallel_start(void (*)(void *), void *, unsigned);
void GOMP_parallel_end(void);
void GOMP_parallel_loop_static_start(void (*)(void *), void *, unsigned,
                                     long, long, long, long);
void GOMP_parallel_loop_dynamic_start(void (*)(void *), void *, unsigned,
                                      long, long, long, long);
void GOMP_parallel_loop_guided_start(void (*)(void *), void *, unsigned,
                                     long, long, long, long);
void GOMP_parallel_loop_runtime_start(void (*)(void *), void *, unsigned,
                                      long, long, long);
void GOMP_parallel_sections_start(void (*)(void *), void *, unsigned,
                                  unsigned);
bool GOMP_loop_static_next(long *, long *);
bool GOMP_loop_dynamic_next(long *, long *);
bool GOMP_loop_guided_next(long *, long *);
bool GOMP_loop_runtime_next(long *, long *);
void GOMP_loop_end_nowait(void);
unsigned GOMP_sections_next(void);
void GOMP_sections_end_nowait(void);

#define NT 4
#define END 2003
static int seen[NT], nthr[NT], hits[END], secs[20];
static int inner_ok;

static void body(void *arg) {
    (void)arg;
    int id = omp_get_thread_num();
    CHECK(id >= 0 && id < NT);
    __atomic_fetch_add(&seen[id], 1, __ATOMIC_RELAXED);
    nthr[id] = omp_get_num_threads();
}

typedef bool (*next_fn)(long *, long *);
static void loop_body(void *arg) {
    next_fn next = (next_fn)arg;
    long s, e;
    while (next(&s, &e))
        for (long i = s; i < e; i += 2) __atomic_fetch_add(&hits[i], 1, __ATOMIC_RELAXED);
    GOMP_loop_end_nowait();
}

static void sections_body(void *arg) {
    (void)arg;
    unsigned s;
    while ((s = GOMP_sections_next()) != 0)
        __atomic_fetch_add(&secs[s], 1, __ATOMIC_RELAXED);
    GOMP_sections_end_nowait();
}

static void inner(void *arg) {
    (void)arg;
    if (omp_get_level() == 2 && omp_get_num_threads() == 2)
        __atomic_fetch_add(&inner_ok, 1, __ATOMIC_RELAXED);
}
static void outer(void *arg) {
    (void)arg;
    GOMP_parallel_start(inner, 0, 2);
    inner(0);
    GOMP_parallel_end();
    CHECK(omp_get_level() == 1 && omp_get_num_threads() == 2);
}

static void check_loop(void (*start)(void (*)(void *), void *, unsigned,
                                     long, long, long, long),
                       next_fn next, long chunk) {
    memset(hits, 0, sizeof hits);
    start(loop_body, (void *)next, NT, 3, END, 2, chunk);
    loop_body((void *)next);
    GOMP_parallel_end();
    for (int i = 0; i < END; ++i) CHECK(hits[i] == (i >= 3 && i % 2 == 1));
}

int main(void) {
    omp_set_dynamic(0);
    omp_set_max_active_levels(2);
    for (int round = 0; round < 50; ++round) {
        memset(seen, 0, sizeof seen);
        GOMP_parallel_start(body, 0, NT);
        body(0);
        CHECK(omp_in_parallel() && omp_get_thread_num() == 0);
        GOMP_parallel_end();
        CHECK(!omp_in_parallel() && omp_get_level() == 0);
        for (int i = 0; i < NT; ++i) CHECK(seen[i] == 1 && nthr[i] == NT);

        check_loop(GOMP_parallel_loop_static_start, GOMP_loop_static_next, 0);
        check_loop(GOMP_parallel_loop_static_start, GOMP_loop_static_next, 3);
        check_loop(GOMP_parallel_loop_dynamic_start, GOMP_loop_dynamic_next, 5);
        check_loop(GOMP_parallel_loop_guided_start, GOMP_loop_guided_next, 2);
        memset(hits, 0, sizeof hits);
        GOMP_parallel_loop_runtime_start(loop_body, (void *)GOMP_loop_runtime_next,
                                         NT, 3, END, 2);
        loop_body((void *)GOMP_loop_runtime_next);
        GOMP_parallel_end();
        for (int i = 0; i < END; ++i) CHECK(hits[i] == (i >= 3 && i % 2 == 1));

        memset(secs, 0, sizeof secs);
        GOMP_parallel_sections_start(sections_body, 0, NT, 12);
        sections_body(0);
        GOMP_parallel_end();
        for (int i = 1; i <= 12; ++i) CHECK(secs[i] == 1);
        CHECK(secs[0] == 0 && secs[13] == 0);

        inner_ok = 0;
        GOMP_parallel_start(outer, 0, 2);
        outer(0);
        GOMP_parallel_end();
        CHECK(inner_ok == 4);
    }
    return 0;
}
