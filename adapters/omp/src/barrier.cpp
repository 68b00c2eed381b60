// barrier.cpp: the team barrier. Centralised: arrivals are counted under
// `s_`; the last arrival bumps the generation and unblocks the sleepers.
// A waiter spins briefly on the generation, then blocks its context
// (lithe_context_block), so a team with more members than harts never
// deadlocks here: a blocked member gives its hart to one that has not
// arrived yet. The block callback re-checks the generation under `s_`
// (runs in hart context, after the waiter is saved), so a wake-up cannot be
// lost. Sleepers are an intrusive list of Waiter nodes on their own
// stacks, so a barrier never allocates.
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
    bool passed = b->gen_.load(std::memory_order_acquire) != bb->gen;
    if (!passed) {
        bb->w = Waiter{self, b->waiters_};
        b->waiters_ = &bb->w;
    }
    b->s_.unlock();
    if (passed) lithe_context_unblock(self);
}

void Barrier::reset(int n) {
    n_ = n;
    arrived_ = 0;
    waiters_ = nullptr;
}

void Barrier::wait() {
    if (n_ == 1) return;
    s_.lock();
    uint64_t g = gen_.load(std::memory_order_relaxed);
    if (++arrived_ == n_) {
        arrived_ = 0;
        Waiter *w = waiters_;
        waiters_ = nullptr;
        gen_.store(g + 1, std::memory_order_release);
        s_.unlock();
        while (w) {
            Waiter *next = w->next;  // the node dies once its owner runs
            lithe_context_unblock(w->ctx);
            w = next;
        }
        return;
    }
    s_.unlock();
    if (spin_until([&] { return gen_.load(std::memory_order_acquire) != g; }))
        return;
    if (lithe_context_self()) {
        BarrierBlock bb{this, g, {}};
        while (gen_.load(std::memory_order_acquire) == g)
            lithe_context_block(barrier_block_cb, &bb);
    } else {
        while (gen_.load(std::memory_order_acquire) == g) sched_yield();
    }
}

}  // namespace lomp
