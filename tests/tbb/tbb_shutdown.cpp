// tbb_shutdown.cpp: a short TBB program for the shutdown tests: a little
// parallel work and an enqueued task (so workers exist and are busy or
// parked, also with one hart, where TBB's implicit arena wants no worker
// but an enqueued task gets one), then either
// tbb::finalize (blocking close: request_close_connection, cleanup of each
// job, acknowledge) or a plain return from main (no close guaranteed).
// `tbb_shutdown finalize|exit [rounds]`; rounds > 1 finalizes and restarts
// TBB in between (a new server each time). Exit status 0 = results right.
// tbb::finalize spins (sched_yield) until every TBB worker has left its
// arenas: on lithe with a single hart this only ends because the adapter
// turns the caller's sched_yield into a context yield (docs/tbb.md).
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/parallel_reduce.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>

static bool work() {
    std::atomic<long> sum{0};
    tbb::parallel_for(0, 20000, [&](int i) { sum += i; });
    long r = tbb::parallel_reduce(
        tbb::blocked_range<long>(0, 20000), 0L,
        [](const tbb::blocked_range<long> &b, long a) {
            for (long i = b.begin(); i < b.end(); ++i) a += i;
            return a;
        },
        std::plus<long>());
    tbb::task_group g;
    std::atomic<int> n{0};
    for (int i = 0; i < 64; ++i) g.run([&] { ++n; });
    g.wait();
    tbb::task_arena arena;
    std::atomic<bool> enqueued_ran{false};
    arena.enqueue([&] { enqueued_ran = true; });
    while (!enqueued_ran.load()) std::this_thread::yield();
    return sum == 20000L * 19999 / 2 && r == sum && n == 64;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    bool finalize = std::strcmp(argv[1], "finalize") == 0;
    int rounds = argc > 2 ? std::atoi(argv[2]) : 1;
    for (int k = 0; k < rounds; ++k) {
        if (finalize) {
            tbb::task_scheduler_handle h{tbb::attach{}};
            if (!work()) return 1;
            if (!tbb::finalize(h, std::nothrow)) {
                std::fprintf(stderr, "tbb::finalize failed\n");
                return 1;
            }
        } else if (!work()) {
            return 1;
        }
    }
    return 0;
}
