// barrier.cpp: the team barrier. Centralised: arrivals are counted under
// `s_`; the last arrival bumps the generation and unblocks the sleepers.
// A waiter spins briefly on the generation, then blocks its context
// (lithe_context_block), so a team with more members than harts never
// deadlocks here: a blocked member gives its hart to one that has not
// arrived yet. The block callback re-checks the generation under `s_`
// (runs in hart context, after the waiter is saved), so a wake-up cannot be
// lost. Sleepers are an intrusive list of Waiter nodes on their own
// stacks, so a barrier never allocates.
//
// Tasks (task.cpp): a barrier completes only when every member arrived AND
// the team has no pending task. Waiters run ready tasks, and sleepers are
// woken when a task is queued (wake_for_tasks) to run it; the member that
// completes the last pending task completes the barrier (tasks_done).
// The last arrival releases the sleepers and, when the team has more
// members than harts, yields its hart to them (it goes behind them in the
// region's run queue): a member that arrived late has likely used the
// most CPU, and running it on past the barrier starves the members that
// were waiting — when it then spins in user code on a flag one of them
// sets (LLVM's kmp_sch_simd_guided.c: workers spin on the master's flag),
// each such phase costs a whole spin or time slice instead of
// microseconds (docs/omp.md, "Conformance").
// Cancellation (cancel.cpp): once the region is cancelled, cancel()
// releases all waiters and every later wait returns at once.
#include <sched.h>

#include "internal.hpp"

namespace lomp {

struct BarrierBlock {
    Barrier *b;
    uint64_t gen;
    Waiter w;
};

void barrier_block_cb(lithe_context_t *self, void *arg) {
    auto *bb = static_cast<BarrierBlock *>(arg);
    Barrier *b = bb->b;
    b->s_.lock();
    b->nsleep_.fetch_add(1, std::memory_order_seq_cst);
    bool passed = b->gen_.load(std::memory_order_acquire) != bb->gen ||
                  (b->team_ && task_ready(b->team_));
    if (!passed) {
        bb->w = Waiter{self, b->waiters_};
        b->waiters_ = &bb->w;
    } else {
        b->nsleep_.fetch_sub(1, std::memory_order_relaxed);
    }
    b->s_.unlock();
    if (passed) lithe_context_unblock(self);
}

void Barrier::reset(int n, Team *team) {
    n_ = n;
    arrived_ = 0;
    waiters_ = nullptr;
    team_ = team;
}

bool Barrier::cancelled() const {
    return team_ && team_->cancelled.load(std::memory_order_acquire);
}

void Barrier::complete_locked(uint64_t g) {
    arrived_ = 0;
    Waiter *w = waiters_;
    waiters_ = nullptr;
    nsleep_.store(0, std::memory_order_relaxed);
    gen_.store(g + 1, std::memory_order_release);
    s_.unlock();
    while (w) {
        Waiter *next = w->next;  // the node dies once its owner runs
        lithe_context_unblock(w->ctx);
        w = next;
    }
}

bool Barrier::wait() {
    if (n_ == 1) return cancelled();
    s_.lock();
    if (cancelled()) {
        s_.unlock();
        return true;
    }
    uint64_t g = gen_.load(std::memory_order_relaxed);
    if (++arrived_ == n_ && (!team_ || tasks_quiet(team_))) {
        bool woke = waiters_ != nullptr;
        complete_locked(g);
        // Released members first (see the file comment).
        if (woke && lithe_context_self() && team_oversubscribed())
            lithe_context_yield();
        return cancelled();
    }
    s_.unlock();
    auto passed = [&] { return gen_.load(std::memory_order_acquire) != g; };
    auto tasks = [&] { return team_ && task_ready(team_); };
    for (;;) {
        if (passed()) return cancelled();
        if (team_ && task_run_one(team_)) continue;
        if (spin_until([&] { return passed() || tasks(); })) continue;
        if (lithe_context_self()) {
            BarrierBlock bb{this, g, {}};
            lithe_context_block(barrier_block_cb, &bb);
        } else {
            sched_yield();
        }
    }
}

void Barrier::tasks_done() {
    s_.lock();
    if (n_ > 1 && arrived_ == n_)
        complete_locked(gen_.load(std::memory_order_relaxed));
    else
        s_.unlock();
}

void Barrier::wake_for_tasks() {
    if (nsleep_.load(std::memory_order_seq_cst) == 0) return;
    s_.lock();
    Waiter *w = waiters_;
    waiters_ = nullptr;
    nsleep_.store(0, std::memory_order_relaxed);
    s_.unlock();
    while (w) {
        Waiter *next = w->next;
        lithe_context_unblock(w->ctx);
        w = next;
    }
}

void Barrier::cancel() {
    s_.lock();
    complete_locked(gen_.load(std::memory_order_relaxed));
}

}  // namespace lomp
