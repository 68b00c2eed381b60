// Basic uthread life cycle on the FIFO test scheduler.
#include <catch2/catch.hpp>

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
