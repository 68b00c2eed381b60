// Basic uthread life cycle on the FIFO test scheduler.
#include <catch2/catch.hpp>

#include <parlib/futex.h>
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

// uthread_running_elsewhere: "does u have a vcore other than the caller's
// right now?", which the pthreads adapter's mutex asks of a holder before
// spinning on it. Never of the caller itself or of NULL; true of a uthread
// that keeps another vcore; false of one that sleeps (a futex) or is gone
// (the pointer is only compared). With one vcore no other uthread can run
// while main does, so it is false of all of them.
TEST_CASE("uthread_running_elsewhere is true only of a uthread another vcore runs") {
    fifo::init();
    REQUIRE_FALSE(uthread_running_elsewhere(nullptr));
    REQUIRE_FALSE(uthread_running_elsewhere(uthread_self()));
    const bool many = max_vcores() > 1;
    std::atomic<int> stage{0};
    uint32_t word = 0;
    auto *spinner = fifo::spawn([&] {
        stage.store(1);
        while (stage.load() != 2) {
            if (!many) fifo::yield();  // one vcore: main must run too
        }
        uth_futex_wait(&word, 0, -1);  // asleep: no vcore
    });
    const uthread *u = &spinner->u;
    while (stage.load() != 1) fifo::yield();
    if (many) {
        // It holds its vcore until stage 2; main runs on another one.
        REQUIRE(uthread_running_elsewhere(u));
    } else {
        REQUIRE_FALSE(uthread_running_elsewhere(u));
    }
    stage.store(2);
    // Once it sleeps in the futex it has no vcore, and keeps none.
    uint64_t end = parlib_now_us() + 10'000'000;
    while (uthread_running_elsewhere(u) && parlib_now_us() < end) fifo::yield();
    for (int i = 0; i < 1000; ++i) {
        REQUIRE_FALSE(uthread_running_elsewhere(u));
        fifo::yield();
    }
    // The futex is the only way on; wake until it took the wake-up.
    word = 1;
    while (uth_futex_wake(&word, 1) == 0) fifo::yield();
    fifo::join(spinner);
    REQUIRE_FALSE(uthread_running_elsewhere(u));  // exited and freed
}
