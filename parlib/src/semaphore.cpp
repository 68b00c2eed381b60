// semaphore.cpp: counting semaphores (parlib/semaphore.h).
//
// `count` and the queue are guarded by the spinlock. Each up takes at most
// one waiter; a woken waiter re-tests the count (Mesa), so units are never
// lost: a waiter only goes back to sleep, or times out, while the count is
// 0, and every later up wakes somebody still queued.
#include "parlib/semaphore.h"

#include <cerrno>

#include "wait_queue.hpp"

namespace parlib {
namespace {

bool down_impl(uth_semaphore_t *s, bool timed, uint64_t abs_us,
               const char *who) {
    check_may_block(who);
    spin_lock(&s->lock);
    if (s->count) {
        --s->count;
        spin_unlock(&s->lock);
        return true;
    }
    spin_unlock(&s->lock);
    Wait wait(&s->lock, &s->wq);
    if (timed) wait.set_deadline(abs_us);
    spin_lock(&s->lock);
    while (!s->count) {
        if (!wait.block()) return false;
        spin_lock(&s->lock);
    }
    --s->count;
    spin_unlock(&s->lock);
    return true;
}

}  // namespace
}  // namespace parlib

using namespace parlib;

extern "C" {

void uth_semaphore_init(uth_semaphore_t *s, uint32_t count) {
    spinlock_init(&s->lock);
    s->count = count;
    s->wq = UTH_WAIT_QUEUE_INIT;
}

int uth_semaphore_destroy(uth_semaphore_t *s) {
    spin_lock(&s->lock);
    bool busy = !wq_empty(&s->wq);
    spin_unlock(&s->lock);
    return busy ? EBUSY : 0;
}

void uth_semaphore_down(uth_semaphore_t *s) {
    down_impl(s, false, 0, "uth_semaphore_down");
}

bool uth_semaphore_timed_down(uth_semaphore_t *s, uint64_t abs_us) {
    return down_impl(s, true, abs_us, "uth_semaphore_timed_down");
}

bool uth_semaphore_try_down(uth_semaphore_t *s) {
    spin_lock(&s->lock);
    bool got = s->count != 0;
    if (got) --s->count;
    spin_unlock(&s->lock);
    return got;
}

void uth_semaphore_up(uth_semaphore_t *s) {
    spin_lock(&s->lock);
    ++s->count;
    Waiter *w = wq_take(&s->wq, 1);
    spin_unlock(&s->lock);
    wake_list(w);
}

}  // extern "C"
