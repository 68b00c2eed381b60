// Condition variables (parlib/condvar.h): no lost wake-ups under
// producer/consumer contention with more uthreads than vcores, broadcast,
// mutex re-acquisition (also recursive), foreign-thread waiters, and timed
// waits that time out or are signalled - exactly one of the two.
#include <catch2/catch.hpp>

#include <parlib/condvar.h>

#include <cerrno>
#include <deque>
#include <thread>
#include <vector>

#include "support/fifo_sched.hpp"
#include "support/foreign_thread.hpp"
#include "support/watchdog.hpp"

namespace {

uint64_t now_us() { return parlib_now_us(); }

// A bounded queue where every wake-up is a signal (never a broadcast), so a
// lost wake-up leaves a thread asleep for ever (the test then hangs).
struct Bounded {
    uth_mutex_t m = UTH_MUTEX_INIT;
    uth_cond_var_t not_full = UTH_COND_VAR_INIT;
    uth_cond_var_t not_empty = UTH_COND_VAR_INIT;
    std::deque<long> items;
    size_t cap = 4;
    std::atomic<int> errors{0};

    void put(long v) {
        uth_mutex_lock(&m);
        while (items.size() == cap)
            if (uth_cond_var_wait(&not_full, &m)) errors.fetch_add(1);
        items.push_back(v);
        uth_cond_var_signal(&not_empty);
        uth_mutex_unlock(&m);
    }
    long get() {
        uth_mutex_lock(&m);
        while (items.empty())
            if (uth_cond_var_wait(&not_empty, &m)) errors.fetch_add(1);
        long v = items.front();
        items.pop_front();
        uth_cond_var_signal(&not_full);
        uth_mutex_unlock(&m);
        return v;
    }
};

}  // namespace

TEST_CASE("condvar: producers and consumers lose no wake-ups") {
    testwd::Watchdog wd(30, "condvar: producers and consumers lose no wake-ups");
    fifo::init();
    Bounded q;
    constexpr int kProducers = 32, kConsumers = 32, kItems = 100;
    constexpr int kForeign = 1;  // one foreign producer and consumer each
    std::vector<std::atomic<int>> seen(long{kProducers + kForeign} * kItems);
    auto produce = [&](int p) {
        for (int i = 0; i < kItems; ++i) q.put(long{p} * kItems + i);
    };
    auto consume = [&](int n) {
        for (int i = 0; i < n; ++i) seen[q.get()].fetch_add(1);
    };
    // Consumers take exactly what producers make in total.
    std::vector<fifo::Thread *> ts;
    for (int p = 0; p < kProducers; ++p)
        ts.push_back(fifo::spawn([&, p] { produce(p); }, p % 2));
    for (int c = 0; c < kConsumers; ++c)
        ts.push_back(fifo::spawn([&] { consume(kItems); }, c % 2));
    fifo::ForeignThread fp([&] { produce(kProducers); });
    fifo::ForeignThread fc([&] { consume(kItems); });
    for (auto *t : ts) fifo::join(t);
    fp.join();
    fc.join();
    REQUIRE(q.errors == 0);
    REQUIRE(q.items.empty());
    for (auto &s : seen) REQUIRE(s == 1);
    REQUIRE(uth_cond_var_destroy(&q.not_empty) == 0);
}

TEST_CASE("condvar: broadcast wakes every waiter") {
    testwd::Watchdog wd(30, "condvar: broadcast wakes every waiter");
    fifo::init();
    uth_mutex_t m = UTH_MUTEX_INIT;
    uth_cond_var_t cv = UTH_COND_VAR_INIT;
    bool go = false;
    int waiting = 0;
    std::atomic<int> done{0};
    auto waiter = [&] {
        uth_mutex_lock(&m);
        ++waiting;
        while (!go) uth_cond_var_wait(&cv, &m);
        uth_mutex_unlock(&m);
        done.fetch_add(1);
    };
    constexpr int kWaiters = 40;
    std::vector<fifo::Thread *> ts;
    for (int i = 0; i < kWaiters; ++i) ts.push_back(fifo::spawn(waiter));
    fifo::ForeignThread f(waiter);
    // Everyone is queued once they all counted in and the mutex is free.
    for (;;) {
        uth_mutex_lock(&m);
        bool all = waiting == kWaiters + 1;
        uth_mutex_unlock(&m);
        if (all) break;
        fifo::yield();
    }
    REQUIRE(done == 0);
    REQUIRE(uth_cond_var_destroy(&cv) == EBUSY);
    uth_mutex_lock(&m);
    go = true;
    uth_cond_var_broadcast(&cv);
    uth_mutex_unlock(&m);
    for (auto *t : ts) fifo::join(t);
    f.join();
    REQUIRE(done == kWaiters + 1);
}

TEST_CASE("condvar: waiting requires holding the mutex") {
    fifo::init();
    uth_mutex_t m = UTH_ERRORCHECK_MUTEX_INIT;
    uth_cond_var_t cv = UTH_COND_VAR_INIT;
    REQUIRE(uth_cond_var_wait(&cv, &m) == EPERM);
    REQUIRE(uth_mutex_lock(&m) == 0);
    int rc = -1;
    fifo::join(fifo::spawn([&] { rc = uth_cond_var_wait(&cv, &m); }));
    REQUIRE(rc == EPERM);
    REQUIRE(uth_mutex_unlock(&m) == 0);
}

TEST_CASE("condvar: a recursive mutex is restored to its depth") {
    testwd::Watchdog wd(30, "condvar: a recursive mutex is restored to its depth");
    fifo::init();
    uth_mutex_t m = UTH_RECURSIVE_MUTEX_INIT;
    uth_cond_var_t cv = UTH_COND_VAR_INIT;
    bool go = false, locked_meanwhile = false;
    auto *t = fifo::spawn([&] {
        uth_mutex_lock(&m);  // possible only if the waiter released fully
        locked_meanwhile = true;
        go = true;
        uth_cond_var_signal(&cv);
        uth_mutex_unlock(&m);
    });
    uth_mutex_lock(&m);
    uth_mutex_lock(&m);
    while (!go) REQUIRE(uth_cond_var_wait(&cv, &m) == 0);
    REQUIRE(locked_meanwhile);
    REQUIRE(uth_mutex_unlock(&m) == 0);
    REQUIRE(uth_mutex_unlock(&m) == 0);
    REQUIRE(uth_mutex_unlock(&m) == EPERM);
    fifo::join(t);
}

TEST_CASE("condvar: timed wait times out", "[timed]") {
    fifo::init();
    uth_mutex_t m = UTH_MUTEX_INIT;
    uth_cond_var_t cv = UTH_COND_VAR_INIT;
    struct Result {
        int rc = -1, relock = -1;
        uint64_t deadline = 0, end = 0;
    } r[2];
    auto attempt = [&](Result &res) {
        uth_mutex_lock(&m);
        res.deadline = now_us() + 50000;
        res.rc = uth_cond_var_timed_wait(&cv, &m, res.deadline);
        res.end = now_us();
        res.relock = uth_mutex_unlock(&m);  // 0 iff it was re-acquired
    };
    fifo::join(fifo::spawn([&] { attempt(r[0]); }));
    fifo::ForeignThread([&] { attempt(r[1]); }).join();
    for (auto &res : r) {
        CHECK(res.rc == ETIMEDOUT);
        CHECK(res.relock == 0);
        CHECK(res.end >= res.deadline);
        CHECK(res.end < res.deadline + 2000000);
    }
    REQUIRE(uth_cond_var_destroy(&cv) == 0);
}

TEST_CASE("condvar: a signalled timed wait does not time out", "[timed]") {
    testwd::Watchdog wd(30, "condvar: a signalled timed wait does not time out");
    fifo::init();
    uth_mutex_t m = UTH_MUTEX_INIT;
    uth_cond_var_t cv = UTH_COND_VAR_INIT;
    uint64_t deadline = now_us() + 10000000;
    int waiting = 0;
    std::atomic<int> rcs[2] = {-1, -1};
    auto waiter = [&](int i) {
        uth_mutex_lock(&m);
        ++waiting;
        rcs[i] = uth_cond_var_timed_wait(&cv, &m, deadline);
        uth_mutex_unlock(&m);
    };
    auto *t = fifo::spawn([&] { waiter(0); });
    fifo::ForeignThread f([&] { waiter(1); });
    for (;;) {
        uth_mutex_lock(&m);
        bool both = waiting == 2;
        uth_mutex_unlock(&m);
        if (both) break;
        fifo::yield();
    }
    uth_cond_var_signal(&cv);
    uth_cond_var_signal(&cv);
    fifo::join(t);
    f.join();
    REQUIRE(rcs[0] == 0);
    REQUIRE(rcs[1] == 0);
    REQUIRE(now_us() < deadline);
}

// Signals race with deadlines. Each token is announced by exactly one
// signal and the next token is only produced once it has been taken. The
// one untimed consumer is always queued unless it is already looking at
// the tokens, so a correct signal always leads to the token being taken;
// timed waiters take a token only when their wait reports a signal (rc 0).
// If a waiter could consume a signal and report ETIMEDOUT, that token would
// be stranded and the producer would wait for ever.
TEST_CASE("condvar: a signal is consumed by exactly one waiter", "[timed]") {
    testwd::Watchdog wd(30, "condvar: a signal is consumed by exactly one waiter");
    fifo::init();
    uth_mutex_t m = UTH_MUTEX_INIT;
    uth_cond_var_t cv = UTH_COND_VAR_INIT;
    long tokens = 0, by_timed = 0;
    bool stop = false;
    std::atomic<int> errors{0};
    // At least kTokens; more (up to kMaxTokens) until a timed waiter has
    // taken one, so that a loaded machine still exercises the race.
    constexpr int kTokens = 100, kMaxTokens = 5000, kTimed = 48;
    std::vector<fifo::Thread *> ts;
    ts.push_back(fifo::spawn([&] {
        uth_mutex_lock(&m);
        for (;;) {
            while (!tokens && !stop) uth_cond_var_wait(&cv, &m);
            if (stop) break;
            --tokens;
        }
        uth_mutex_unlock(&m);
    }));
    for (int i = 0; i < kTimed; ++i)
        ts.push_back(fifo::spawn(
            [&, i] {
                uth_mutex_lock(&m);
                while (!stop) {
                    int rc = uth_cond_var_timed_wait(
                        &cv, &m, now_us() + 20 + 40 * (i % 8));
                    if (rc != 0 && rc != ETIMEDOUT) errors.fetch_add(1);
                    if (rc == 0 && tokens) {
                        --tokens;
                        ++by_timed;
                    }
                }
                uth_mutex_unlock(&m);
            },
            i % 2));
    fifo::ForeignThread producer([&] {
        for (int i = 0;; ++i) {
            uth_mutex_lock(&m);
            if (i >= kMaxTokens || (i >= kTokens && by_timed > 0)) {
                uth_mutex_unlock(&m);
                break;
            }
            ++tokens;
            uth_cond_var_signal(&cv);
            uth_mutex_unlock(&m);
            for (bool taken = false; !taken;) {
                std::this_thread::yield();
                uth_mutex_lock(&m);
                taken = tokens == 0;
                uth_mutex_unlock(&m);
            }
        }
        uth_mutex_lock(&m);
        stop = true;
        uth_cond_var_broadcast(&cv);
        uth_mutex_unlock(&m);
    });
    producer.join();
    for (auto *t : ts) fifo::join(t);
    REQUIRE(errors == 0);
    REQUIRE(tokens == 0);
    // The race was exercised: some tokens went to timed waiters.
    CHECK(by_timed > 0);
}
