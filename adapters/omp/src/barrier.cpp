// barrier.cpp: the team barrier. Centralised: arrivals are counted under
// `s_`; the last arrival bumps the generation and unblocks the sleepers.
// A waiter spins briefly on the generation, then blocks its context
// (lithe_context_block), so a team with more members than harts never
// deadlocks here: a blocked member gives its hart to one that has not
// arrived yet. The block callback re-checks the generation under `s_`
// (runs in hart context, after the waiter is saved), so a wake-up cannot be
// lost. `waiters_` has n slots, sized by reset() before the team starts.
#include <sched.h>

#include "internal.hpp"

namespace lomp {

struct BarrierBlock {
    Barrier *b;
    uint64_t gen;
};

void barrier_block_cb(lithe_context_t *self, void *arg) {
    auto *bb = static_cast<BarrierBlock *>(arg);
    Barrier *b = bb->b;
    b->s_.lock();
    bool passed = b->gen_.load(std::memory_order_acquire) != bb->gen;
    if (!passed) b->waiters_.push_back(self);
    b->s_.unlock();
    if (passed) lithe_context_unblock(self);
}

void Barrier::reset(int n) {
    n_ = n;
    arrived_ = 0;
    waiters_.clear();
    waiters_.reserve(n);  // push_back in hart context never allocates
}

void Barrier::wait() {
    if (n_ == 1) return;
    s_.lock();
    uint64_t g = gen_.load(std::memory_order_relaxed);
    if (++arrived_ == n_) {
        arrived_ = 0;
        std::vector<lithe_context_t *> wake;
        wake.swap(waiters_);
        waiters_.reserve(n_);
        gen_.store(g + 1, std::memory_order_release);
        s_.unlock();
        for (lithe_context_t *c : wake) lithe_context_unblock(c);
        return;
    }
    s_.unlock();
    if (spin_until([&] { return gen_.load(std::memory_order_acquire) != g; }))
        return;
    if (lithe_context_self()) {
        BarrierBlock bb{this, g};
        while (gen_.load(std::memory_order_acquire) == g)
            lithe_context_block(barrier_block_cb, &bb);
    } else {
        while (gen_.load(std::memory_order_acquire) == g) sched_yield();
    }
}

}  // namespace lomp
