// slicer.cpp: time-slicing of the adapter's threads (slicer.hpp).
//
// Each hart h has its own alarm (vcore h, EVENT_INTERRUPT), re-armed by its
// own tick, so a hart whose context never yields still ticks: parlib
// interrupts a preemptible uthread anywhere outside libparlib, libc, the
// loader and the C++ runtime (deferring, and re-delivering, inside them).
// The tick runs in hart context and pauses the context it interrupted when
//   - it is ours: a context of the pthread scheduler, or the main thread
//     while it is a context of the base. A thread inside an OpenMP region
//     or a TBB arena is a context of that runtime's scheduler then, sliced
//     (or not) by its policy;
//   - the same context was interrupted at this hart's previous tick too
//     (it has run about a slice; a switch in between may go unseen, which
//     only shortens that slice);
//   - others want the hart: for a thread, more runnable threads than the
//     pthread scheduler holds harts, or the base's other work
//     (lithe_sched_parent_turn: a paused main thread counts there); for the
//     main thread, threads without a hart.
// Pausing is parlib's uthread_paused, i.e. lithe's context_yield: a thread
// goes to the back of the FIFO and, if the base wants the hart, the hart
// makes a pass through the base (the scheduler's turn for the parent);
// main goes to the base's yielded queue, behind a pass of the children.
// A tick that found nothing of ours running re-arms kIdleFactor slices out;
// ticks stop when no thread lives (slicer_thread_exited) and restart with
// the next one.
//
// Preemptible: every thread from its first instruction; the main thread
// from its first pthread_create. The adapter's own locks are lithe
// SpinLocks, which disable notifications, and its waits block the context,
// so a paused context holds no lock of the adapter's.
//
// State: Slicer::lock (a lithe::SpinLock) guards armed[]; last[h] is
// touched only by ticks on hart h.
#include "slicer.hpp"

#include <lithe/lithe.hpp>
#include <parlib/alarm.h>
#include <parlib/env.h>
#include <parlib/uthread.h>
#include <parlib/vcore.h>

#include <atomic>
#include <memory>
#include <mutex>

namespace lithe_pthread {
namespace {

constexpr int kIdleFactor = 8;

struct Slicer {
    uint64_t slice_us = 0;
    int nharts = 0;
    std::atomic<lithe_sched_t *> ours{nullptr};
    std::atomic<int> live{0};
    std::unique_ptr<alarm_waiter[]> alarm;  // per hart
    std::unique_ptr<bool[]> armed;          // per hart (lock)
    std::unique_ptr<uthread *[]> last;      // per hart (its ticks)
    lithe::SpinLock lock;
};

void tick(alarm_waiter *);

Slicer &slicer() {
    static Slicer *s = [] {  // immortal: alarms may fire during exit
        auto *x = new Slicer;
        x->slice_us = parlib_env_u64("LITHE_PTHREAD_SLICE_US", 5000, 0,
                                     10'000'000);
        x->nharts = lithe_num_harts() > 0 ? lithe_num_harts() : 1;
        x->alarm.reset(new alarm_waiter[x->nharts]);
        x->armed.reset(new bool[x->nharts]());
        x->last.reset(new uthread *[x->nharts]());
        for (int h = 0; h < x->nharts; ++h) {
            init_waiter(&x->alarm[h], tick);
            x->alarm[h].ev_flags = EVENT_INTERRUPT;
        }
        return x;
    }();
    return *s;
}

bool is_main(const uthread *u) { return u->flags & UTHREAD_F_MAIN; }

// Hart context: does `c`, interrupted here, keep others from a hart?
bool others_wait(lithe_sched_t *ours, lithe_context_t *c) {
    struct lithe_sched_stats st;
    lithe_sched_stats(ours, &st);
    // requested is the runnable threads less one: the hart the scheduler
    // was entered on (docs/lithe.md, "Accounting"), held by nobody since
    // its anchor blocked.
    bool threads_wait = st.requested >= static_cast<int64_t>(st.subtree_harts);
    if (c->sched != ours) return threads_wait;  // the main thread
    // The base's other work: a main thread paused here shows in the base's
    // sums (its subtree holds every hart, it wants one more).
    return threads_wait || lithe_sched_parent_turn(ours);
}

// Under s.lock.
void arm(Slicer &s, int h, uint64_t period) {
    s.armed[h] = true;
    set_waiter_rel(&s.alarm[h], period);
    s.alarm[h].vcoreid = h;
    start_alarm(&s.alarm[h]);
}

void tick(alarm_waiter *w) {
    Slicer &s = slicer();
    int which = static_cast<int>(w - s.alarm.get());
    int h = vcore_id();  // where it runs: a stand-in may run it
    lithe_sched_t *ours = s.ours.load(std::memory_order_acquire);
    bool busy = false;
    if (uthread *u = current_uthread(); u && ours && h < s.nharts) {
        auto *c = static_cast<lithe_context_t *>(u->owner);
        bool mine = c && (c->sched == ours ||
                          (c->sched == lithe_sched_base() && is_main(u)));
        busy = mine;
        if (mine && s.last[h] == u && others_wait(ours, c)) {
            s.last[h] = nullptr;
            uthread_paused(u);
        } else {
            s.last[h] = mine ? u : nullptr;
        }
    } else if (h < s.nharts) {
        s.last[h] = nullptr;
    }
    std::lock_guard<lithe::SpinLock> g(s.lock);
    if (s.live.load(std::memory_order_acquire) == 0) {
        s.armed[which] = false;
        return;
    }
    arm(s, which, busy ? s.slice_us : s.slice_us * kIdleFactor);
}

}  // namespace

bool slicing_enabled() { return slicer().slice_us != 0; }

void slicer_thread_started(lithe_sched_t *ours) {
    Slicer &s = slicer();
    if (!s.slice_us) return;
    s.ours.store(ours, std::memory_order_release);
    lithe_context_t *self = lithe_context_self();
    if (self && self->sched == lithe_sched_base() && is_main(self->u)) {
        uth_disable_notifs();  // enabling takes a notification now pending
        uthread_set_preemptible(self->u, true);
        uth_enable_notifs();
    }
    if (s.live.fetch_add(1, std::memory_order_acq_rel) > 0) return;
    std::lock_guard<lithe::SpinLock> g(s.lock);
    for (int h = 0; h < s.nharts; ++h)
        if (!s.armed[h]) arm(s, h, s.slice_us * (h + 1));
}

void slicer_thread_exited() {
    Slicer &s = slicer();
    if (s.slice_us) s.live.fetch_sub(1, std::memory_order_acq_rel);
}

void slicer_thread_body_starts() {
    if (!slicing_enabled()) return;
    uth_disable_notifs();  // enabling takes a notification now pending
    uthread_set_preemptible(lithe_context_self()->u, true);
    uth_enable_notifs();
}

}  // namespace lithe_pthread
