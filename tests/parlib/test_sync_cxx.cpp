// The C++ layer (parlib/sync.hpp): the wrappers meet the standard lockable
// requirements, so standard RAII helpers work on them, and they keep the
// primitives' guarantees.
#include <catch2/catch.hpp>

#include <parlib/sync.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include "support/fifo_sched.hpp"
#include "support/foreign_thread.hpp"
#include "support/watchdog.hpp"

using namespace std::chrono_literals;

namespace {

// Lockable: lock, try_lock, unlock with the standard signatures.
template <class L>
constexpr bool is_lockable =
    std::is_same_v<decltype(std::declval<L &>().lock()), void> &&
    std::is_same_v<decltype(std::declval<L &>().try_lock()), bool> &&
    std::is_same_v<decltype(std::declval<L &>().unlock()), void>;
static_assert(is_lockable<parlib::SpinLock>);
static_assert(is_lockable<parlib::Mutex>);
static_assert(is_lockable<parlib::RecursiveMutex>);
static_assert(!std::is_copy_constructible_v<parlib::Mutex>);
static_assert(!std::is_move_constructible_v<parlib::CondVar>);

}  // namespace

TEST_CASE("sync.hpp: lock_guard and scoped_lock exclude 64 uthreads") {
    testwd::Watchdog wd(30, "sync.hpp: lock_guard and scoped_lock exclude 64 uthreads");
    fifo::init();
    parlib::Mutex a, b;
    parlib::SpinLock s;
    long counter = 0, spun = 0;
    bool inside = false;
    std::atomic<int> overlaps{0};
    std::vector<fifo::Thread *> ts;
    for (int i = 0; i < 64; ++i)
        ts.push_back(fifo::spawn([&, i] {
            for (int k = 0; k < 20; ++k) {
                {
                    // Opposite orders: std::scoped_lock must avoid deadlock.
                    auto guard = i % 2 ? std::scoped_lock(a, b)
                                       : std::scoped_lock(b, a);
                    if (inside) overlaps.fetch_add(1);
                    inside = true;
                    long c = counter;
                    fifo::yield();
                    counter = c + 1;
                    inside = false;
                }
                {
                    std::lock_guard<parlib::SpinLock> g(s);
                    ++spun;
                }
                fifo::yield();
            }
        }));
    for (auto *t : ts) fifo::join(t);
    REQUIRE(overlaps == 0);
    REQUIRE(counter == 64 * 20);
    REQUIRE(spun == 64 * 20);
}

TEST_CASE("sync.hpp: RecursiveMutex nests under unique_lock") {
    fifo::init();
    parlib::RecursiveMutex m;
    std::unique_lock<parlib::RecursiveMutex> outer(m);
    {
        std::lock_guard<parlib::RecursiveMutex> inner(m);
        bool other = true;
        fifo::join(fifo::spawn([&] {
            other = m.try_lock();
            if (other) m.unlock();
        }));
        REQUIRE_FALSE(other);
    }
    outer.unlock();
    bool other = false;
    fifo::join(fifo::spawn([&] {
        other = m.try_lock();
        if (other) m.unlock();
    }));
    REQUIRE(other);
}

TEST_CASE("sync.hpp: CondVar wait with a predicate hands items over") {
    testwd::Watchdog wd(30, "sync.hpp: CondVar wait with a predicate hands items over");
    fifo::init();
    parlib::Mutex m;
    parlib::CondVar cv;
    std::vector<int> items;
    bool closed = false;
    std::atomic<long> sum{0};
    std::vector<fifo::Thread *> ts;
    for (int c = 0; c < 16; ++c)
        ts.push_back(fifo::spawn([&] {
            std::unique_lock<parlib::Mutex> lk(m);
            for (;;) {
                cv.wait(lk, [&] { return !items.empty() || closed; });
                if (items.empty()) return;
                sum += items.back();
                items.pop_back();
            }
        }));
    fifo::ForeignThread producer([&] {
        for (int i = 1; i <= 1000; ++i) {
            std::lock_guard<parlib::Mutex> g(m);
            items.push_back(i);
            cv.notify_one();
        }
        std::lock_guard<parlib::Mutex> g(m);
        closed = true;
        cv.notify_all();
    });
    producer.join();
    for (auto *t : ts) fifo::join(t);
    REQUIRE(sum == 1000 * 1001 / 2);
}

TEST_CASE("sync.hpp: Barrier and Semaphore") {
    fifo::init();
    parlib::Barrier bar(8);
    parlib::Semaphore sem(2);
    std::atomic<int> serial{0}, holders{0}, max_holders{0};
    std::vector<fifo::Thread *> ts;
    for (int i = 0; i < 8; ++i)
        ts.push_back(fifo::spawn([&] {
            for (int p = 0; p < 10; ++p) {
                if (bar.wait()) serial.fetch_add(1);
                sem.acquire();
                int h = holders.fetch_add(1) + 1;
                for (int m = max_holders; h > m;)
                    if (max_holders.compare_exchange_weak(m, h)) break;
                fifo::yield();
                holders.fetch_sub(1);
                sem.release();
            }
        }));
    for (auto *t : ts) fifo::join(t);
    REQUIRE(serial == 10);
    REQUIRE(max_holders <= 2);
    REQUIRE(sem.try_acquire());
    REQUIRE(sem.try_acquire());
    REQUIRE_FALSE(sem.try_acquire());
    sem.release(2);
    REQUIRE(sem.try_acquire());
}

TEST_CASE("sync.hpp: timed waits honour their deadlines", "[timed]") {
    fifo::init();
    parlib::Mutex m;
    parlib::CondVar cv;
    parlib::Semaphore sem(0);
    using clock = std::chrono::steady_clock;

    auto t0 = clock::now();
    std::unique_lock<parlib::Mutex> lk(m);
    REQUIRE(cv.wait_for(lk, 30ms) == std::cv_status::timeout);
    REQUIRE(clock::now() - t0 >= 30ms);
    REQUIRE_FALSE(cv.wait_for(lk, 10ms, [] { return false; }));
    REQUIRE(lk.owns_lock());

    bool other = true, other_sys = true;
    auto t_both = clock::now();
    fifo::join(fifo::spawn([&] {
        other = m.try_lock_for(20ms);
        other_sys = m.try_lock_until(std::chrono::system_clock::now() + 20ms);
    }));
    REQUIRE_FALSE(other);
    REQUIRE_FALSE(other_sys);
    REQUIRE(clock::now() - t_both >= 40ms);
    lk.unlock();

    auto t1 = clock::now();
    REQUIRE_FALSE(sem.try_acquire_for(20ms));
    REQUIRE(clock::now() - t1 >= 20ms);
    sem.release();
    REQUIRE(sem.try_acquire_until(clock::now() - 1s));
    auto t2 = clock::now();
    REQUIRE(clock::now() - t2 < 2s);
}
