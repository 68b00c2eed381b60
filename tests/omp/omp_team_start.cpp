// omp_team_start.cpp: the ways a team member is started and counted off
// (docs/omp.md, "Team and hart policy"): a hart entering the region
// claims an unstarted member, or the master runs it at the join; the last
// member to dock hands its hart to a master blocked in the join or gives
// it back to the parent. Regions of 2-5 members on the default harts, in
// three timings (no delay; the master slow, so members start and dock
// elsewhere before it joins; members slow, so the master claims or waits),
// while a sibling context of the same parent scheduler keeps asking for
// harts. Checked per region: every member ran once, in a team of the
// right size; member k is the same context in every region (hot team); and
// after the region the accounting of the parent and of the base (which
// owns the docked members) is where it was (no hart request, context or
// child left behind by the region). The sibling must
// finish its work (it gets harts while regions run back to back). Linked
// against liblithe_omp only (it calls lithe directly).
#include <lithe/fork_join.h>
#include <omp.h>
#include <time.h>

#include <atomic>

#include "beside_sibling.hpp"
#include "check.h"

using namespace beside_sibling;

static std::atomic<int> g_bad{0};
static thread_local int tls_mark;  // one per member context
static void *g_member_tls[5];  // [tid]: &tls_mark of member tid

static bool same(const struct lithe_sched_stats &a,
                 const struct lithe_sched_stats &b) {
    return a.requested == b.requested && a.contexts == b.contexts &&
           a.children == b.children;
}

static void regions(void *) {
    // The reference counts must include the sibling and main blocked in
    // join_all: main may get there only after this context has started on
    // another hart. Then warm up: every team size once, so the pool is
    // complete and the parent's context count is final (the warm-up also
    // gives main time to block).
    while (!sibling_created.load()) lithe_context_yield();
    for (int n = 2; n <= 5; ++n) {
#pragma omp parallel num_threads(n)
        g_member_tls[omp_get_thread_num()] = &tls_mark;
    }
    struct lithe_sched_stats before, after, base_before, base_after;
    lithe_sched_stats(&fj->sched, &before);
    lithe_sched_stats(lithe_sched_base(), &base_before);
    for (int r = 0; r < 3000; ++r) {
        int n = 2 + r % 4, mode = (r / 4) % 3;
        std::atomic<int> ran{0};
#pragma omp parallel num_threads(n)
        {
            int id = omp_get_thread_num();
            if (mode == 1 && id == 0) spin_us(30);
            if (mode == 2 && id != 0) spin_us(5);
            if (omp_get_num_threads() != n) g_bad++;
            if (id != 0 && g_member_tls[id] != &tls_mark) g_bad++;
            if (ran.fetch_or(1 << id) & (1 << id)) g_bad++;
        }
        if (ran.load() != (1 << n) - 1) g_bad++;
        lithe_sched_stats(&fj->sched, &after);
        lithe_sched_stats(lithe_sched_base(), &base_after);
        if (!same(base_before, base_after)) {
            fprintf(stderr, "region %d: the base's accounting changed\n", r);
            g_bad++;
            break;
        }
        if (!same(before, after)) {
            fprintf(stderr,
                    "region %d (%d members, mode %d): requested %lld -> "
                    "%lld, contexts %llu -> %llu, children %d -> %d\n",
                    r, n, mode, (long long)before.requested,
                    (long long)after.requested,
                    (unsigned long long)before.contexts,
                    (unsigned long long)after.contexts, before.children,
                    after.children);
            g_bad++;
            break;
        }
    }
    regions_done = true;
}

int main() {
    beside_sibling::run(regions);
    CHECK(g_bad.load() == 0);
    printf("omp_team_start: ok\n");
    return 0;
}
