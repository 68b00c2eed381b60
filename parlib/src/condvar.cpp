// condvar.cpp: condition variables (parlib/condvar.h).
//
// The queue is guarded by the condvar's spinlock. A waiter queues itself
// under that lock and the mutex is released while the lock is still held
// (in the yield callback for uthreads), so a signaller - who must take the
// condvar lock to find a waiter - cannot run between "released the mutex"
// and "queued". Lock order: condvar lock, then mutex lock.
#include "parlib/condvar.h"

#include <cerrno>
#include <climits>

#include "mutex_internal.hpp"
#include "wait_queue.hpp"

namespace parlib {
namespace {

int wait_impl(uth_cond_var_t *cv, uth_mutex_t *m, bool timed, uint64_t abs_us,
              const char *who) {
    check_may_block(who);
    if (!mutex_held_by_caller(m)) return EPERM;
    MutexRelease rel{m, 0};
    bool signalled;
    {
        Wait wait(&cv->lock, &cv->wq);
        if (timed) wait.set_deadline(abs_us);
        spin_lock(&cv->lock);
        signalled = wait.block({mutex_release_hook, &rel});
    }
    mutex_relock(m, rel.depth, who);
    return signalled ? 0 : ETIMEDOUT;
}

void wake(uth_cond_var_t *cv, unsigned n) {
    spin_lock(&cv->lock);
    Waiter *w = wq_take(&cv->wq, n);
    spin_unlock(&cv->lock);
    wake_list(w);
}

}  // namespace
}  // namespace parlib

using namespace parlib;

extern "C" {

void uth_cond_var_init(uth_cond_var_t *cv) {
    spinlock_init(&cv->lock);
    cv->wq = UTH_WAIT_QUEUE_INIT;
}

int uth_cond_var_destroy(uth_cond_var_t *cv) {
    spin_lock(&cv->lock);
    bool busy = !wq_empty(&cv->wq);
    spin_unlock(&cv->lock);
    return busy ? EBUSY : 0;
}

int uth_cond_var_wait(uth_cond_var_t *cv, uth_mutex_t *m) {
    return wait_impl(cv, m, false, 0, "uth_cond_var_wait");
}

int uth_cond_var_timed_wait(uth_cond_var_t *cv, uth_mutex_t *m,
                            uint64_t abs_us) {
    return wait_impl(cv, m, true, abs_us, "uth_cond_var_timed_wait");
}

void uth_cond_var_signal(uth_cond_var_t *cv) { wake(cv, 1); }

void uth_cond_var_broadcast(uth_cond_var_t *cv) { wake(cv, UINT_MAX); }

}  // extern "C"
