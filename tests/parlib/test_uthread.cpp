// Basic uthread life cycle on the FIFO test scheduler.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <string>
#include <vector>

#include "support/thread_stats.hpp"
#include "support/fifo_sched.hpp"

TEST_CASE("main becomes a uthread and runs on a vcore") {
    fifo::init();
    REQUIRE(uthread_self() == &fifo::g_main);
    REQUIRE(vcore_id() >= 0);
    REQUIRE_FALSE(in_vcore_context());
}

TEST_CASE("spawn, yield and join many uthreads") {
    fifo::init();
    std::atomic<int> sum{0};
    std::vector<fifo::Thread *> ts;
    for (int i = 0; i < 100; ++i)
        ts.push_back(fifo::spawn([&sum, i] {
            for (int k = 0; k < 10; ++k) fifo::yield();
            sum += i;
        }));
    for (auto *t : ts) fifo::join(t);
    REQUIRE(sum == 4950);
}

// uthread_yield_status's 0 comes from the switch itself (the resume clears
// eax; lithe_context_yield tail-calls it and returns what it returns). Both
// resume paths must give it: with the control words known (the vcore's last
// uthread yielded) and unknown (it exited), so uthreads that exit after a
// few yields are mixed in; full-TLS and lightweight alike.
TEST_CASE("uthread_yield_status returns 0 each time the uthread runs again") {
    fifo::init();
    std::atomic<int> runs{0}, nonzero{0};
    std::vector<fifo::Thread *> ts;
    for (int i = 0; i < 60; ++i)
        ts.push_back(fifo::spawn(
            [&, i] {
                for (int k = 0; k < (i % 3 ? 200 : i % 7); ++k) {
                    int rc = uthread_yield_status(
                        [](uthread *u, void *) { fifo::enqueue(u); }, nullptr);
                    runs.fetch_add(1, std::memory_order_relaxed);
                    if (rc != 0) nonzero.fetch_add(1, std::memory_order_relaxed);
                }
            },
            i % 2 == 0));
    for (auto *t : ts) fifo::join(t);
    REQUIRE(runs.load() >= 8000);
    REQUIRE(nonzero.load() == 0);
}

// The TLS pool's keeper thread sleeps without a timeout once the pool is
// warm and no release is pending: an idle process has no periodic wake-up
// (it used to wake every 10 ms, which the composition tests' sampler saw
// as an extra running thread).
TEST_CASE("the TLS pool keeper does not wake up while the process is idle") {
    fifo::init();
    std::vector<fifo::Thread *> ts;
    for (int i = 0; i < 40; ++i) ts.push_back(fifo::spawn([] {}));
    for (auto *t : ts) fifo::join(t);  // releases: the keeper gathers them
    long before = -1;
    for (int i = 0; i < 100 && before < 0; ++i) {
        usleep(10000);
        before = thread_stats::voluntary_switches_of("parlib-keeper");
    }
    REQUIRE(before >= 0);
    // Let it finish gathering and refilling: it is done when it sleeps in
    // a futex wait without a timeout and has not switched for 100 ms (a
    // wake-up it was sent may not have run yet under load). A keeper that
    // polled with a timeout never gets there.
    long settled = before;
    int quiet = 0;
    for (int i = 0; i < 500 && quiet < 5; ++i) {
        usleep(20000);
        long now = thread_stats::voluntary_switches_of("parlib-keeper");
        bool asleep = thread_stats::in_untimed_futex_wait("parlib-keeper");
        quiet = asleep && now == settled ? quiet + 1 : 0;
        settled = now;
    }
    REQUIRE(quiet == 5);
    usleep(200000);
    INFO("keeper wake-ups in 200 ms of idleness");
    REQUIRE(thread_stats::voluntary_switches_of("parlib-keeper") - settled == 0);
}
