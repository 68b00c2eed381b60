// tbb_scheduler.cpp: the TBB workers' scheduler (see tbb_scheduler.hpp).
//
// Callbacks run in hart context except context_unblock, which runs wherever
// the unblock was made (a TBB master's context, a worker, a foreign thread).
#include "tbb_scheduler.hpp"

#include "stats.hpp"

#include <lithe/lithe.hpp>
#include <parlib/env.h>
#include <parlib/ticks.h>
#include <parlib/vcore.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace lithe_tbb {

namespace {
// Made once and never destroyed: the scheduler stays entered until the
// process ends (destroying an entered lithe::Scheduler is fatal).
std::atomic<TbbScheduler *> g_instance{nullptr};
lithe::SpinLock g_instance_lock;
bool g_starting = false;
Event g_ready;

// 1 us to 10 s; a malformed value is fatal (parlib/env.h).
uint64_t env_us(const char *name, uint64_t dflt) {
    return parlib_env_u64(name, dflt, 1, 10'000'000);
}
// How long a spinner rests (rest()): the first rest of an idle spell, and
// the longest.
uint64_t rest_min_us() {
    static const uint64_t us = env_us("LITHE_TBB_REST_MIN_US", 50);
    return us;
}
uint64_t rest_max_us() {
    static const uint64_t us = env_us("LITHE_TBB_REST_MAX_US", 1000);
    return us;
}

// A spinner's yields re-run at once before it rests. TBB waits by counting
// yields, each of which it expects to take about a microsecond: its idle
// backoff (stealing_loop_backoff, src/tbb/scheduler_common.h of oneTBB
// 2021.8) yields 100 times before a worker first checks whether its arena
// is out of work (arena::is_out_of_work), and only that check lowers the
// arena's demand so that the worker leaves it for an arena that waits for
// one (the market splits the workers among the arenas that ask; an arena
// that asks while they are all allotted elsewhere gets one only when they
// leave, and no adjust_job_count_estimate with a positive delta tells us);
// the check's own adjust_demand waits its turn behind other threads'
// (timed_spin_wait_until: 32 yields, then a kernel wait), and a master's
// next adjust_demand waits in the kernel for it. A rest per yield
// stretched those 100 yields to ~0.1 s (rest length x ~100 with
// LITHE_TBB_REST_MIN_US = MAX_US): the time a short program at 2 harts
// waited for its enqueued task and tbb::finalize for its workers
// (tests/tbb/CMakeLists.txt, shutdown_long_rests).
//
// So an idle spell starts with kSpellYields yields re-run at once (the
// backoff, the check's adjust_demand and the leaving, as fast as on TBB's
// own threads), and after each rest the spinner gets kRestYields more: a
// count-based TBB wait of N yields that begins inside a spell we did not
// see start (TBB restarts its backoff when a worker finds a task, which we
// see only if the task ran long) costs at most N / kRestYields rests, and
// a spinner that stays idle holds its hart for kRestYields yields per
// rest (a few percent of the time at the longest rest).
constexpr unsigned kSpellYields = 160;
constexpr unsigned kRestYields = 32;
// A context that ran this long between being run and yielding did work: a
// new idle spell (new_spell). An idle worker's run between two yields is
// one prolonged_pause (~1000 TSC ticks) and a steal attempt: 1-16 us
// measured at 2 harts in a Debug build (most 1-4 us). A preempted vcore
// may make a spin look like work: that costs one more spell's yields.
constexpr uint64_t kWorkNs = 50000;
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
    rest_min_us();  // a malformed value is fatal at start, not at a rest
    rest_max_us();
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

void TbbScheduler::adopt(TbbContext &c) {
    new_spell(c);
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
// backoff: prolonged_pause, then sched_yield 100 times per idle spell, then
// a check for work at every yield). While its spin budget lasts it is
// re-run at once, so that TBB's waits, which count yields, end as soon as
// on TBB's own threads (kSpellYields). After that it would only spin on.
// It rests instead (rest()): it gives up its hart
// for a while, so the hart goes wherever the tree wants one (members that
// a barrier released, at once) or, if nobody does, its vcore parks in the
// kernel; the spinner then runs again and takes up its spin where it left
// it. Re-running it at once (the first version) kept 3 vcores busy with
// spinning TBB workers at 4 harts on 2 CPUs (bench_compose (c): CPU / work
// ~2.6); a kernel sched_yield before re-running it (the second) saved the
// CPU but kept the hart and the vcore runnable, so the vcore's kernel
// thread was rescheduled to spin again, each switch counted involuntary by
// Linux, and members a barrier released waited for harts held by
// descheduled spinners (docs/perf.md, scenario (c)).
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
    TbbContext *w = next ? worker(next) : nullptr;
    if (spinner && w) {
        if (w->spin_budget) {
            --w->spin_budget;
        } else {
            rest(*w);
            next = nullptr;
        }
    }
    if (next) {
        if (w) w->run_ticks = parlib_ticks();
        next->run();
    }
    lithe::hart_yield();
}

TbbContext *TbbScheduler::worker(lithe::Context *c) {
    return c == &main_context() ? nullptr : static_cast<TbbContext *>(c);
}

// Hart context: c yielded and is saved. Counted as blocked (-1) until the
// rest's alarm (or end_rests) unblocks it (+1, context_unblock queues it),
// so the hart is not asked back for it meanwhile (a parlib alarm on this
// vcore ends it: rest_clock.hpp).
//
// Length: the first rest of an idle spell is rest_min_us(), each further
// one twice the last, up to rest_max_us(). So a worker that has just run
// out of work looks for more within tens of microseconds, while one that
// stays idle costs its vcore a wake per millisecond.
void TbbScheduler::rest(TbbContext &c) {
    counters.spin_rests.fetch_add(1, std::memory_order_relaxed);
    c.rest_us = c.rest_us ? std::min(2 * c.rest_us, rest_max_us()) : rest_min_us();
    c.rest_until_us = parlib_now_us() + c.rest_us;
    c.spin_budget = kRestYields;
    lithe::hart_request(-1);
    clock_.add(c);
}

// c (saved) did work, blocked or is new: its next spin is a new idle spell.
void TbbScheduler::new_spell(TbbContext &c) {
    c.spin_budget = kSpellYields;
    c.rest_us = 0;
}

void TbbScheduler::end_rests() {
    unsigned n = clock_.end_all();
    if (n) counters.rests_cut.fetch_add(n, std::memory_order_relaxed);
}

// A context that blocks (a worker parking: it left TBB's arenas) starts a
// new idle spell when it runs again.
void TbbScheduler::context_block(lithe::Context &c) {
    if (TbbContext *w = worker(&c)) new_spell(*w);
    lithe::hart_request(-1);
}

void TbbScheduler::context_unblock(lithe::Context &c) {
    lock_.lock();
    queue_.push_back(&c);
    lock_.unlock();
    lithe::hart_request(+1);
}

void TbbScheduler::context_yield(lithe::Context &c) {
    counters.context_yields.fetch_add(1, std::memory_order_relaxed);
    TbbContext *w = worker(&c);
    uint64_t now = parlib_ticks();  // the run may have begun on another vcore
    if (w && now > w->run_ticks && parlib_ticks_to_ns(now - w->run_ticks) >= kWorkNs)
        new_spell(*w);
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
