// omp_short_regions.cpp: regions at a call site that has been short start
// without asking for harts (docs/omp.md, "Team and hart policy"; team.cpp,
// "Short regions"), and that must never cost correctness or accounting.
// One call site (region() below), driven in phases:
//   1. short regions (no delay) of 2-5 members: after a few, the master
//      sees its region request nothing (requested == 0) and no hart is
//      granted to it (harts == 1, grants_received == 0); every member
//      runs once, in the right team, member k being the same context.
//   2. a long region (the master spins 200 µs, or only the other members
//      spin 50 µs each) makes the next one ask again (requested == n - 1
//      seen by the master at the body's start).
//   3. skipped regions whose master gives its hart up inside the body:
//      it blocks in a barrier the members reach late (the block counts
//      off an unrequested member instead of a request), or it yields
//      until member 1 has run (its hart claims the member, no count).
//   4. a skipped region whose members busy-wait on each other in user
//      code (each spins until every other one has arrived): it finishes
//      only if the slicer turns the skipped request into one (or slices
//      the members), at any PARLIB_VCORES.
// With LITHE_OMP_SLICE_US=0 (no slicer, so nothing would start a skipped
// region's busy-waiting members) no region may be skipped: the test then
// checks that 200 short regions of each size all ask.
// After every region: the parent's and the base's request and context
// counts are where they were (nothing left behind), as in
// omp_team_start.cpp, while a sibling context of the same parent keeps
// asking for harts (and must finish its steps). Linked against
// liblithe_omp only (it calls lithe directly).
#include <lithe/fork_join.h>
#include <omp.h>
#include <time.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "beside_sibling.hpp"
#include "check.h"

using namespace beside_sibling;

static std::atomic<int> g_bad{0};
static thread_local int tls_mark;
static void *g_member_tls[5];

enum Mode { kShort, kLong, kBarrier, kYield, kBusyWait, kMembersLong };

struct Seen {
    long long requested = -1;  // the region's, at member 0's body start
    int harts = 0;
    unsigned long long grants = 0;
};

// The one call site: every phase's regions share its hint.
static void region(int n, Mode mode, Seen *seen) {
    std::atomic<int> ran{0}, arrived{0};
    std::atomic<bool> read{false};
#pragma omp parallel num_threads(n)
    {
        int id = omp_get_thread_num();
        if (id == 0) {
            struct lithe_sched_stats st;
            lithe_sched_stats(lithe_sched_current(), &st);
            seen->requested = st.requested;
            seen->harts = st.harts;
            seen->grants = st.grants_received;
            read = true;
        } else {
            // A member that ran on another hart must not dock before the
            // master has read the region's request count.
            while (!read.load()) {
            }
        }
        if (omp_get_num_threads() != n) g_bad++;
        if (id != 0 && g_member_tls[id] != &tls_mark) g_bad++;
        if (ran.fetch_or(1 << id) & (1 << id)) g_bad++;
        switch (mode) {
        case kShort:
            break;
        case kLong:
            if (id == 0) spin_us(200);
            break;
        case kMembersLong:
            if (id != 0) spin_us(50);
            break;
        case kBarrier:
            if (id != 0) spin_us(20);
#pragma omp barrier
            if (ran.load() != (1 << n) - 1) g_bad++;
            break;
        case kYield:
            if (id == 0)
                while (!(ran.load() & 2)) lithe_context_yield();
            break;
        case kBusyWait:
            arrived++;
            while (arrived.load() < n) {
            }
            break;
        }
    }
    if (ran.load() != (1 << n) - 1) g_bad++;
}

static bool same(const struct lithe_sched_stats &a,
                 const struct lithe_sched_stats &b) {
    return a.requested == b.requested && a.contexts == b.contexts &&
           a.children == b.children;
}

static struct lithe_sched_stats g_before, g_base_before;

static bool accounting_ok(int r, int n, Mode mode) {
    struct lithe_sched_stats after, base_after;
    lithe_sched_stats(&fj->sched, &after);
    lithe_sched_stats(lithe_sched_base(), &base_after);
    if (same(g_before, after) && same(g_base_before, base_after)) return true;
    fprintf(stderr,
            "region %d (%d members, mode %d): parent requested %lld -> %lld, "
            "contexts %llu -> %llu; base requested %lld -> %lld, contexts "
            "%llu -> %llu\n",
            r, n, mode, (long long)g_before.requested,
            (long long)after.requested,
            (unsigned long long)g_before.contexts,
            (unsigned long long)after.contexts,
            (long long)g_base_before.requested,
            (long long)base_after.requested,
            (unsigned long long)g_base_before.contexts,
            (unsigned long long)base_after.contexts);
    g_bad++;
    return false;
}

// Short regions until the master sees one that asked for nothing; false
// if that never happens.
static bool until_skipped(int n, int *r) {
    for (int k = 0; k < 200; ++k, ++*r) {
        Seen s;
        region(n, kShort, &s);
        if (!accounting_ok(*r, n, kShort)) return false;
        if (s.requested == 0) {
            if (s.harts != 1 || s.grants != 0) {
                fprintf(stderr,
                        "skipped region %d: %d harts, %llu grants received\n",
                        *r, s.harts, s.grants);
                g_bad++;
            }
            return true;
        }
        if (s.requested != n - 1) {
            fprintf(stderr, "region %d: requested %lld at the start\n", *r,
                    s.requested);
            g_bad++;
        }
    }
    fprintf(stderr, "%d-member short regions never stopped asking\n", n);
    g_bad++;
    return false;
}

static void regions(void *) {
    while (!sibling_created.load()) lithe_context_yield();
    // Warm-up: every team size once (the pool is complete, the parent's
    // context count final) and the short-region clock calibrated (it needs
    // a few ms since the first region).
    for (int n = 2; n <= 5; ++n) {
#pragma omp parallel num_threads(n)
        g_member_tls[omp_get_thread_num()] = &tls_mark;
    }
    spin_us(20000);
    lithe_sched_stats(&fj->sched, &g_before);
    lithe_sched_stats(lithe_sched_base(), &g_base_before);
    int r = 0;
    const char *slice = getenv("LITHE_OMP_SLICE_US");
    if (slice && strcmp(slice, "0") == 0) {
        for (int n = 2; n <= 5 && g_bad.load() == 0; ++n)
            for (int k = 0; k < 200; ++k, ++r) {
                Seen s;
                region(n, kShort, &s);
                if (!accounting_ok(r, n, kShort)) break;
                if (s.requested != n - 1) {
                    fprintf(stderr,
                            "slicing off: region %d requested %lld\n", r,
                            s.requested);
                    g_bad++;
                    break;
                }
            }
        regions_done = true;
        return;
    }
    for (int rep = 0; rep < 60 && g_bad.load() == 0; ++rep) {
        int n = 2 + rep % 4;
        Mode mode = static_cast<Mode>(kLong + rep % 5);
        Seen s;
        // The region after a skipped one is skipped too, unless the
        // master's body in that one was slowed past the limit (a loaded
        // machine): then start over, a bounded number of times.
        bool skipped = false;
        for (int k = 0; k < 20 && !skipped; ++k) {
            if (!until_skipped(n, &r)) break;
            region(n, mode, &s);
            if (!accounting_ok(r++, n, mode)) break;
            skipped = s.requested == 0;
        }
        if (!skipped) {
            fprintf(stderr, "no %d-member region of mode %d was skipped\n",
                    n, mode);
            g_bad++;
            break;
        }
        // Not short any more (kBusyWait: it waited for a slice at least):
        // the next region asks again. A kBarrier or kYield region may be
        // short enough to stay skipped.
        if (mode == kLong || mode == kBusyWait || mode == kMembersLong) {
            region(n, kShort, &s);
            if (!accounting_ok(r++, n, kShort)) break;
            if (s.requested != n - 1) {
                fprintf(stderr,
                        "region %d: requested %lld after a long one\n", r - 1,
                        s.requested);
                g_bad++;
            }
        }
    }
    regions_done = true;
}

int main() {
    beside_sibling::run(regions);
    CHECK(g_bad.load() == 0);
    printf("omp_short_regions: ok\n");
    return 0;
}
