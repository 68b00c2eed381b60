// lock_holder.cpp: TBB tasks that hold a pure spin lock across an OpenMP
// region whose members wait for each other with sched_yield. A liveness
// test of the composition (docs/omp.md, "A yielded member is never left
// behind"): an unmodified program, built and linked like compose.cpp
// (tests/compose/CMakeLists.txt: <cc>.lithe on liblithe_omp + liblithe_tbb,
// <cc>.ref on the stock runtimes as the control).
//
// Each task of a tbb::parallel_for takes one process-wide lock by spinning
// on an atomic exchange (no yield, no kernel call: the waiters keep their
// harts until the lock is free, which lithe cannot take from them: TBB
// tasks are not time-sliced) and, holding it, runs `#pragma omp parallel`
// whose members meet kPhases times at a flag barrier that waits by calling
// sched_yield(), as a lot of real code does. So while a region runs, every
// hart but the region's is held by a spinning task, and the region can
// finish only if its members, the master included (the task holding the
// lock), keep getting the harts the region still has: a member that
// yields must be run again whatever hart of the region is left.
//
// A hang fails by the watchdog (tests/support/watchdog.hpp) with the test's
// own state (the lock holder's task and the vcore it took the lock on, the
// region's arrivals) and where each hart is in lithe's tree
// (lithe_tree_dump.hpp). Before fork-join's look-around (fork_join.cpp)
// it hung in 11 of 12 runs at PARLIB_VCORES=2 and 4 (gcc and clang): the
// region's last hart re-ran its own yielded member while the master sat in
// the queue of a hart that had left for the parent's turn and was spinning
// in a task.
#include <oneapi/tbb/parallel_for.h>
#include <omp.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "lithe_tree_dump.hpp"
#include "named_checks.hpp"
#include "watchdog.hpp"

extern "C" int vcore_id(void) __attribute__((weak));

namespace {

// Rounds: at least kMinRounds, then more while the run is shorter than
// kBudget, at most kMaxRounds. With more vcores than CPUs the spinning
// tasks take CPU time from the region's vcore (and a lock handoff waits
// for the kernel to run the spinner's vcore), so a round takes 10-100 times
// longer at PARLIB_VCORES=4 than at 2 on the loaded 2-CPU VM; before the
// fix 20 rounds hung in 5 of 6 runs at 4 vcores.
constexpr int kMinRounds = 10;
constexpr int kMaxRounds = 100;
constexpr auto kBudget = std::chrono::seconds(3);
constexpr int kTasks = 64;
constexpr int kPhases = 4;
constexpr int kTimeoutS = 45;

// The lock and what the watchdog's dump reports. Regions run one at a
// time (under the lock), so the region's counters are global.
std::atomic<bool> g_lock{false};
std::atomic<int> g_holder{-1};        // task holding the lock
std::atomic<int> g_holder_vcore{-1};  // vcore it took the lock on
std::atomic<int> g_spinning{0};       // tasks spinning for the lock
std::atomic<int> g_arrived{0};        // this region's barrier arrivals
std::atomic<int> g_team{0};           // this region's team size
std::atomic<long> g_tasks_done{0};

int here() { return vcore_id ? vcore_id() : -1; }

void lock(int task) {
    g_spinning.fetch_add(1);
    while (g_lock.exchange(true, std::memory_order_acquire))
        while (g_lock.load(std::memory_order_relaxed)) __builtin_ia32_pause();
    g_spinning.fetch_sub(1);
    g_holder.store(task);
    g_holder_vcore.store(here());
}

void unlock() {
    g_holder.store(-1);
    g_lock.store(false, std::memory_order_release);
}

void dump() {
    std::fprintf(stderr,
                 "state: lock holder task %d (took it on vcore %d), %d tasks "
                 "spinning for the lock, region team %d with %d of %d "
                 "barrier arrivals, %ld tasks done\n",
                 g_holder.load(), g_holder_vcore.load(), g_spinning.load(),
                 g_team.load(), g_arrived.load(), g_team.load() * kPhases,
                 g_tasks_done.load());
    testwd::dump_lithe_tree();
}

// Under the lock: every member arrives kPhases times; phase p ends when all
// n members have arrived p times. Returns the team size if every member
// saw every phase complete, else -1.
int yield_barrier_region() {
    g_arrived.store(0);
    g_team.store(0);
    std::atomic<int> bad{0};
#pragma omp parallel
    {
        int n = omp_get_num_threads();
        if (omp_get_thread_num() == 0) g_team.store(n);
        for (int p = 1; p <= kPhases; ++p) {
            g_arrived.fetch_add(1);
            while (g_arrived.load() < p * n) sched_yield();
        }
        if (g_arrived.load() > kPhases * n) ++bad;
    }
    int n = g_team.load();
    return bad == 0 && n >= 1 && g_arrived.load() == kPhases * n ? n : -1;
}

bool spin_lock_yield_team() {
    testwd::Watchdog wd(kTimeoutS, "spin_lock_yield_team: a region under a spin lock", dump);
    std::atomic<long> bad{0}, min_team{1 << 20};
    auto start = std::chrono::steady_clock::now();
    int rounds = 0;
    for (; rounds < kMaxRounds; ++rounds) {
        if (rounds >= kMinRounds && std::chrono::steady_clock::now() - start > kBudget) break;
        tbb::parallel_for(0, kTasks, [&](int task) {
            lock(task);
            int n = yield_barrier_region();
            unlock();
            if (n < 0) ++bad;
            long m = min_team.load();
            while (n >= 0 && n < m && !min_team.compare_exchange_weak(m, n)) {
            }
            g_tasks_done.fetch_add(1);
        });
    }
    CHECK(bad == 0);
    CHECK(g_tasks_done == rounds * kTasks);
    // The default team is the harts (CPUs in the stock run), so the regions
    // were parallel: members did wait for each other.
    CHECK(min_team == omp_get_max_threads());
    return true;
}

const named_checks::Check kChecks[] = {
    {"spin_lock_yield_team", spin_lock_yield_team},
};

}  // namespace

int main(int argc, char **argv) {
    if (!named_checks::one_argument(argc, argv)) return 2;
    return named_checks::run(kChecks, argv[1]);
}
