// omp_in_fj.cpp: OpenMP composed with another lithe scheduler. main enters
// a fork-join scheduler and spawns 3 contexts; each runs an OpenMP region
// of 3 members. Every region must be a child of the fork-join scheduler
// (its members run in a scheduler of their own, neither the fork-join one
// nor the base, while the fork-join scheduler has entered children), and
// every result must be right. Linked against
// liblithe_omp only (it calls lithe directly).
#include <lithe/fork_join.h>
#include <omp.h>

#include <atomic>

#include "check.h"

static lithe_fj_sched_t *g_fj;
static std::atomic<int> g_bad{0};
static long g_sums[3];

static void ctx_main(void *arg) {
    long k = reinterpret_cast<long>(arg);
    long sum = 0;
#pragma omp parallel num_threads(3) reduction(+ : sum)
    {
        // The member runs in the region's own scheduler, which the
        // fork-join scheduler counts among its entered children.
        lithe_sched_t *cur = lithe_sched_current();
        struct lithe_sched_stats st;
        lithe_sched_stats(&g_fj->sched, &st);
        if (cur == &g_fj->sched || cur == lithe_sched_base() ||
            st.children < 1)
            g_bad++;
        if (omp_get_num_threads() != 3) g_bad++;
#pragma omp for schedule(dynamic, 4)
        for (long i = 0; i < 1000; ++i) sum += i * k;
    }
    g_sums[k - 1] = sum;
}

int main() {
    g_fj = lithe_fj_sched_create();
    CHECK(lithe_sched_enter(&g_fj->sched) == LITHE_OK);
    for (long k = 1; k <= 3; ++k)
        lithe_fj_context_create(g_fj, 0, ctx_main, reinterpret_cast<void *>(k));
    lithe_fj_sched_join_all(g_fj);
    CHECK(lithe_sched_exit() == LITHE_OK);
    lithe_fj_sched_destroy(g_fj);
    CHECK(g_bad.load() == 0);
    for (long k = 1; k <= 3; ++k) CHECK(g_sums[k - 1] == 499500L * k);
    printf("omp_in_fj: ok\n");
    return 0;
}
