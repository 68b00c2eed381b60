// User-space futexes (parlib/futex.h): value check, wake counts, waiters on
// different addresses of one bucket kept apart, uthreads and foreign
// threads waking each other, a futex-based mutex under contention, and
// timeouts.
#include <catch2/catch.hpp>

#include <parlib/futex.h>

#include <cerrno>
#include <climits>
#include <deque>
#include <thread>
#include <vector>

#include "support/fifo_sched.hpp"
#include "support/foreign_thread.hpp"
#include "support/watchdog.hpp"

namespace {
uint64_t now_us() { return parlib_now_us(); }
}  // namespace

TEST_CASE("futex: wait returns EAGAIN when the value differs") {
    fifo::init();
    uint32_t word = 1;
    REQUIRE(uth_futex_wait(&word, 0, -1) == EAGAIN);
    REQUIRE(uth_futex_wake(&word, INT_MAX) == 0);
    REQUIRE(uth_futex_wake(&word, 0) == 0);
}

// There are no spurious wake-ups, so each waiter returns exactly when a
// wake reported it: the number returned never exceeds what wake reported,
// and catches up with it.
TEST_CASE("futex: wake reports exactly the waiters it woke") {
    testwd::Watchdog wd(30, "futex: wake reports exactly the waiters it woke");
    fifo::init();
    static uint32_t word = 0;
    constexpr int kWaiters = 24, kForeign = 2;
    std::atomic<int> returned{0}, bad_rc{0};
    auto waiter = [&] {
        if (uth_futex_wait(&word, 0, -1) != 0) bad_rc.fetch_add(1);
        returned.fetch_add(1);
    };
    std::vector<fifo::Thread *> ts;
    for (int i = 0; i < kWaiters; ++i) ts.push_back(fifo::spawn(waiter, i % 2));
    std::deque<fifo::ForeignThread> fs;
    for (int i = 0; i < kForeign; ++i) fs.emplace_back(waiter);
    int reported = 0, over = 0;
    while (reported < kWaiters + kForeign) {
        int n = uth_futex_wake(&word, 3);
        if (n > 3) over++;
        reported += n;
        while (returned < reported) fifo::yield();
        if (returned > reported) over++;
        fifo::yield();
    }
    for (auto *t : ts) fifo::join(t);
    for (auto &f : fs) f.join();
    REQUIRE(over == 0);
    REQUIRE(bad_rc == 0);
    REQUIRE(returned == kWaiters + kForeign);
    REQUIRE(uth_futex_wake(&word, INT_MAX) == 0);
}

// 300 addresses over 256 buckets: some share a bucket. Waking one address
// must wake its waiter and nobody else's.
TEST_CASE("futex: waiters on other addresses are not woken") {
    testwd::Watchdog wd(30, "futex: waiters on other addresses are not woken");
    fifo::init();
    constexpr int kAddrs = 300;
    static uint32_t words[kAddrs];
    std::vector<std::atomic<int>> woke(kAddrs);
    std::vector<fifo::Thread *> ts;
    for (int i = 0; i < kAddrs; ++i)
        ts.push_back(fifo::spawn(
            [&, i] {
                while (uth_futex_wait(&words[i], 0, -1) != 0) {
                }
                woke[i] = 1;
            },
            false));
    int wrong = 0;
    for (int i = 0; i < kAddrs; ++i) {
        int n;
        while ((n = uth_futex_wake(&words[i], INT_MAX)) == 0) fifo::yield();
        if (n != 1) ++wrong;
        while (!woke[i]) fifo::yield();
        for (int j = i + 1; j < kAddrs; ++j)
            if (woke[j]) ++wrong;
    }
    for (auto *t : ts) fifo::join(t);
    REQUIRE(wrong == 0);
}

// Drepper's three-state mutex: 0 free, 1 locked, 2 locked with waiters.
TEST_CASE("futex: a futex mutex keeps uthreads and threads exclusive") {
    testwd::Watchdog wd(30, "futex: a futex mutex keeps uthreads and threads exclusive");
    fifo::init();
    static uint32_t state = 0;
    long counter = 0;
    bool inside = false;
    std::atomic<int> overlaps{0};
    auto lock = [] {
        uint32_t c = 0;
        if (__atomic_compare_exchange_n(&state, &c, 1, false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return;
        if (c != 2) c = __atomic_exchange_n(&state, 2, __ATOMIC_ACQUIRE);
        while (c != 0) {
            uth_futex_wait(&state, 2, -1);
            c = __atomic_exchange_n(&state, 2, __ATOMIC_ACQUIRE);
        }
    };
    auto unlock = [] {
        if (__atomic_fetch_sub(&state, 1, __ATOMIC_RELEASE) != 1) {
            __atomic_store_n(&state, 0, __ATOMIC_RELEASE);
            uth_futex_wake(&state, 1);
        }
    };
    constexpr int kThreads = 64, kForeign = 2, kIters = 100;
    auto body = [&] {
        for (int i = 0; i < kIters; ++i) {
            lock();
            if (inside) overlaps.fetch_add(1);
            inside = true;
            long c = counter;
            if (uthread_self()) fifo::yield();
            counter = c + 1;
            inside = false;
            unlock();
        }
    };
    std::vector<fifo::Thread *> ts;
    for (int i = 0; i < kThreads; ++i) ts.push_back(fifo::spawn(body, i % 2));
    std::deque<fifo::ForeignThread> fs;
    for (int i = 0; i < kForeign; ++i) fs.emplace_back(body);
    for (auto *t : ts) fifo::join(t);
    for (auto &f : fs) f.join();
    REQUIRE(overlaps == 0);
    REQUIRE(counter == long{kThreads + kForeign} * kIters);
}

TEST_CASE("futex: a wait times out", "[timed]") {
    fifo::init();
    static uint32_t word = 0;
    struct Result {
        int rc = -1;
        uint64_t start = 0, end = 0;
    } r[2];
    auto attempt = [&](Result &res) {
        res.start = now_us();
        res.rc = uth_futex_wait(&word, 0, 50000);
        res.end = now_us();
    };
    fifo::join(fifo::spawn([&] { attempt(r[0]); }));
    fifo::ForeignThread([&] { attempt(r[1]); }).join();
    for (auto &res : r) {
        CHECK(res.rc == ETIMEDOUT);
        CHECK(res.end >= res.start + 50000);
        CHECK(res.end < res.start + 50000 + 2000000);
    }
    REQUIRE(uth_futex_wait(&word, 0, 0) == ETIMEDOUT);
    REQUIRE(uth_futex_wake(&word, INT_MAX) == 0);
}

TEST_CASE("futex: a woken timed wait does not time out", "[timed]") {
    testwd::Watchdog wd(30, "futex: a woken timed wait does not time out");
    fifo::init();
    static uint32_t word = 0;
    std::atomic<int> rcs[2] = {-1, -1};
    auto *t = fifo::spawn([&] { rcs[0] = uth_futex_wait(&word, 0, 10000000); });
    fifo::ForeignThread f([&] { rcs[1] = uth_futex_wait(&word, 0, 10000000); });
    uint64_t start = now_us();
    for (int woken = 0; woken < 2;) {
        woken += uth_futex_wake(&word, INT_MAX);
        fifo::yield();
    }
    fifo::join(t);
    f.join();
    REQUIRE(rcs[0] == 0);
    REQUIRE(rcs[1] == 0);
    REQUIRE(now_us() < start + 10000000);
}

// Wakes race with timeouts: a waiter that wake() counted must return 0,
// one that returned ETIMEDOUT must not have been counted.
TEST_CASE("futex: a wake is consumed by exactly one waiter", "[timed]") {
    testwd::Watchdog wd(30, "futex: a wake is consumed by exactly one waiter");
    fifo::init();
    static uint32_t word = 0;
    constexpr int kThreads = 48, kIters = 40;
    std::atomic<long> zeros{0}, woken{0};
    std::atomic<int> done{0};
    std::vector<fifo::Thread *> ts;
    for (int i = 0; i < kThreads; ++i)
        ts.push_back(fifo::spawn(
            [&, i] {
                for (int k = 0; k < kIters; ++k)
                    if (uth_futex_wait(&word, 0, 20 + 30 * (i % 8)) == 0)
                        zeros.fetch_add(1);
                done.fetch_add(1);
            },
            i % 2));
    fifo::ForeignThread waker([&] {
        while (done < kThreads) {
            woken += uth_futex_wake(&word, 1 + done % 3);
            std::this_thread::yield();
        }
    });
    waker.join();
    for (auto *t : ts) fifo::join(t);
    REQUIRE(zeros == woken);
}
