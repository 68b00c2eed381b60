// uthread mutexes (parlib/mutex.h): mutual exclusion with blocking waiters
// among more uthreads than vcores (and foreign threads), recursive and
// errorcheck semantics, misuse, and timed locking.
#include <catch2/catch.hpp>

#include <parlib/mutex.h>

#include <cerrno>
#include <deque>
#include <thread>
#include <vector>

#include "support/fifo_sched.hpp"
#include "support/fork_child.hpp"
#include "support/foreign_thread.hpp"
#include "support/watchdog.hpp"

namespace {

// Catch2 assertions are not thread-safe: threads count failures here and
// the test case checks the counts.
struct Shared {
    long counter = 0;     // deliberately not atomic
    bool inside = false;  // set only by the holder
    std::atomic<int> overlaps{0};
    std::atomic<int> errors{0};
};

// The holder yields inside the critical section, so contenders really
// block (with 1 vcore they could not make progress by spinning).
void critical(uth_mutex_t *m, Shared &s) {
    if (uth_mutex_lock(m) != 0) s.errors.fetch_add(1);
    if (s.inside) s.overlaps.fetch_add(1);
    s.inside = true;
    long c = s.counter;
    if (uthread_self()) fifo::yield();
    s.counter = c + 1;
    s.inside = false;
    if (uth_mutex_unlock(m) != 0) s.errors.fetch_add(1);
}

void contend(int type) {
    testwd::Watchdog wd(30, "mutex contention");
    fifo::init();
    uth_mutex_t m;
    uth_mutex_init(&m, type);
    Shared s;
    constexpr int kThreads = 64, kIters = 100;
    std::vector<fifo::Thread *> ts;
    for (int i = 0; i < kThreads; ++i)
        ts.push_back(fifo::spawn(
            [&] {
                for (int k = 0; k < kIters; ++k) critical(&m, s);
            },
            i % 4 != 0));  // a quarter are lightweight uthreads
    for (auto *t : ts) fifo::join(t);
    REQUIRE(s.errors == 0);
    REQUIRE(s.overlaps == 0);
    REQUIRE(s.counter == long{kThreads} * kIters);
    REQUIRE(uth_mutex_destroy(&m) == 0);
}

uint64_t now_us() { return parlib_now_us(); }

}  // namespace

TEST_CASE("mutex: 64 uthreads exclude each other (normal)") {
    contend(UTH_MUTEX_NORMAL);
}
TEST_CASE("mutex: 64 uthreads exclude each other (recursive)") {
    contend(UTH_MUTEX_RECURSIVE);
}
TEST_CASE("mutex: 64 uthreads exclude each other (errorcheck)") {
    contend(UTH_MUTEX_ERRORCHECK);
}

TEST_CASE("mutex: waiters block in user space, the vcore runs others") {
    testwd::Watchdog wd(30, "mutex: waiters block in user space; the vcore runs others");
    fifo::init();
    static uth_mutex_t m = UTH_MUTEX_INIT;
    REQUIRE(uth_mutex_lock(&m) == 0);
    std::atomic<int> got{0};
    std::vector<fifo::Thread *> ts;
    for (int i = 0; i < 16; ++i)
        ts.push_back(fifo::spawn([&] {
            uth_mutex_lock(&m);
            got.fetch_add(1);
            uth_mutex_unlock(&m);
        }));
    // A non-contending uthread must keep running while 16 wait (with one
    // vcore, spinning waiters would starve it and us).
    std::atomic<int> ticks{0};
    auto *ticker = fifo::spawn([&] {
        for (int i = 0; i < 200; ++i) {
            ticks.fetch_add(1);
            fifo::yield();
        }
    });
    fifo::join(ticker);
    REQUIRE(ticks == 200);
    REQUIRE(got == 0);
    REQUIRE(uth_mutex_destroy(&m) == EBUSY);
    REQUIRE(uth_mutex_unlock(&m) == 0);
    for (auto *t : ts) fifo::join(t);
    REQUIRE(got == 16);
    REQUIRE(uth_mutex_destroy(&m) == 0);
}

TEST_CASE("mutex: recursive mutex counts its owner's locks") {
    fifo::init();
    uth_mutex_t m = UTH_RECURSIVE_MUTEX_INIT;
    REQUIRE(uth_mutex_lock(&m) == 0);
    REQUIRE(uth_mutex_lock(&m) == 0);
    REQUIRE(uth_mutex_trylock(&m) == 0);
    auto other_trylock = [&] {
        int rc = -1;
        fifo::join(fifo::spawn([&] {
            rc = uth_mutex_trylock(&m);
            if (rc == 0) uth_mutex_unlock(&m);
        }));
        return rc;
    };
    auto other_unlock = [&] {
        int rc = -1;
        fifo::join(fifo::spawn([&] { rc = uth_mutex_unlock(&m); }));
        return rc;
    };
    REQUIRE(other_unlock() == EPERM);
    for (int depth = 3; depth > 0; --depth) {
        REQUIRE(other_trylock() == EBUSY);
        REQUIRE(uth_mutex_unlock(&m) == 0);
    }
    REQUIRE(uth_mutex_unlock(&m) == EPERM);
    REQUIRE(other_trylock() == 0);
}

TEST_CASE("mutex: errorcheck reports relock and foreign unlock") {
    fifo::init();
    uth_mutex_t m;
    uth_mutex_init(&m, UTH_MUTEX_ERRORCHECK);
    REQUIRE(uth_mutex_unlock(&m) == EPERM);  // not locked at all
    REQUIRE(uth_mutex_lock(&m) == 0);
    REQUIRE(uth_mutex_lock(&m) == EDEADLK);
    REQUIRE(uth_mutex_trylock(&m) == EBUSY);
    int rc = -1;
    fifo::join(fifo::spawn([&] { rc = uth_mutex_unlock(&m); }));
    REQUIRE(rc == EPERM);
    fifo::ForeignThread([&] { rc = uth_mutex_unlock(&m); }).join();
    REQUIRE(rc == EPERM);
    REQUIRE(uth_mutex_unlock(&m) == 0);  // still ours: the others failed
    REQUIRE(uth_mutex_unlock(&m) == EPERM);
}

TEST_CASE("mutex: normal mutex refuses unlock by a non-owner") {
    fifo::init();
    uth_mutex_t m = UTH_MUTEX_INIT;
    REQUIRE(uth_mutex_lock(&m) == 0);
    REQUIRE(uth_mutex_trylock(&m) == EBUSY);
    int rc = -1;
    fifo::join(fifo::spawn([&] { rc = uth_mutex_unlock(&m); }));
    REQUIRE(rc == EPERM);
    REQUIRE(uth_mutex_unlock(&m) == 0);
}

TEST_CASE("mutex: relocking a normal mutex aborts naming the call") {
    fifo::init();
    forkchild::Result r = forkchild::run([] {
        uth_mutex_t m = UTH_MUTEX_INIT;
        uth_mutex_lock(&m);
        uth_mutex_lock(&m);
    });
    INFO("child stderr: " << r.err);
    REQUIRE(!r.hung);
    REQUIRE(r.aborted());
    REQUIRE(r.err.find("uth_mutex_lock") != std::string::npos);
}

TEST_CASE("mutex: foreign threads and uthreads share one mutex") {
    testwd::Watchdog wd(30, "mutex: foreign threads and uthreads share one mutex");
    fifo::init();
    uth_mutex_t m = UTH_MUTEX_INIT;
    Shared s;
    constexpr int kThreads = 32, kForeign = 2, kIters = 200;
    auto body = [&] {
        for (int k = 0; k < kIters; ++k) critical(&m, s);
    };
    std::vector<fifo::Thread *> ts;
    for (int i = 0; i < kThreads; ++i) ts.push_back(fifo::spawn(body));
    std::deque<fifo::ForeignThread> fs;
    for (int i = 0; i < kForeign; ++i) fs.emplace_back(body);
    for (auto *t : ts) fifo::join(t);
    for (auto &f : fs) f.join();
    REQUIRE(s.errors == 0);
    REQUIRE(s.overlaps == 0);
    REQUIRE(s.counter == long{kThreads + kForeign} * kIters);
}

TEST_CASE("mutex: a foreign thread blocks until a uthread unlocks", "[foreign]") {
    testwd::Watchdog wd(30, "mutex: a foreign thread blocks until a uthread unlocks");
    fifo::init();
    uth_mutex_t m = UTH_MUTEX_INIT;
    REQUIRE(uth_mutex_lock(&m) == 0);
    std::atomic<int> got{0};
    fifo::ForeignThread f([&] {
        uth_mutex_lock(&m);
        got = 1;
        uth_mutex_unlock(&m);
    });
    for (int i = 0; i < 100; ++i) fifo::yield();
    REQUIRE(got == 0);
    REQUIRE(uth_mutex_unlock(&m) == 0);
    f.join();
    REQUIRE(got == 1);
}

TEST_CASE("mutex: timed lock times out while held", "[timed]") {
    fifo::init();
    uth_mutex_t m = UTH_MUTEX_INIT;
    REQUIRE(uth_mutex_lock(&m) == 0);
    struct Result {
        int rc = -1;
        uint64_t deadline = 0, end = 0;
    } r[2];
    auto attempt = [&](Result &res) {
        res.deadline = now_us() + 50000;
        res.rc = uth_mutex_timed_lock(&m, res.deadline);
        res.end = now_us();
    };
    fifo::join(fifo::spawn([&] { attempt(r[0]); }));
    fifo::ForeignThread([&] { attempt(r[1]); }).join();
    for (auto &res : r) {
        CHECK(res.rc == ETIMEDOUT);
        CHECK(res.end >= res.deadline);
        CHECK(res.end < res.deadline + 2000000);
    }
    REQUIRE(uth_mutex_unlock(&m) == 0);
    // A free mutex is taken even with a deadline in the past.
    REQUIRE(uth_mutex_timed_lock(&m, now_us() - 1) == 0);
    REQUIRE(uth_mutex_unlock(&m) == 0);
}

TEST_CASE("mutex: timed lock succeeds when unlocked before the deadline",
          "[timed]") {
    testwd::Watchdog wd(30, "mutex: timed lock succeeds when unlocked before the deadline");
    fifo::init();
    uth_mutex_t m = UTH_MUTEX_INIT;
    REQUIRE(uth_mutex_lock(&m) == 0);
    std::atomic<int> rcs[2] = {-1, -1};
    uint64_t deadline = now_us() + 10000000;
    auto *t = fifo::spawn([&] {
        rcs[0] = uth_mutex_timed_lock(&m, deadline);
        if (rcs[0] == 0) uth_mutex_unlock(&m);
    });
    fifo::ForeignThread f([&] {
        rcs[1] = uth_mutex_timed_lock(&m, deadline);
        if (rcs[1] == 0) uth_mutex_unlock(&m);
    });
    for (int i = 0; i < 50; ++i) fifo::yield();
    REQUIRE(uth_mutex_unlock(&m) == 0);
    fifo::join(t);
    f.join();
    REQUIRE(rcs[0] == 0);
    REQUIRE(rcs[1] == 0);
    REQUIRE(now_us() < deadline);
}

TEST_CASE("mutex: timed and untimed lockers race without losing wake-ups",
          "[timed]") {
    testwd::Watchdog wd(30, "mutex: timed and untimed lockers race without losing wake-ups");
    fifo::init();
    uth_mutex_t m = UTH_MUTEX_INIT;
    Shared s;
    std::atomic<long> timeouts{0};
    constexpr int kThreads = 48, kIters = 60;
    std::vector<fifo::Thread *> ts;
    for (int i = 0; i < kThreads; ++i)
        ts.push_back(fifo::spawn([&, i] {
            for (int k = 0; k < kIters; ++k) {
                int rc = i % 2 ? uth_mutex_timed_lock(&m, now_us() + 100 + k)
                               : uth_mutex_lock(&m);
                if (rc == ETIMEDOUT) {
                    timeouts.fetch_add(1);
                    continue;
                }
                if (rc != 0) s.errors.fetch_add(1);
                if (s.inside) s.overlaps.fetch_add(1);
                s.inside = true;
                s.counter++;
                fifo::yield();
                s.inside = false;
                uth_mutex_unlock(&m);
            }
        }));
    for (auto *t : ts) fifo::join(t);
    REQUIRE(s.errors == 0);
    REQUIRE(s.overlaps == 0);
    REQUIRE(s.counter + timeouts == long{kThreads} * kIters);
    REQUIRE(uth_mutex_destroy(&m) == 0);
}
