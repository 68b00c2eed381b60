// wait_queue.hpp: how any thread blocks on, and is woken from, the wait
// queue of a parlib primitive (mutex, condvar, barrier, semaphore, futex).
//
// Every primitive pairs a spinlock_t with a uth_wait_queue; the lock guards
// the queue, the primitive's own state, and the `state`/`expired` fields of
// every Waiter on (or about to join) that queue.
//
// Blocking (thesis §2.2.3): with the lock held and the condition tested, a
// uthread queues itself and yields; the yield callback (vcore context, after
// the uthread is saved) reports uthread_has_blocked and only then releases
// the lock, so no waker can make the uthread runnable before it is saved. A
// thread that is not a uthread queues itself, releases the lock and sleeps
// on a kernel futex word in its Waiter. Waking: pop waiters under the lock
// (state -> kWoken), release the lock, then wake_list() them, never touching
// a waiter after waking it.
//
// Deadlines: exactly one of a waker and the deadline takes a queued waiter
// off the queue, decided under the lock (kWoken vs kTimedOut). Uthreads use
// an alarm whose callback (vcore context) takes the waiter off the queue if
// it is still queued; the waiting uthread does not return before the
// callback is known never to run (stop_alarm) or has finished with it.
// Other threads use a futex timeout and dequeue themselves.
//
// The lock is a plain spinlock even when held by a uthread: notifications
// never interrupt code in parlib, libc or the loader (event.cpp), and a
// uthread holding it never runs other code (no scheduler callbacks, not
// even the vDSO clock: uthreads read the time only outside the lock), so its
// holder is never paused with it held. Vcore context may call out while
// holding it (has_blocked, the release hook); vcore context is never
// interrupted.
#pragma once

#include <atomic>
#include <cstdint>

#include "parlib/alarm.h"
#include "parlib/spinlock.h"
#include "parlib/uthread.h"
#include "parlib/wait_queue.h"
#include "check.hpp"
#include "vcore_internal.hpp"

namespace parlib {

// Called first by every public call that may block, so misuse is caught
// even when the call would not have had to wait.
inline void check_may_block(const char *who) {
    uthread *u = tls_self;
    PARLIB_CHECK(u || !tls_vcore,
                 "%s: called in vcore context, which must never block", who);
    PARLIB_CHECK(!u || u->notif_disabled == 0,
                 "%s: called by a uthread with notifications disabled (a pdr "
                 "lock held?); it must not block",
                 who);
}

enum class WaitState : uint32_t {
    kIdle,     // not queued and not woken in the current round
    kQueued,   // on the queue
    kWoken,    // taken off by a waker
    kTimedOut  // taken off because the deadline passed
};

// One thread's place in a queue. Lives on the waiting thread's stack.
struct Waiter {
    Waiter *next = nullptr;  // queue links, or the chain of a taken list
    Waiter *prev = nullptr;
    uintptr_t key = 0;       // the futex address (futex buckets only)
    uthread *u = nullptr;    // the waiting uthread; nullptr: a kernel thread
    WaitState state = WaitState::kIdle;  // guarded by the queue's lock
    bool expired = false;                // ditto; the deadline has passed
    std::atomic<uint32_t> kword{0};      // kernel threads: 1 once woken
};

// Queue operations; the queue's lock must be held.
bool wq_empty(const uth_wait_queue *q);
// Takes up to `max` waiters, oldest first, marking them kWoken. Returns
// them chained through `next` (nullptr-terminated); *taken = how many.
Waiter *wq_take(uth_wait_queue *q, unsigned max, unsigned *taken = nullptr);
// As wq_take, considering only waiters whose key is `key`.
Waiter *wq_take_key(uth_wait_queue *q, uintptr_t key, unsigned max,
                    unsigned *taken);

// Wakes every waiter of a taken list. Call without the lock held.
void wake_list(Waiter *list);

// Work a blocking primitive must do once the caller is queued, while the
// queue's lock is still held (condvar: release the mutex). Returns waiters
// to wake once the lock is released.
struct ReleaseHook {
    Waiter *(*fn)(void *arg) = nullptr;
    void *arg = nullptr;
};

// One blocking operation of the calling thread on one queue: construct it,
// optionally set a deadline, then take the lock and block() as many times as
// the primitive's condition requires (Mesa: re-test after every wake-up).
class Wait {
  public:
    // The caller has passed check_may_block. Touches nothing shared, so it
    // may be constructed with the lock held.
    explicit Wait(spinlock_t *lock, uth_wait_queue *q, uintptr_t key = 0);
    // Returns only once no alarm callback can touch this object.
    ~Wait();
    Wait(const Wait &) = delete;
    Wait &operator=(const Wait &) = delete;

    // Give up at `abs_us` (µs of CLOCK_MONOTONIC). Call once, before the
    // first block(), without the queue's lock held.
    void set_deadline(uint64_t abs_us);

    // Call with the lock held. Queues the caller, runs `release`, releases
    // the lock and sleeps. Returns true if a waker took it off the queue,
    // false if the deadline passed first (then it is off the queue, and
    // `release` has still run). Returns with the lock released.
    bool block(ReleaseHook release = {});

  private:
    static void alarm_fired(alarm_waiter *a);
    bool block_uthread(ReleaseHook release);
    bool block_kernel(ReleaseHook release);

    spinlock_t *lock_;
    uth_wait_queue *q_;
    Waiter w_;
    uint64_t deadline_ = 0;  // 0 = none
    bool armed_ = false;     // alarm_ started (uthreads)
    alarm_waiter alarm_;
    std::atomic<uint32_t> alarm_done_{0};  // callback finished with *this
};

}  // namespace parlib
