// report.cpp: lithe_tbb_active / lithe_tbb_get_stats and the exit report
// (LITHE_TBB_REPORT=1). Owns the process-wide counters.
//
// The report runs as a library destructor, i.e. during exit() after main
// returned; it only reads atomics and writes to stderr: one line on whether
// TBB ran on lithe (tests match it) and, if the TBB scheduler exists, one
// on where its harts went (for benchmarks: docs/perf.md).
#include "lithe/tbb.h"
#include "stats.hpp"
#include "tbb_scheduler.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace lithe_tbb {
Counters counters;
}

using lithe_tbb::counters;

extern "C" int lithe_tbb_active(void) {
    return counters.servers.load(std::memory_order_relaxed) > 0;
}

extern "C" void lithe_tbb_get_stats(struct lithe_tbb_stats *out) {
    if (!out) return;
    out->servers = counters.servers.load(std::memory_order_relaxed);
    out->servers_closed = counters.servers_closed.load(std::memory_order_relaxed);
    out->jobs = counters.jobs.load(std::memory_order_relaxed);
    out->process_calls = counters.process_calls.load(std::memory_order_relaxed);
    out->peak_workers = counters.peak_workers.load(std::memory_order_relaxed);
    out->spin_rests = counters.spin_rests.load(std::memory_order_relaxed);
    out->rests_cut = counters.rests_cut.load(std::memory_order_relaxed);
    struct lithe_sched_stats t {};
    out->hart_time_ns =
        lithe_tbb::TbbScheduler::sched_stats(t) ? t.hart_time_ns : 0;
    out->refused = counters.refused.load(std::memory_order_relaxed);
    out->foreign_start = counters.foreign_start.load(std::memory_order_relaxed);
}

__attribute__((destructor)) static void lithe_tbb_report() {
    const char *env = std::getenv("LITHE_TBB_REPORT");
    if (!env || std::strcmp(env, "1") != 0) return;
    struct lithe_tbb_stats s;
    lithe_tbb_get_stats(&s);
    if (s.refused)
        std::fprintf(stderr,
                     "lithe_tbb: TBB ran on lithe: no (TBB interface version "
                     "%d refused; TBB used its private thread pool)\n",
                     s.refused);
    else if (s.foreign_start && !s.servers)
        std::fprintf(stderr,
                     "lithe_tbb: TBB ran on lithe: no (TBB started on a "
                     "thread that is not a lithe context; it used its "
                     "private thread pool)\n");
    else
        std::fprintf(stderr,
                     "lithe_tbb: TBB ran on lithe: %s (servers %llu, closed "
                     "%llu, jobs %llu, process() calls %llu, peak workers "
                     "%llu)\n",
                     s.servers ? "yes" : "no (TBB never asked for a server)",
                     (unsigned long long)s.servers,
                     (unsigned long long)s.servers_closed,
                     (unsigned long long)s.jobs,
                     (unsigned long long)s.process_calls,
                     (unsigned long long)s.peak_workers);
    // Where the harts went: lithe's accounting of the TBB scheduler and of
    // the base (benchmarks/bench_compose, docs/perf.md).
    struct lithe_sched_stats t {}, b {};
    if (!lithe_tbb::TbbScheduler::sched_stats(t)) return;
    lithe_sched_stats(lithe_sched_base(), &b);
    std::fprintf(stderr,
                 "lithe_tbb: TBB scheduler: hart time %.1f ms, grants %llu, "
                 "hart yields %llu, context yields %llu (rests %llu, cut "
                 "short %llu), TBB's demand changes +%llu -%llu, parks %llu, "
                 "wakes %llu; base: hart time %.1f ms, grants made %llu\n",
                 t.hart_time_ns * 1e-6, (unsigned long long)t.grants_received,
                 (unsigned long long)t.yields,
                 (unsigned long long)counters.context_yields.load(),
                 (unsigned long long)s.spin_rests,
                 (unsigned long long)s.rests_cut,
                 (unsigned long long)counters.adjusts_up.load(),
                 (unsigned long long)counters.adjusts_down.load(),
                 (unsigned long long)counters.parks.load(),
                 (unsigned long long)counters.wakes.load(),
                 b.hart_time_ns * 1e-6, (unsigned long long)b.grants_made);
}
