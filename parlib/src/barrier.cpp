// barrier.cpp: reusable barriers (parlib/barrier.h).
//
// All fields are guarded by the spinlock. The last arrival of a phase
// resets `arrived`, advances `phase` and takes every queued waiter at once,
// so waiters of the next phase (which may arrive before the woken ones have
// even run) queue afresh. A waiter leaves once `phase` has moved past the
// phase it arrived in.
#include "parlib/barrier.h"

#include <cerrno>
#include <climits>

#include "check.hpp"
#include "wait_queue.hpp"

using namespace parlib;

extern "C" {

void uth_barrier_init(uth_barrier_t *b, uint32_t count) {
    PARLIB_CHECK(count >= 1, "uth_barrier_init: count must be at least 1");
    spinlock_init(&b->lock);
    b->count = count;
    b->arrived = 0;
    b->phase = 0;
    b->wq = UTH_WAIT_QUEUE_INIT;
}

int uth_barrier_destroy(uth_barrier_t *b) {
    spin_lock(&b->lock);
    bool busy = b->arrived != 0;
    spin_unlock(&b->lock);
    return busy ? EBUSY : 0;
}

bool uth_barrier_wait(uth_barrier_t *b) {
    check_may_block("uth_barrier_wait");
    PARLIB_CHECK(b->count >= 1, "uth_barrier_wait: barrier %p has count 0",
                 (void *)b);
    Wait wait(&b->lock, &b->wq);
    spin_lock(&b->lock);
    if (++b->arrived == b->count) {
        b->arrived = 0;
        ++b->phase;
        Waiter *all = wq_take(&b->wq, UINT_MAX);
        spin_unlock(&b->lock);
        wake_list(all);
        return true;
    }
    uint32_t phase = b->phase;
    while (b->phase == phase) {
        wait.block();
        spin_lock(&b->lock);
    }
    spin_unlock(&b->lock);
    return false;
}

}  // extern "C"
