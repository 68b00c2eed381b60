// tbb_features.cpp: oneTBB features that must behave the same with and
// without the lithe adapter. Built only against Debian's oneTBB (-ltbb);
// run as a reference (TBB's private pool), with liblithe_tbb linked, and
// with it LD_PRELOADed (tests/tbb/CMakeLists.txt). Each check verifies its
// own results; `tbb_features NAME` runs one check, exit status 0 = pass.
//
// Waits are what an unmodified TBB program does: spin with
// std::this_thread::yield (sched_yield) or pthread_yield. On lithe with
// one hart the spinning context holds the only hart the TBB worker it
// waits for could use; the adapter turns those yields into context yields
// (adapters/common/sched_yield_guard.cpp), so each wait has a deadline and
// fails rather than hangs if that breaks.
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/concurrent_hash_map.h>
#include <oneapi/tbb/concurrent_queue.h>
#include <oneapi/tbb/concurrent_vector.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/task_scheduler_observer.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/parallel_invoke.h>
#include <oneapi/tbb/parallel_reduce.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include "named_checks.hpp"
#include "watchdog.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <pthread.h>
#include <sched.h>
#include <numeric>
#include <stdexcept>
#include <thread>
#include <vector>

extern "C" int lithe_num_harts(void) __attribute__((weak));

namespace {

// Spins (with `yield`) until pred() or 20 s have passed; false on timeout.
template <class Pred>
bool spin_until(Pred pred, void (*yield)() = [] { std::this_thread::yield(); }) {
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!pred())
        if (std::chrono::steady_clock::now() > end) return false;
        else yield();
    return true;
}

long fib(long n) {
    if (n < 2) return n;
    long a = 0, b = 0;
    tbb::parallel_invoke([&] { a = fib(n - 1); }, [&] { b = fib(n - 2); });
    return a + b;
}

bool parallel_for() {
    for (int round = 0; round < 20; ++round) {
        std::vector<int> v(100000, 0);
        tbb::parallel_for(tbb::blocked_range<size_t>(0, v.size(), 64),
                          [&](const tbb::blocked_range<size_t> &r) {
                              for (size_t i = r.begin(); i < r.end(); ++i)
                                  v[i] += int(i % 7) + 1;
                          });
        for (size_t i = 0; i < v.size(); ++i) CHECK(v[i] == int(i % 7) + 1);
    }
    return true;
}

bool parallel_reduce() {
    const long n = 1000000;
    for (int round = 0; round < 10; ++round) {
        long sum = tbb::parallel_reduce(
            tbb::blocked_range<long>(0, n, 1000), 0L,
            [](const tbb::blocked_range<long> &r, long acc) {
                for (long i = r.begin(); i < r.end(); ++i) acc += i;
                return acc;
            },
            std::plus<long>());
        CHECK(sum == n * (n - 1) / 2);
    }
    return true;
}

bool parallel_invoke() {
    CHECK(fib(22) == 17711);
    std::atomic<int> hits{0};
    tbb::parallel_invoke([&] { ++hits; }, [&] { ++hits; }, [&] { ++hits; },
                         [&] { ++hits; });
    CHECK(hits == 4);
    return true;
}

bool task_group() {
    tbb::task_group g;
    std::atomic<long> sum{0};
    for (int i = 1; i <= 1000; ++i)
        g.run([&sum, i] {
            sum += i;
        });
    g.wait();
    CHECK(sum == 1000 * 1001 / 2);
    // Nested groups.
    std::atomic<int> leaves{0};
    std::function<void(int)> tree = [&](int depth) {
        if (depth == 0) {
            ++leaves;
            return;
        }
        tbb::task_group inner;
        inner.run([&] { tree(depth - 1); });
        inner.run([&] { tree(depth - 1); });
        inner.wait();
    };
    tree(10);
    CHECK(leaves == 1024);
    return true;
}

bool concurrent() {
    tbb::concurrent_vector<int> vec;
    tbb::concurrent_queue<int> q;
    tbb::concurrent_hash_map<int, int> map;
    tbb::parallel_for(0, 10000, [&](int i) {
        vec.push_back(i);
        q.push(i);
        tbb::concurrent_hash_map<int, int>::accessor a;
        map.insert(a, i % 100);
        a->second += 1;
    });
    CHECK(vec.size() == 10000);
    std::vector<int> sorted(vec.begin(), vec.end());
    std::sort(sorted.begin(), sorted.end());
    for (int i = 0; i < 10000; ++i) CHECK(sorted[i] == i);
    long qsum = 0;
    for (int x; q.try_pop(x);) qsum += x;
    CHECK(qsum == 10000L * 9999 / 2);
    CHECK(map.size() == 100);
    for (int k = 0; k < 100; ++k) {
        tbb::concurrent_hash_map<int, int>::const_accessor a;
        CHECK(map.find(a, k));
        CHECK(a->second == 100);
    }
    return true;
}

bool task_arena() {
    tbb::task_arena arena(2);
    std::atomic<long> sum{0};
    arena.execute([&] {
        tbb::parallel_for(0, 10000, [&](int i) { sum += i; });
    });
    CHECK(sum == 10000L * 9999 / 2);
    CHECK(arena.max_concurrency() == 2);
    tbb::task_arena solo(1);
    int inside = -1;
    solo.execute([&] { inside = tbb::this_task_arena::max_concurrency(); });
    CHECK(inside == 1);
    return true;
}

bool enqueue() {
    tbb::task_arena arena;
    std::atomic<int> done{0};
    for (int i = 0; i < 100; ++i) arena.enqueue([&] { ++done; });
    // Only workers run enqueued tasks while no caller joins the arena.
    CHECK(spin_until([&] { return done.load() == 100; }));
    return true;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
void old_yield() { pthread_yield(); }
#pragma GCC diagnostic pop

// The same wait with pthread_yield (glibc's alias, which the adapter
// defines too).
bool enqueue_pthread_yield() {
    tbb::task_arena arena;
    std::atomic<int> done{0};
    for (int i = 0; i < 100; ++i) arena.enqueue([&] { ++done; });
    CHECK(spin_until([&] { return done.load() == 100; }, old_yield));
    return true;
}

// An enqueued task that waits (spinning) for the master, which waits
// (spinning) for it: both sides must get the hart in turn.
bool enqueue_ping_pong() {
    tbb::task_arena arena;
    std::atomic<int> turn{0};
    arena.enqueue([&] {
        for (int i = 1; i < 200; i += 2) {
            while (turn.load() != i) std::this_thread::yield();
            turn.store(i + 1);
        }
    });
    for (int i = 0; i < 200; i += 2) {
        turn.store(i + 1);
        CHECK(spin_until([&] { return turn.load() == i + 2; }));
    }
    return true;
}

bool exceptions() {
    for (int round = 0; round < 20; ++round) {
        bool caught = false;
        try {
            tbb::parallel_for(0, 1000, [](int i) {
                if (i == 537) throw std::runtime_error("boom 537");
            });
        } catch (const std::runtime_error &e) {
            caught = std::strcmp(e.what(), "boom 537") == 0;
        }
        CHECK(caught);
        tbb::task_group g;
        g.run([] { throw std::logic_error("tg"); });
        caught = false;
        try {
            g.wait();
        } catch (const std::logic_error &) {
            caught = true;
        }
        CHECK(caught);
    }
    return true;
}

bool cancellation() {
    std::atomic<long> ran{0};
    tbb::task_group_context ctx;
    tbb::parallel_for(
        tbb::blocked_range<long>(0, 1000000, 1),
        [&](const tbb::blocked_range<long> &r) {
            for (long i = r.begin(); i < r.end(); ++i) {
                if (ran.fetch_add(1) == 100) ctx.cancel_group_execution();
            }
        },
        tbb::simple_partitioner(), ctx);
    CHECK(ctx.is_group_execution_cancelled());
    CHECK(ran.load() < 1000000);
    tbb::task_group g;
    std::atomic<int> after{0};
    g.run([&] { g.cancel(); });
    CHECK(g.wait() == tbb::task_group_status::canceled);
    (void)after;
    return true;
}

bool global_control() {
    {
        tbb::global_control gc(tbb::global_control::max_allowed_parallelism, 1);
        CHECK(tbb::global_control::active_value(
                  tbb::global_control::max_allowed_parallelism) == 1);
        std::atomic<long> sum{0};
        tbb::parallel_for(0, 10000, [&](int i) { sum += i; });
        CHECK(sum == 10000L * 9999 / 2);
    }
    tbb::global_control gc(tbb::global_control::max_allowed_parallelism, 3);
    std::atomic<long> sum{0};
    tbb::parallel_for(0, 10000, [&](int i) { sum += i; });
    CHECK(sum == 10000L * 9999 / 2);
    return true;
}

// TBB's parallelism is the harts on lithe (PARLIB_VCORES may differ from
// the CPUs; the adapter reports the harts to TBB), the CPUs of the process
// mask otherwise: every default TBB derives from it, and that many tasks
// really run at once (each computes 2 ms without yielding, so a running
// task holds its hart or thread; rounds until the peak is reached, 20 s).
bool default_concurrency() {
    int expected;
    if (lithe_num_harts) {
        expected = lithe_num_harts();
    } else {
        cpu_set_t m;
        CHECK(sched_getaffinity(0, sizeof m, &m) == 0);
        expected = CPU_COUNT(&m);
    }
    CHECK(tbb::info::default_concurrency() == expected);
    CHECK(tbb::this_task_arena::max_concurrency() == expected);
    tbb::task_arena arena;
    arena.initialize();
    CHECK(arena.max_concurrency() == expected);
    CHECK(int(tbb::global_control::active_value(
              tbb::global_control::max_allowed_parallelism)) == expected);
    std::atomic<int> running{0}, peak{0};
    CHECK(spin_until([&] {
        tbb::parallel_for(0, 8 * expected, [&](int) {
            int now = running.fetch_add(1) + 1;
            for (int p = peak.load(); now > p && !peak.compare_exchange_weak(p, now);) {
            }
            auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(2);
            while (std::chrono::steady_clock::now() < end) {
            }
            running.fetch_sub(1);
        }, tbb::simple_partitioner());
        return peak.load() >= expected;
    }));
    CHECK(peak.load() == expected);
    return true;
}

// TBB masters on threads that are not lithe contexts (std::thread makes
// foreign pthreads) work alongside main; main uses TBB first, so the
// server exists (made from main's context).
bool other_threads() {
    CHECK(parallel_reduce());
    std::atomic<int> ok{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 3; ++t)
        ts.emplace_back([&] {
            long sum = tbb::parallel_reduce(
                tbb::blocked_range<long>(0, 100000, 100), 0L,
                [](const tbb::blocked_range<long> &r, long acc) {
                    for (long i = r.begin(); i < r.end(); ++i) acc += i;
                    return acc;
                },
                std::plus<long>());
            tbb::task_group g;
            std::atomic<int> n{0};
            for (int i = 0; i < 100; ++i) g.run([&] { ++n; });
            g.wait();
            if (sum == 100000L * 99999 / 2 && n == 100) ++ok;
        });
    for (auto &t : ts) t.join();
    CHECK(ok == 3);
    return true;
}

// The process's first TBB use is on a std::thread: on lithe the adapter
// cannot make its holder context there, so TBB falls back to its private
// pool for the whole process (tests/tbb/CMakeLists.txt checks the report);
// everything still computes right.
bool first_use_on_std_thread() {
    std::atomic<long> sum{0};
    std::thread t([&] { tbb::parallel_for(0, 10000, [&](int i) { sum += i; }); });
    t.join();
    tbb::parallel_for(0, 10000, [&](int i) { sum += i; });
    CHECK(sum == 2 * (10000L * 9999 / 2));
    return true;
}

// Enqueued work from a std::thread (a foreign pthread, not a lithe
// context) must get a worker: on lithe the worker context is made by the
// adapter's holder context on the thread's behalf. Main made TBB's server
// first (with work too small to need workers) and then waits in
// std::thread::join; the adapter's join guard keeps the join from holding
// main's hart (with one hart, the worker's only hart).
bool enqueue_on_std_thread() {
    int one = 0;
    tbb::parallel_for(0, 1, [&](int) { one = 1; });
    CHECK(one == 1);
    bool ok = false;
    std::thread t([&] {
        tbb::task_arena arena;
        std::atomic<int> done{0};
        for (int i = 0; i < 100; ++i) arena.enqueue([&] { ++done; });
        ok = spin_until([&] { return done.load() == 100; });
    });
    t.join();
    CHECK(ok);
    return true;
}

// oneTBB's conformance case "cross thread 1" (global_control): TBB is
// finalized on a std::thread that ran parallel work in an arena with
// workers (max_allowed_parallelism raised so that one hart gets them
// too) while main waits in join. finalize waits until the workers have left
// the arena, which on lithe needs a hart: without the adapter's join guard
// main's join holds the only one and this hangs (the watchdog then fails
// the check after 20 s).
bool finalize_on_std_thread() {
    tbb::global_control gc(tbb::global_control::max_allowed_parallelism, 4);
    {
        tbb::task_scheduler_handle first{tbb::attach{}};
        tbb::parallel_for(0, 10, [](int) {});  // TBB starts on main
        CHECK(tbb::finalize(first, std::nothrow));
    }
    tbb::task_scheduler_handle handle{tbb::attach{}};
    std::atomic<int> state{0};  // 1: finalize succeeded, 2: failed
    std::atomic<long> sum{0};
    std::thread t([&] {
        {
            tbb::task_arena arena(4);  // gone before finalize
            arena.execute([&] {
                tbb::parallel_for(0, 100, [&](int i) {
                    volatile long x = 0;
                    for (int k = 0; k < 20000; ++k) x = x + k;
                    sum += i;
                });
            });
        }
        state = tbb::finalize(handle, std::nothrow) ? 1 : 2;
    });
    {
        testwd::Watchdog wd(20, "finalize_on_std_thread: main's join");
        t.join();
    }
    CHECK(state.load() == 1);
    CHECK(sum.load() == 100L * 99 / 2);
    return true;
}

const named_checks::Check kChecks[] = {
    {"parallel_for", parallel_for},     {"parallel_reduce", parallel_reduce},
    {"parallel_invoke", parallel_invoke}, {"task_group", task_group},
    {"concurrent", concurrent},         {"task_arena", task_arena},
    {"enqueue", enqueue},               {"exceptions", exceptions},
    {"enqueue_pthread_yield", enqueue_pthread_yield},
    {"enqueue_ping_pong", enqueue_ping_pong},
    {"cancellation", cancellation},     {"global_control", global_control},
    {"default_concurrency", default_concurrency},
    {"other_threads", other_threads},
    {"first_use_on_std_thread", first_use_on_std_thread},
    {"enqueue_on_std_thread", enqueue_on_std_thread},
    {"finalize_on_std_thread", finalize_on_std_thread},
};

}  // namespace

int main(int argc, char **argv) {
    if (!named_checks::one_argument(argc, argv)) return 2;
    return named_checks::run(kChecks, argv[1]);
}
