// Spinlocks and pdr spinlocks (parlib/spinlock.h): mutual exclusion among
// more uthreads than vcores, foreign threads and vcore context; the pdr
// variant keeps notifications disabled exactly while held.
#include <catch2/catch.hpp>

#include <parlib/event.h>
#include <parlib/spinlock.h>

#include <deque>
#include <thread>
#include <vector>

#include "support/fifo_sched.hpp"
#include "support/foreign_thread.hpp"

namespace {

struct Shared {
    long counter = 0;     // deliberately not atomic
    bool inside = false;  // set only by the holder
    std::atomic<int> overlaps{0};
};

template <class Lock, class Unlock>
void critical(Shared &s, Lock lock, Unlock unlock) {
    lock();
    if (s.inside) s.overlaps.fetch_add(1);
    s.inside = true;
    long c = s.counter;
    for (int k = 0; k < 20; ++k) __builtin_ia32_pause();  // widen the window
    s.counter = c + 1;
    s.inside = false;
    unlock();
}

}  // namespace

TEST_CASE("spinlock: 64 uthreads and 2 foreign threads exclude each other") {
    fifo::init();
    static spinlock_t lock = SPINLOCK_INITIALIZER;
    Shared s;
    constexpr int kThreads = 64, kIters = 300, kForeign = 2;
    auto body = [&] {
        for (int i = 0; i < kIters; ++i) {
            critical(s, [] { spin_lock(&lock); }, [] { spin_unlock(&lock); });
            if (uthread_self()) fifo::yield();
        }
    };
    std::vector<fifo::Thread *> ts;
    for (int i = 0; i < kThreads; ++i) ts.push_back(fifo::spawn(body, i % 2));
    std::deque<fifo::ForeignThread> fs;
    for (int i = 0; i < kForeign; ++i) fs.emplace_back(body);
    for (auto *t : ts) fifo::join(t);
    for (auto &f : fs) f.join();
    REQUIRE(s.overlaps == 0);
    REQUIRE(s.counter == long{kThreads + kForeign} * kIters);
    REQUIRE_FALSE(spin_locked(&lock));
}

TEST_CASE("spinlock: trylock fails while held and succeeds when free") {
    fifo::init();
    spinlock_t lock;
    spinlock_init(&lock);
    REQUIRE(spin_trylock(&lock));
    REQUIRE(spin_locked(&lock));
    bool other = true;
    auto *t = fifo::spawn([&] { other = spin_trylock(&lock); });
    fifo::join(t);
    REQUIRE_FALSE(other);
    spin_unlock(&lock);
    REQUIRE(spin_trylock(&lock));
    spin_unlock(&lock);
}

TEST_CASE("pdr lock: notifications are disabled exactly while held") {
    fifo::init();
    spin_pdr_lock_t a = SPINPDR_INITIALIZER, b = SPINPDR_INITIALIZER;
    uthread *self = uthread_self();
    int base = self->notif_disabled;
    spin_pdr_lock(&a);
    REQUIRE(self->notif_disabled == base + 1);
    spin_pdr_lock(&b);  // nested: still disabled after the inner release
    spin_pdr_unlock(&b);
    REQUIRE(self->notif_disabled == base + 1);
    REQUIRE(spin_pdr_locked(&a));
    REQUIRE_FALSE(spin_pdr_trylock(&a));  // a failed trylock restores
    REQUIRE(self->notif_disabled == base + 1);
    spin_pdr_unlock(&a);
    REQUIRE(self->notif_disabled == base);
    REQUIRE(spin_pdr_trylock(&a));
    REQUIRE(self->notif_disabled == base + 1);
    spin_pdr_unlock(&a);
    REQUIRE(self->notif_disabled == base);
}

namespace {

spin_pdr_lock_t g_pdr = SPINPDR_INITIALIZER;
Shared g_pdr_shared;

struct Ping {
    event_msg msg{};
    std::atomic<int> handled{0};
};

// Vcore context: the same lock as the uthreads below.
void pdr_handler(event_msg *m, unsigned, void *) {
    critical(g_pdr_shared, [] { spin_pdr_lock(&g_pdr); },
             [] { spin_pdr_unlock(&g_pdr); });
    static_cast<Ping *>(m->arg)->handled.store(1);
}

}  // namespace

TEST_CASE("pdr lock: vcore context, uthreads and a foreign thread share it") {
    fifo::init();
    REQUIRE(register_ev_handler(EV_USER, pdr_handler, nullptr) == 0);
    constexpr int kThreads = 32, kIters = 100;
    auto body = [&] {
        Ping p;
        p.msg.arg = &p;
        for (int i = 0; i < kIters; ++i) {
            critical(g_pdr_shared, [] { spin_pdr_lock(&g_pdr); },
                     [] { spin_pdr_unlock(&g_pdr); });
            if (!uthread_self()) continue;
            // One critical section in vcore context per iteration.
            p.handled.store(0);
            int vc = vcore_id();
            send_event(&p.msg, EV_USER, vc < 0 ? 0 : vc, EVENT_WAKEUP);
            while (!p.handled.load()) fifo::yield();
        }
    };
    std::vector<fifo::Thread *> ts;
    for (int i = 0; i < kThreads; ++i) ts.push_back(fifo::spawn(body));
    fifo::ForeignThread foreign(body);
    for (auto *t : ts) fifo::join(t);
    foreign.join();
    REQUIRE(g_pdr_shared.overlaps == 0);
    REQUIRE(g_pdr_shared.counter == long{2 * kThreads + 1} * kIters);
    REQUIRE(uthread_self()->notif_disabled == 0);
}
