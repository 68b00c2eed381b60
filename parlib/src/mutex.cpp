// mutex.cpp: uthread mutexes (parlib/mutex.h).
//
// All fields of uth_mutex_t are guarded by its spinlock. `owner` identifies
// the holder: its struct uthread, or (tagged with bit 0) the TCB of a kernel
// thread that is not running a uthread. A waiter queues only after seeing
// the mutex held under the lock, and unlock takes one waiter under the same
// lock, so a wake-up is never lost; the woken waiter re-competes (Mesa).
#include "parlib/mutex.h"

#include <cerrno>

#include "check.hpp"
#include "context.hpp"
#include "mutex_internal.hpp"
#include "vcore_internal.hpp"
#include "wait_queue.hpp"

namespace parlib {
namespace {

void *caller_id() {
    if (uthread *u = tls_self) return u;
    return reinterpret_cast<void *>(read_fsbase() | 1);
}

void take(uth_mutex_t *m, void *self) {
    m->owner = self;
    m->depth = 1;
}

int lock_impl(uth_mutex_t *m, bool timed, uint64_t abs_us, const char *who) {
    check_may_block(who);
    void *self = caller_id();
    spin_lock(&m->lock);
    if (!m->depth) {
        take(m, self);
        spin_unlock(&m->lock);
        return 0;
    }
    if (m->owner == self) {
        uint32_t type = m->type;
        if (type == UTH_MUTEX_RECURSIVE) ++m->depth;
        spin_unlock(&m->lock);
        if (type == UTH_MUTEX_RECURSIVE) return 0;
        if (type == UTH_MUTEX_ERRORCHECK) return EDEADLK;
        fatal("%s: the caller already holds this non-recursive mutex %p "
              "(it would deadlock)",
              who, (void *)m);
    }
    spin_unlock(&m->lock);
    Wait wait(&m->lock, &m->wq);
    if (timed) wait.set_deadline(abs_us);
    spin_lock(&m->lock);
    while (m->depth) {
        if (!wait.block()) return ETIMEDOUT;
        spin_lock(&m->lock);
    }
    take(m, self);
    spin_unlock(&m->lock);
    return 0;
}

}  // namespace

Waiter *mutex_release_hook(void *arg) {
    auto *r = static_cast<MutexRelease *>(arg);
    uth_mutex_t *m = r->m;
    spin_lock(&m->lock);
    r->depth = m->depth;
    m->depth = 0;
    m->owner = nullptr;
    Waiter *w = wq_take(&m->wq, 1);
    spin_unlock(&m->lock);
    return w;
}

bool mutex_held_by_caller(uth_mutex_t *m) {
    void *self = caller_id();
    spin_lock(&m->lock);
    bool held = m->depth && m->owner == self;
    spin_unlock(&m->lock);
    return held;
}

void mutex_relock(uth_mutex_t *m, uint32_t depth, const char *who) {
    lock_impl(m, false, 0, who);
    spin_lock(&m->lock);
    m->depth = depth;
    spin_unlock(&m->lock);
}

}  // namespace parlib

using namespace parlib;

extern "C" {

void uth_mutex_init(uth_mutex_t *m, int type) {
    PARLIB_CHECK(type == UTH_MUTEX_NORMAL || type == UTH_MUTEX_RECURSIVE ||
                     type == UTH_MUTEX_ERRORCHECK,
                 "uth_mutex_init: unknown mutex type %d", type);
    spinlock_init(&m->lock);
    m->type = static_cast<uint32_t>(type);
    m->depth = 0;
    m->owner = nullptr;
    m->wq = UTH_WAIT_QUEUE_INIT;
}

int uth_mutex_destroy(uth_mutex_t *m) {
    spin_lock(&m->lock);
    bool busy = m->depth || !wq_empty(&m->wq);
    spin_unlock(&m->lock);
    return busy ? EBUSY : 0;
}

int uth_mutex_lock(uth_mutex_t *m) {
    return lock_impl(m, false, 0, "uth_mutex_lock");
}

int uth_mutex_timed_lock(uth_mutex_t *m, uint64_t abs_us) {
    return lock_impl(m, true, abs_us, "uth_mutex_timed_lock");
}

int uth_mutex_trylock(uth_mutex_t *m) {
    void *self = caller_id();
    int rc = EBUSY;
    spin_lock(&m->lock);
    if (!m->depth) {
        take(m, self);
        rc = 0;
    } else if (m->owner == self && m->type == UTH_MUTEX_RECURSIVE) {
        ++m->depth;
        rc = 0;
    }
    spin_unlock(&m->lock);
    return rc;
}

int uth_mutex_unlock(uth_mutex_t *m) {
    void *self = caller_id();
    spin_lock(&m->lock);
    if (!m->depth || m->owner != self) {
        spin_unlock(&m->lock);
        return EPERM;
    }
    if (--m->depth) {
        spin_unlock(&m->lock);
        return 0;
    }
    m->owner = nullptr;
    Waiter *w = wq_take(&m->wq, 1);
    spin_unlock(&m->lock);
    wake_list(w);
    return 0;
}

}  // extern "C"
