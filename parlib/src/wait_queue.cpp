// wait_queue.cpp: blocking on and waking from a primitive's wait queue
// (wait_queue.hpp). The queue is a doubly linked FIFO of Waiters so that a
// timed-out waiter can leave from the middle in O(1).
#include "wait_queue.hpp"

#include <time.h>

#include "futex.hpp"
#include "parlib/vcore.h"

namespace parlib {
namespace {

Waiter *head_of(const uth_wait_queue *q) {
    return static_cast<Waiter *>(q->head);
}
Waiter *tail_of(const uth_wait_queue *q) {
    return static_cast<Waiter *>(q->tail);
}

void wq_push(uth_wait_queue *q, Waiter *w) {
    w->next = nullptr;
    w->prev = tail_of(q);
    if (w->prev)
        w->prev->next = w;
    else
        q->head = w;
    q->tail = w;
    w->state = WaitState::kQueued;
}

void wq_remove(uth_wait_queue *q, Waiter *w) {
    if (w->prev)
        w->prev->next = w->next;
    else
        q->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        q->tail = w->prev;
    w->next = w->prev = nullptr;
}

template <class Match>
Waiter *take_matching(uth_wait_queue *q, unsigned max, unsigned *taken,
                      Match match) {
    Waiter *first = nullptr, **link = &first;
    unsigned n = 0;
    for (Waiter *w = head_of(q); w && n < max;) {
        Waiter *next = w->next;
        if (match(w)) {
            wq_remove(q, w);
            w->state = WaitState::kWoken;
            *link = w;
            link = &w->next;
            ++n;
        }
        w = next;
    }
    if (taken) *taken = n;
    return first;
}

struct YieldArgs {
    spinlock_t *lock;
    ReleaseHook release;
};

// Vcore context, the uthread saved. YieldArgs lives on the uthread's stack,
// which may run again as soon as the lock is released.
void block_cb(uthread *u, void *p) {
    auto *a = static_cast<YieldArgs *>(p);
    spinlock_t *lock = a->lock;
    uthread_has_blocked(u, UTH_BLK_MUTEX);
    Waiter *to_wake = a->release.fn ? a->release.fn(a->release.arg) : nullptr;
    spin_unlock(lock);
    wake_list(to_wake);
}

void pause_cb(uthread *u, void *) { uthread_paused(u); }

struct timespec rel_timespec(uint64_t us) {
    struct timespec ts;
    ts.tv_sec = static_cast<time_t>(us / 1000000);
    ts.tv_nsec = static_cast<long>(us % 1000000) * 1000;
    return ts;
}

}  // namespace

bool wq_empty(const uth_wait_queue *q) { return q->head == nullptr; }

Waiter *wq_take(uth_wait_queue *q, unsigned max, unsigned *taken) {
    return take_matching(q, max, taken, [](Waiter *) { return true; });
}

Waiter *wq_take_key(uth_wait_queue *q, uintptr_t key, unsigned max,
                    unsigned *taken) {
    return take_matching(q, max, taken,
                         [key](Waiter *w) { return w->key == key; });
}

void wake_list(Waiter *w) {
    while (w) {
        // Read everything first: a woken waiter's frame may vanish at once.
        Waiter *next = w->next;
        if (uthread *u = w->u) {
            uthread_runnable(u);
        } else {
            w->kword.store(1, std::memory_order_release);
            // `w` may already be gone; a wake on a reused address is a
            // spurious futex wake-up, which every futex waiter tolerates.
            kfutex_wake(&w->kword, 1);
        }
        w = next;
    }
}

Wait::Wait(spinlock_t *lock, uth_wait_queue *q, uintptr_t key)
    : lock_(lock), q_(q) {
    w_.u = tls_self;
    w_.key = key;
}

Wait::~Wait() {
    if (!armed_ || stop_alarm(&alarm_)) return;
    // The callback has run or is about to run on some vcore (maybe ours):
    // let vcores run until it is done with this object.
    while (!alarm_done_.load(std::memory_order_acquire))
        uthread_yield(true, pause_cb, nullptr);
}

void Wait::set_deadline(uint64_t abs_us) {
    deadline_ = abs_us ? abs_us : 1;  // 0 means "none"; 1 is as past
    if (!w_.u) return;  // block_kernel() watches the clock itself
    if (parlib_now_us() >= deadline_) {
        w_.expired = true;  // not shared yet: nobody else can see w_
        return;
    }
    init_waiter(&alarm_, alarm_fired);
    alarm_.data = this;
    set_waiter_abs(&alarm_, deadline_);
    start_alarm(&alarm_);
    armed_ = true;
}

// Vcore context. Takes the waiter off the queue unless a waker did first.
void Wait::alarm_fired(alarm_waiter *a) {
    auto *self = static_cast<Wait *>(a->data);
    Waiter &w = self->w_;
    spin_lock(self->lock_);
    w.expired = true;
    uthread *resume = nullptr;
    if (w.state == WaitState::kQueued) {
        wq_remove(self->q_, &w);
        w.state = WaitState::kTimedOut;
        resume = w.u;
    }
    spin_unlock(self->lock_);
    self->alarm_done_.store(1, std::memory_order_release);  // last access
    if (resume) uthread_runnable(resume);
}

bool Wait::block(ReleaseHook release) {
    PARLIB_ASSERT(w_.state != WaitState::kQueued);
    if (w_.expired) {
        Waiter *to_wake = release.fn ? release.fn(release.arg) : nullptr;
        spin_unlock(lock_);
        wake_list(to_wake);
        return false;
    }
    return w_.u ? block_uthread(release) : block_kernel(release);
}

bool Wait::block_uthread(ReleaseHook release) {
    wq_push(q_, &w_);
    YieldArgs args{lock_, release};
    uthread_yield(true, block_cb, &args);
    // Whoever took us off the queue set `state` before waking us, and only
    // a queued waiter's state is ever written by others.
    return w_.state == WaitState::kWoken;
}

bool Wait::block_kernel(ReleaseHook release) {
    w_.kword.store(0, std::memory_order_relaxed);
    wq_push(q_, &w_);
    Waiter *to_wake = release.fn ? release.fn(release.arg) : nullptr;
    spin_unlock(lock_);
    wake_list(to_wake);
    for (;;) {
        if (w_.kword.load(std::memory_order_acquire)) return true;
        if (!deadline_) {
            kfutex_wait(&w_.kword, 0);
            continue;
        }
        uint64_t now = parlib_now_us();
        if (now < deadline_) {
            struct timespec ts = rel_timespec(deadline_ - now);
            kfutex_wait(&w_.kword, 0, &ts);
            continue;
        }
        spin_lock(lock_);
        w_.expired = true;
        bool still_queued = w_.state == WaitState::kQueued;
        if (still_queued) {
            wq_remove(q_, &w_);
            w_.state = WaitState::kTimedOut;
        }
        spin_unlock(lock_);
        if (still_queued) return false;
        // A waker took us first and is about to set kword: it must still
        // find this frame.
        while (!w_.kword.load(std::memory_order_acquire))
            kfutex_wait(&w_.kword, 0);
        return true;
    }
}

}  // namespace parlib
