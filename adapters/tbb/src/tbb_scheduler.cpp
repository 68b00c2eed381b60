// tbb_scheduler.cpp: the TBB workers' scheduler (see tbb_scheduler.hpp).
//
// Callbacks run in hart context except context_unblock, which runs wherever
// the unblock was made (a TBB master's context, a worker, a foreign thread).
#include "tbb_scheduler.hpp"

#include "stats.hpp"

#include <lithe/lithe.hpp>

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

namespace lithe_tbb {

namespace {
// Made once and never destroyed: the scheduler stays entered until the
// process ends (destroying an entered lithe::Scheduler is fatal).
std::atomic<TbbScheduler *> g_instance{nullptr};
lithe::SpinLock g_instance_lock;
bool g_starting = false;
Event g_ready;
}  // namespace

TbbScheduler *TbbScheduler::instance() {
    if (TbbScheduler *s = g_instance.load(std::memory_order_acquire)) return s;
    if (!lithe_context_self()) return nullptr;
    // TBB makes servers one at a time, but be safe against two first users.
    g_instance_lock.lock();
    bool mine = !g_starting;
    g_starting = true;
    g_instance_lock.unlock();
    if (!mine) {
        g_ready.wait();
        return g_instance.load(std::memory_order_acquire);
    }
    auto *s = new TbbScheduler;
    if (!s->start()) {
        delete s;
        s = nullptr;
    }
    g_instance.store(s, std::memory_order_release);
    g_ready.set();
    return s;
}

bool TbbScheduler::sched_stats(struct lithe_sched_stats &out) {
    TbbScheduler *s = g_instance.load(std::memory_order_acquire);
    if (!s) return false;
    out = s->stats();
    return true;
}

// Makes the holder (owned by the caller's scheduler first), hands it to the
// base scheduler, and waits until it has entered us.
bool TbbScheduler::start() {
    int rc = holder_.init([this] { holder_main(); });
    if (rc != LITHE_OK) return false;
    if (holder_.reassociate(lithe_sched_base()) != LITHE_OK ||
        holder_.unblock() != LITHE_OK) {
        std::fprintf(stderr, "lithe_tbb: cannot start the holder context\n");
        std::abort();
    }
    entered_.wait();
    return true;
}

// The holder: enters us, then runs deferred work whenever there is some,
// blocked otherwise. Never returns (the scheduler must stay entered).
void TbbScheduler::holder_main() {
    if (enter() != LITHE_OK) {
        std::fprintf(stderr, "lithe_tbb: cannot enter the TBB scheduler\n");
        std::abort();
    }
    entered_.set();
    for (;;) {
        lithe::block([this](lithe_context_t *self) {
            lock_.lock();
            bool idle = deferred_.empty();
            if (idle) parked_holder_ = self;
            lock_.unlock();
            if (!idle) lithe::unblock(self);
        });
        for (;;) {
            lock_.lock();
            if (deferred_.empty()) {
                lock_.unlock();
                break;
            }
            std::function<void()> fn = std::move(deferred_.front());
            deferred_.pop_front();
            lock_.unlock();
            fn();
        }
    }
}

void TbbScheduler::defer(std::function<void()> fn) {
    lock_.lock();
    deferred_.push_back(std::move(fn));
    lithe_context_t *h = parked_holder_;
    parked_holder_ = nullptr;
    lock_.unlock();
    if (h) lithe::unblock(h);
}

void TbbScheduler::adopt(lithe::Context &c) {
    if (c.reassociate(native()) != LITHE_OK || c.unblock() != LITHE_OK) {
        std::fprintf(stderr, "lithe_tbb: cannot adopt a worker context\n");
        std::abort();
    }
}

// Separate from hart_enter so that its locals are destroyed before a switch
// discards hart_enter's frame.
void TbbScheduler::reap() {
    std::vector<lithe::Context *> dead;
    lock_.lock();
    dead.swap(dead_);
    lock_.unlock();
    for (lithe::Context *c : dead) delete c;
}

// Unblocked contexts first; a context that has just yielded (a TBB worker
// spinning with sched_yield, sched_yield_guard.cpp) runs only after the
// hart has been back to the base once, so that what it waits for (a master
// elsewhere in the tree) can run even with one hart.
//
// When a yielded context is all there is to run here after its pass, the
// rest of the tree had nothing for the hart (the base ran none of its own
// contexts on it and granted it back): the context is a spinner (TBB's idle
// backoff: prolonged_pause, then sched_yield ~100 times per idle spell)
// and would only spin on. Its sched_yield asked to let other threads run,
// so the vcore first yields its kernel thread, as TBB's own worker thread
// would have: with more vcores than CPUs the CPU goes to vcores doing work;
// on a CPU with nothing else runnable it returns at once. Without it,
// spinning workers held CPUs the working vcores needed: bench_compose (c)
// at 4 vcores on 2 CPUs burnt ~2.6x the work's CPU time, ~1.1x with it
// (docs/perf.md). Raw system call: libc's name is interposed (it yields a
// context; this is hart context).
void TbbScheduler::hart_enter() {
    reap();
    grant_to_children();  // returns if no child wants the hart
    lock_.lock();
    lithe::Context *next = nullptr;
    bool spinner = false;
    if (!queue_.empty()) {
        next = queue_.front();
        queue_.pop_front();
    } else if (!yielded_.empty()) {
        if (yielded_.front().passed) {
            next = yielded_.front().ctx;
            yielded_.pop_front();
            spinner = true;
        } else {
            yielded_.front().passed = true;
        }
    }
    lock_.unlock();
    if (spinner) {
        counters.spin_kernel_yields.fetch_add(1, std::memory_order_relaxed);
        syscall(SYS_sched_yield);
    }
    if (next) next->run();
    lithe::hart_yield();
}

void TbbScheduler::context_block(lithe::Context &) { lithe::hart_request(-1); }

void TbbScheduler::context_unblock(lithe::Context &c) {
    lock_.lock();
    queue_.push_back(&c);
    lock_.unlock();
    lithe::hart_request(+1);
}

void TbbScheduler::context_yield(lithe::Context &c) {
    counters.context_yields.fetch_add(1, std::memory_order_relaxed);
    lock_.lock();
    yielded_.push_back({&c, false});
    lock_.unlock();
}

void TbbScheduler::context_exit(lithe::Context &c) {
    lithe::hart_request(-1);
    lock_.lock();
    dead_.push_back(&c);
    lock_.unlock();
}

}  // namespace lithe_tbb
