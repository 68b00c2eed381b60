// tbb_spin_yield.cpp: a TBB worker context that spins with sched_yield
// (std::this_thread::yield) while nothing else in the tree wants its hart
// makes its vcore yield the kernel thread before it runs again
// (TbbScheduler::hart_enter, docs/tbb.md "Liveness"): counted in
// lithe_tbb_stats.spin_kernel_yields. Without that rule, a spinning worker
// kept its CPU from vcores doing work when there are more vcores than CPUs.
//
// The spinner is an enqueued task (only workers run those) that waits for
// a flag main sets after sleeping; main's sleep blocks only its context
// (adapters/common/sleep_guard.cpp), so nothing else wants a hart while the
// task spins. Works with any number of harts (with one, TBB still gives
// enqueued work one worker).
// Also checked: the spinning task still finishes once main sets the flag.
#include <lithe/lithe.h>
#include <lithe/tbb.h>

#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "check_or_return.hpp"

#define CHECK CHECK_IN_MAIN

int main() {
    CHECK(lithe_context_self() != nullptr);
    struct lithe_tbb_stats st;

    tbb::task_arena arena;
    std::atomic<bool> started{false}, go{false}, finished{false};
    std::atomic<long> spins{0};
    arena.enqueue([&] {
        started = true;
        while (!go.load()) {
            std::this_thread::yield();
            ++spins;
        }
        finished = true;
    });
    // Wait (sleeping, so the hart is free) until the task spins.
    while (!started.load())
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    lithe_tbb_get_stats(&st);
    std::printf("spin_kernel_yields %llu after %ld spins\n",
                (unsigned long long)st.spin_kernel_yields, spins.load());
    CHECK(st.servers == 1);
    CHECK(spins.load() > 0);
    CHECK(st.spin_kernel_yields > 0);
    go = true;
    while (!finished.load())
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return 0;
}
