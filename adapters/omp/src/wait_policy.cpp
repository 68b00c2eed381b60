// wait_policy.cpp: how a team member that waits behaves (docs/omp.md,
// "Busy-waiting teams and the wait policy").
//
// 1. Waits inside the runtime (barriers, locks, joins, loop slots) spin for
//    the spin window, then block the context (spin_until's callers):
//    OMP_WAIT_POLICY=passive: 0; active: kActiveSpinUs; unset: parlib's
//    PARLIB_SPIN_US (default 50 µs).
// 2. Waits in user code (flags + flush, as NPB LU) never call the runtime,
//    so a member spinning on a hart keeps it while the member it waits for
//    may have none. Regions are therefore time-sliced: every live region
//    scheduler is registered here; while any is, a periodic alarm (every
//    LITHE_OMP_SLICE_US, default 1000; 0 turns slicing off) checks each:
//    if it has more runnable members than harts (fork-join accounting:
//    requested >= harts), every hart running it is interrupted (an event
//    with EVENT_INTERRUPT; the tick's own hart directly) and its member, if
//    preemptible, is paused: lithe's context_yield puts it behind its
//    teammates in the region's run queue.
//    The tick runs every slice only while it can matter: an alarm whose
//    tick finds no registered region starved re-arms kIdleFactor times
//    further out (a probe: starvation that arises inside a region, e.g.
//    members unblocking, is seen within kIdleFactor slices). A tick that
//    finds one starved pulls the slowed alarms back to one slice apart; a
//    region that is starved as it is registered pulls in one (speed_up).
//
// Lost notifications: parlib defers an interrupt that lands in parlib, libc
// or the loader, or while notifications are disabled, and re-delivers it
// until it is taken (docs/parlib.md). Besides, every tick signals again:
// each hart has a ring of kKicks messages (a queued message cannot be
// re-sent), and the tick is driven by kAlarms alarms, each re-armed kAlarms
// slices ahead by its own callback: if some are stuck on a busy vcore, the
// next ones still fire and signal it. A member
// becomes preemptible with notifications disabled around the switch, so a
// notification that arrived just before is taken at once.
//
// Who is preemptible: team members while they run the region body
// (team.cpp; workers for life, a master only during the body, restoring
// its previous state). Runtime code that takes spinlocks shared with hart
// context runs with notifications disabled: the adapter's Spin (a
// lithe::SpinLock), and region start/end (region.cpp, team.cpp), which call
// lithe and the fork-join scheduler. parlib never interrupts code in parlib,
// libc or the loader.
//
// State: Slicer::lock (a lithe::SpinLock: notification-disabling in contexts,
// plain in hart context) guards `regions`, `armed` and `slow`; the tick runs in
// hart context holding it, never across a switch. A region is removed
// before its scheduler exits, so the tick and the kick handler only read
// the stats of schedulers that are alive. Kick messages are per hart;
// Kicks::queued[i] is set by the tick (under the lock) when it sends message
// i and cleared by its handler (parlib forbids re-sending a queued message).
#include <parlib/alarm.h>
#include <parlib/env.h>
#include <parlib/event.h>
#include <parlib/uthread.h>
#include <parlib/vcore.h>
#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <mutex>

#include "internal.hpp"

namespace lomp {

namespace {

constexpr uint64_t kActiveSpinUs = 200000;  // libomp's KMP_BLOCKTIME default
constexpr unsigned kKickEvent = EV_USER + 12;
constexpr int kKicks = 8;     // kick messages per hart
constexpr int kAlarms = 8;
constexpr int kIdleFactor = 8;  // period multiplier while nothing is starved


struct Kicks {
    event_msg msg[kKicks];
    std::atomic<bool> queued[kKicks];  // sent, handler not started
};

struct Slicer {
    uint64_t slice_us;
    int nharts;
    std::unique_ptr<Kicks[]> kicks;  // per hart
    alarm_waiter alarm[kAlarms];
    lithe::SpinLock lock;
    std::vector<lithe_sched_t *> regions;  // live region schedulers
    bool armed[kAlarms] = {};
    bool slow[kAlarms] = {};  // re-armed at the idle (probe) period
};

void tick(alarm_waiter *);
void on_kick(event_msg *, unsigned, void *);

Slicer &slicer() {
    static Slicer *s = [] {  // immortal: alarms may fire during exit
        auto *x = new Slicer;
        x->slice_us = parlib_env_u64("LITHE_OMP_SLICE_US", 1000, 0,
                                     10'000'000);
        x->nharts = std::max(1, lithe_num_harts());
        x->kicks.reset(new Kicks[x->nharts]());
        x->regions.reserve(64);
        for (alarm_waiter &a : x->alarm) {
            init_waiter(&a, tick);
            a.ev_flags = EVENT_INTERRUPT;
        }
        if (x->slice_us) register_ev_handler(kKickEvent, on_kick, nullptr);
        return x;
    }();
    return *s;
}

bool registered(Slicer &s, lithe_sched_t *r) {
    return std::find(s.regions.begin(), s.regions.end(), r) != s.regions.end();
}

// A region (or a region nested in it) has members that are runnable but
// have no hart. `requested` is the subtree's demand less the hart the
// region was entered on (docs/lithe.md, "Accounting"), so it is compared
// with the harts of the whole subtree. With `unrequested`, the members a
// short region published without asking for harts (team.cpp) count too:
// the tick's view, not the region start's (a short region is not worth
// a faster tick).
bool starved(lithe_sched_t *r, bool unrequested = true) {
    struct lithe_sched_stats st;
    lithe_sched_stats(r, &st);
    int64_t want = st.requested;
    if (unrequested)
        want += static_cast<Team *>(reinterpret_cast<lithe_fj_sched_t *>(r)
                                        ->user)->unrequested.load(
            std::memory_order_relaxed);
    return st.harts > 0 && want >= st.subtree_harts;
}

// Hart context: pause the member that the notification interrupted on this
// hart, if it is a context of region `r`.
void pause_current(lithe_sched_t *r) {
    struct uthread *u = current_uthread();
    if (!u) return;  // not interrupted (not preemptible, or in the runtime)
    auto *c = static_cast<lithe_context_t *>(u->owner);
    if (c && c->sched == r) uthread_paused(u);
}

// Hart context on a hart of starved region `r`: a region that skipped its
// hart request asks now (its members then get harts rather than slices);
// otherwise the member running here is paused.
void relieve(lithe_sched_t *r) {
    if (!team_request_unrequested(r)) pause_current(r);
}

void on_kick(event_msg *m, unsigned, void *) {
    Slicer &s = slicer();
    static_cast<std::atomic<bool> *>(m->arg)->store(false,
                                                    std::memory_order_release);
    lithe_sched_t *r = lithe_sched_current();  // this hart's scheduler
    bool pause;
    {
        std::lock_guard<lithe::SpinLock> g(s.lock);
        pause = registered(s, r) && starved(r);
    }
    if (pause) relieve(r);
}

// Under s.lock: one more signal to hart h, unless all its messages are
// still queued (then it is not taking notifications at all for now).
void kick(Slicer &s, int h) {
    Kicks &k = s.kicks[h];
    for (int i = 0; i < kKicks; ++i) {
        if (k.queued[i].load(std::memory_order_acquire)) continue;
        k.queued[i].store(true, std::memory_order_relaxed);
        k.msg[i].arg = &k.queued[i];
        send_event(&k.msg[i], kKickEvent, h, EVENT_INTERRUPT);
        return;
    }
}

// Alarm i fires `period` after its previous expiry, so the alarms stay
// spread one slice apart; one that is late (or never ran) restarts at its
// own offset from now, so late alarms handled together spread out again.
void arm(Slicer &s, int i, uint64_t period, int vcore) {
    alarm_waiter *w = &s.alarm[i];
    uint64_t now = parlib_now_us(), prev = w->wake_up_time;
    uint64_t at = prev != UINT64_MAX && prev + period > now
                      ? prev + period
                      : now + s.slice_us * (i + 1);
    set_waiter_abs(w, at);
    w->vcoreid = vcore;
    start_alarm(w);
}

// Under s.lock: alarms waiting out an idle period fire again one slice
// apart from now (at most `n` of them: a region start pulls in one, whose
// tick pulls in the rest if the region is still starved then, so regions
// that start and end faster than a slice do not reset every alarm). One
// that is already firing (reset says false) re-arms itself from its tick.
void speed_up(Slicer &s, int n = kAlarms) {
    uint64_t now = parlib_now_us();
    for (int i = 0, k = 0; i < kAlarms && k < n; ++i)
        if (s.slow[i]) {
            s.slow[i] = false;
            reset_alarm_abs(&s.alarm[i], now + s.slice_us * ++k);
        }
}

void tick(alarm_waiter *w) {
    Slicer &s = slicer();
    int me = vcore_id(), which = static_cast<int>(w - s.alarm);
    lithe_sched_t *pause_here = nullptr;
    {
        std::lock_guard<lithe::SpinLock> g(s.lock);
        if (s.regions.empty()) {
            s.armed[which] = false;
            s.slow[which] = false;
            return;
        }
        // Fire next on a hart that runs a region (it is online), alarm i
        // preferably on hart i mod harts: spread over the harts, so that
        // alarms stuck on one busy hart leave others ticking (and kicking it).
        int next = -1, want = which % s.nharts;
        bool any_starved = false;
        for (int h = 0; h < s.nharts; ++h) {
            lithe_sched_t *r = lithe_hart_owner(h);
            if (!r || !registered(s, r)) continue;
            if (next < 0 || h == want) next = h;
            if (!starved(r)) continue;
            any_starved = true;
            if (h == me) {
                pause_here = r;
            } else {
                kick(s, h);
            }
        }
        if (any_starved) speed_up(s);
        s.slow[which] = !any_starved;
        arm(s, which, s.slice_us * kAlarms * (any_starved ? 1 : kIdleFactor),
            next);
    }
    if (pause_here && lithe_sched_current() == pause_here)
        relieve(pause_here);
}

}  // namespace

uint64_t spin_budget_ns() {
    static const uint64_t ns = [] {
        auto us = static_cast<long>(
            parlib_env_u64("PARLIB_SPIN_US", 50, 0, 10'000'000));
        if (const char *p = getenv("OMP_WAIT_POLICY")) {
            if (strcasecmp(p, "passive") == 0) us = 0;
            if (strcasecmp(p, "active") == 0)
                us = std::max(us, static_cast<long>(kActiveSpinUs));
        }
        return static_cast<uint64_t>(us < 0 ? 0 : us) * 1000;
    }();
    return ns;
}

bool team_oversubscribed() {
    Member *m = self();
    if (m->team->n <= 1) return false;
    lithe_sched_t *r = lithe_sched_current();
    return r && m->team->n > __atomic_load_n(&r->subtree_harts, __ATOMIC_RELAXED);
}

bool slicing_enabled() { return slicer().slice_us != 0; }

bool set_preemptible(bool on) {
    if (!slicing_enabled()) return false;
    uthread *u = lithe_context_self()->u;
    // The uthread's flag, not a copy of our own: the context may be a
    // thread the pthreads adapter made preemptible for its slicing.
    bool was = __atomic_load_n(&u->flags, __ATOMIC_RELAXED) &
               UTHREAD_F_PREEMPTIBLE;
    if (on != was) {
        uth_disable_notifs();  // enabling takes a notification now pending
        uthread_set_preemptible(u, on);
        uth_enable_notifs();
    }
    return was;
}

}  // namespace lomp

namespace lomp {

void slicer_add(lithe_sched_t *region) {
    Slicer &s = slicer();
    if (!s.slice_us) return;
    std::lock_guard<lithe::SpinLock> g(s.lock);
    s.regions.push_back(region);
    for (int i = 0; i < kAlarms; ++i)
        if (!s.armed[i]) {
            s.armed[i] = true;
            s.slow[i] = false;
            arm(s, i, s.slice_us * kAlarms, -1);
        }
    if (starved(region, false)) speed_up(s, 1);
}

void slicer_remove(lithe_sched_t *region) {
    Slicer &s = slicer();
    if (!s.slice_us) return;
    std::lock_guard<lithe::SpinLock> g(s.lock);
    auto it = std::find(s.regions.begin(), s.regions.end(), region);
    if (it != s.regions.end()) {
        *it = s.regions.back();
        s.regions.pop_back();
    }
}

}  // namespace lomp
