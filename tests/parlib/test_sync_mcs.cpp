// MCS locks (parlib/mcs_lock.h): mutual exclusion with caller-provided
// qnodes among more uthreads than vcores and foreign threads; trylock; the
// pdr variant disables notifications while held.
#include <catch2/catch.hpp>

#include <parlib/mcs_lock.h>

#include <deque>
#include <thread>
#include <vector>

#include "support/fifo_sched.hpp"
#include "support/foreign_thread.hpp"

TEST_CASE("mcs lock: 64 uthreads and 2 foreign threads exclude each other") {
    fifo::init();
    static mcs_lock_t lock = MCS_LOCK_INIT;
    long counter = 0;
    bool inside = false;
    std::atomic<int> overlaps{0};
    constexpr int kThreads = 64, kIters = 300, kForeign = 2;
    auto body = [&] {
        for (int i = 0; i < kIters; ++i) {
            mcs_lock_qnode_t q = MCS_QNODE_INIT;
            if (i % 2)
                mcs_lock_lock(&lock, &q);
            else
                mcs_pdr_lock(&lock, &q);
            if (inside) overlaps.fetch_add(1);
            inside = true;
            long c = counter;
            for (int k = 0; k < 20; ++k) __builtin_ia32_pause();
            counter = c + 1;
            inside = false;
            if (i % 2)
                mcs_lock_unlock(&lock, &q);
            else
                mcs_pdr_unlock(&lock, &q);
            if (uthread_self()) fifo::yield();
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
    REQUIRE(lock.tail == nullptr);
}

TEST_CASE("mcs lock: trylock fails while held or contended") {
    fifo::init();
    mcs_lock_t lock;
    mcs_lock_init(&lock);
    mcs_lock_qnode_t a, b;
    REQUIRE(mcs_lock_trylock(&lock, &a));
    REQUIRE_FALSE(mcs_lock_trylock(&lock, &b));
    mcs_lock_unlock(&lock, &a);
    REQUIRE(mcs_lock_trylock(&lock, &b));
    mcs_lock_unlock(&lock, &b);
    REQUIRE(lock.tail == nullptr);
}

TEST_CASE("mcs pdr lock: notifications are disabled exactly while held") {
    fifo::init();
    mcs_lock_t lock = MCS_LOCK_INIT;
    mcs_lock_qnode_t q;
    uthread *self = uthread_self();
    int base = self->notif_disabled;
    mcs_pdr_lock(&lock, &q);
    REQUIRE(self->notif_disabled == base + 1);
    mcs_pdr_unlock(&lock, &q);
    REQUIRE(self->notif_disabled == base);
}
