// Barriers (parlib/barrier.h): across many phases with more uthreads than
// vcores (and foreign threads), nobody leaves a phase before everyone has
// arrived, and exactly one waiter per phase is the serial one.
#include <catch2/catch.hpp>

#include <parlib/barrier.h>

#include <cerrno>
#include <deque>
#include <thread>
#include <vector>

#include "support/fifo_sched.hpp"
#include "support/foreign_thread.hpp"
#include "support/watchdog.hpp"

namespace {

void phases(int uthreads, int foreign, int nphases) {
    testwd::Watchdog wd(30, "barrier phases");
    fifo::init();
    const int n = uthreads + foreign;
    uth_barrier_t b;
    uth_barrier_init(&b, static_cast<uint32_t>(n));
    std::vector<std::atomic<int>> arrived(nphases), serial(nphases);
    std::atomic<int> early{0};
    auto body = [&] {
        for (int p = 0; p < nphases; ++p) {
            arrived[p].fetch_add(1);
            if (uth_barrier_wait(&b)) serial[p].fetch_add(1);
            if (arrived[p].load() != n) early.fetch_add(1);
            if (uthread_self() && p % 3 == 0) fifo::yield();
        }
    };
    std::vector<fifo::Thread *> ts;
    for (int i = 0; i < uthreads; ++i) ts.push_back(fifo::spawn(body, i % 2));
    std::deque<fifo::ForeignThread> fs;
    for (int i = 0; i < foreign; ++i) fs.emplace_back(body);
    for (auto *t : ts) fifo::join(t);
    for (auto &f : fs) f.join();
    REQUIRE(early == 0);
    int total_serial = 0;
    for (int p = 0; p < nphases; ++p) {
        REQUIRE(serial[p] == 1);
        total_serial += serial[p];
    }
    REQUIRE(total_serial == nphases);
    REQUIRE(uth_barrier_destroy(&b) == 0);
}

}  // namespace

TEST_CASE("barrier: 64 uthreads through 50 phases") { phases(64, 0, 50); }

TEST_CASE("barrier: uthreads and foreign threads through 50 phases") {
    phases(14, 2, 50);
}

TEST_CASE("barrier: a count of one never blocks and is always serial") {
    fifo::init();
    uth_barrier_t b = UTH_BARRIER_INIT(1);
    for (int i = 0; i < 10; ++i) REQUIRE(uth_barrier_wait(&b));
}

TEST_CASE("barrier: destroy refuses while a phase is in progress") {
    fifo::init();
    uth_barrier_t b = UTH_BARRIER_INIT(2);
    auto *t = fifo::spawn([&] { uth_barrier_wait(&b); });
    while (uth_barrier_destroy(&b) == 0) fifo::yield();  // until it arrives
    REQUIRE(uth_barrier_destroy(&b) == EBUSY);
    uth_barrier_wait(&b);
    fifo::join(t);
    REQUIRE(uth_barrier_destroy(&b) == 0);
}
