// Semaphores (parlib/semaphore.h): the count bounds concurrent holders
// among more uthreads than vcores, units are conserved, up works from vcore
// context and foreign threads, and timed downs time out or succeed.
#include <catch2/catch.hpp>

#include <parlib/event.h>
#include <parlib/semaphore.h>

#include <cerrno>
#include <thread>
#include <vector>

#include "support/fifo_sched.hpp"
#include "support/foreign_thread.hpp"
#include "support/watchdog.hpp"

namespace {
uint64_t now_us() { return parlib_now_us(); }
}  // namespace

TEST_CASE("semaphore: at most `count` holders among 64 uthreads") {
    testwd::Watchdog wd(30, "semaphore: at most count holders among 64 uthreads");
    fifo::init();
    constexpr int kUnits = 3, kThreads = 64, kIters = 50;
    uth_semaphore_t s = UTH_SEMAPHORE_INIT(kUnits);
    std::atomic<int> holders{0}, max_holders{0};
    auto body = [&] {
        for (int i = 0; i < kIters; ++i) {
            uth_semaphore_down(&s);
            int h = holders.fetch_add(1) + 1;
            for (int m = max_holders; h > m;)
                if (max_holders.compare_exchange_weak(m, h)) break;
            if (uthread_self()) fifo::yield();
            holders.fetch_sub(1);
            uth_semaphore_up(&s);
        }
    };
    std::vector<fifo::Thread *> ts;
    for (int i = 0; i < kThreads; ++i) ts.push_back(fifo::spawn(body, i % 2));
    fifo::ForeignThread f(body);
    for (auto *t : ts) fifo::join(t);
    f.join();
    REQUIRE(max_holders <= kUnits);
    REQUIRE(max_holders >= 1);
    // Units are conserved: exactly kUnits are left.
    for (int i = 0; i < kUnits; ++i) REQUIRE(uth_semaphore_try_down(&s));
    REQUIRE_FALSE(uth_semaphore_try_down(&s));
    REQUIRE(uth_semaphore_destroy(&s) == 0);
}

TEST_CASE("semaphore: every up releases one blocked down") {
    testwd::Watchdog wd(30, "semaphore: every up releases one blocked down");
    fifo::init();
    uth_semaphore_t s;
    uth_semaphore_init(&s, 0);
    REQUIRE_FALSE(uth_semaphore_try_down(&s));
    constexpr int kWaiters = 40;
    std::atomic<int> passed{0};
    std::vector<fifo::Thread *> ts;
    for (int i = 0; i < kWaiters; ++i)
        ts.push_back(fifo::spawn([&] {
            uth_semaphore_down(&s);
            passed.fetch_add(1);
        }));
    fifo::ForeignThread f([&] {
        uth_semaphore_down(&s);
        passed.fetch_add(1);
    });
    for (int released = 0; released <= kWaiters; ++released) {
        // Nobody passes without a unit of its own.
        while (passed < released) fifo::yield();
        for (int k = 0; k < 20; ++k) fifo::yield();
        REQUIRE(passed == released);
        uth_semaphore_up(&s);
    }
    for (auto *t : ts) fifo::join(t);
    f.join();
    REQUIRE(passed == kWaiters + 1);
    REQUIRE_FALSE(uth_semaphore_try_down(&s));
}

namespace {
uth_semaphore_t g_sem = UTH_SEMAPHORE_INIT(0);
void up_handler(event_msg *, unsigned, void *) { uth_semaphore_up(&g_sem); }
}  // namespace

TEST_CASE("semaphore: up from vcore context wakes a blocked uthread") {
    testwd::Watchdog wd(30, "semaphore: up from vcore context wakes a blocked uthread");
    fifo::init();
    REQUIRE(register_ev_handler(EV_USER + 1, up_handler, nullptr) == 0);
    std::atomic<int> passed{0};
    auto *t = fifo::spawn([&] {
        uth_semaphore_down(&g_sem);
        passed = 1;
    });
    for (int k = 0; k < 20; ++k) fifo::yield();
    REQUIRE(passed == 0);
    event_msg msg{};
    send_event(&msg, EV_USER + 1, 0, EVENT_WAKEUP);
    fifo::join(t);
    REQUIRE(passed == 1);
}

TEST_CASE("semaphore: timed down times out", "[timed]") {
    fifo::init();
    uth_semaphore_t s = UTH_SEMAPHORE_INIT(0);
    struct Result {
        bool got = true;
        uint64_t deadline = 0, end = 0;
    } r[2];
    auto attempt = [&](Result &res) {
        res.deadline = now_us() + 50000;
        res.got = uth_semaphore_timed_down(&s, res.deadline);
        res.end = now_us();
    };
    fifo::join(fifo::spawn([&] { attempt(r[0]); }));
    fifo::ForeignThread([&] { attempt(r[1]); }).join();
    for (auto &res : r) {
        CHECK_FALSE(res.got);
        CHECK(res.end >= res.deadline);
        CHECK(res.end < res.deadline + 2000000);
    }
    uth_semaphore_up(&s);
    REQUIRE(uth_semaphore_timed_down(&s, now_us() - 1));  // available: taken
    REQUIRE(uth_semaphore_destroy(&s) == 0);
}

TEST_CASE("semaphore: timed down succeeds when upped before the deadline",
          "[timed]") {
    testwd::Watchdog wd(30, "semaphore: timed down succeeds when upped before the deadline");
    fifo::init();
    uth_semaphore_t s = UTH_SEMAPHORE_INIT(0);
    uint64_t deadline = now_us() + 10000000;
    std::atomic<int> got[2] = {-1, -1};
    auto *t = fifo::spawn([&] { got[0] = uth_semaphore_timed_down(&s, deadline); });
    fifo::ForeignThread f([&] { got[1] = uth_semaphore_timed_down(&s, deadline); });
    for (int k = 0; k < 20; ++k) fifo::yield();
    uth_semaphore_up(&s);
    uth_semaphore_up(&s);
    fifo::join(t);
    f.join();
    REQUIRE(got[0] == 1);
    REQUIRE(got[1] == 1);
    REQUIRE(now_us() < deadline);
    REQUIRE_FALSE(uth_semaphore_try_down(&s));
}

TEST_CASE("semaphore: units are conserved when ups race with timeouts",
          "[timed]") {
    testwd::Watchdog wd(30, "semaphore: units are conserved when ups race with timeouts");
    fifo::init();
    uth_semaphore_t s = UTH_SEMAPHORE_INIT(0);
    constexpr int kThreads = 48, kIters = 40, kUps = 600;
    std::atomic<long> got{0};
    std::vector<fifo::Thread *> ts;
    for (int i = 0; i < kThreads; ++i)
        ts.push_back(fifo::spawn(
            [&, i] {
                for (int k = 0; k < kIters; ++k)
                    if (uth_semaphore_timed_down(&s, now_us() + 20 + 30 * (i % 8)))
                        got.fetch_add(1);
            },
            i % 2));
    fifo::ForeignThread producer([&] {
        for (int i = 0; i < kUps; ++i) {
            uth_semaphore_up(&s);
            if (i % 8 == 0) std::this_thread::yield();
        }
    });
    producer.join();
    for (auto *t : ts) fifo::join(t);
    long left = 0;
    while (uth_semaphore_try_down(&s)) ++left;
    REQUIRE(got + left == kUps);
}
