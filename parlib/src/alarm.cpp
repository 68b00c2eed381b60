// alarm.cpp: alarms (alarm.h), driven per vcore by a POSIX timer that
// signals that vcore's own kernel thread, and uth_sleep_us built on them.
//
// Every alarm is bound to a vcore (vcoreid, or the starter's for -1, vcore
// 0 from foreign threads), so each vcore has its own queue: a min-heap of
// its started alarms (by wake_up_time; a waiter's heap_index is its slot, -1
// when not in a heap), `armed_us` (the expiry its timer is set for, kNever
// when disarmed) and the timer itself (created on the vcore's thread at
// start-up, alarm_thread_init; SIGEV_THREAD_ID with the notification signal
// and kAlarmTimerTag). A queue is guarded by its spinlock, taken by uthreads
// (with notifications disabled, so a preemptible uthread is never paused
// holding it), by vcore context and by foreign threads; nothing nests inside
// it but timer_settime and send_event (lock-free). Expiry runs in the
// vcore's notification handler (alarm_timer_fired): it only try-locks, since
// the code it interrupted on that thread may hold the lock; if the lock is
// busy it re-arms the timer a little later (kRetryFirstNs, doubling up to
// kRetryMaxNs) and changes nothing else. While it holds the lock the
// handler marks the vcore in_alarm_expiry, so that a notification nested
// in it never switches the uthread away (event.cpp). Normally an expiry
// wakes no other kernel thread: the expired alarms become EV_ALARM events
// queued to the vcore itself (EVENT_WAKEUP brings it online if it was
// yielded; a parked vcore is woken by the signal), and the handler goes on
// as a notification only if one of them asked for EVENT_INTERRUPT.
//
// Except when the signal finds the vcore's uthread asleep in a system call
// (a raw futex wait: glibc's mutexes, TBB's own waits; it cannot be paused
// there, event.cpp). That vcore would handle its events only once the call
// returns, which may be never if the sleeper waits for what an expiring
// alarm wakes (a uthread in uth_sleep_us, a timed wait). So the alarms
// that only wake (no EVENT_INTERRUPT, which is about this vcore's uthread)
// go to a stand-in vcore instead (stand_in_for: an idle one if any), and so
// do those queued here earlier, while the uthread still ran: as long as
// wake-only alarms wait in this vcore's event queue, its timer also fires
// for a check (Queue::check_us: 1 ms, doubling up to 16 ms) that moves
// them once it finds such a sleep (move_events, event.cpp). A stand-in
// that runs a uthread gets its own check armed (try_watch), so that events
// move on again if its uthread sleeps in the kernel too. A uthread that
// is not preemptible and runs user code (a cooperative runtime's busy
// loop, e.g. a pthread under LITHE_PTHREAD_SLICE_US=0) also keeps the vcore
// until it yields; once the vcore has not entered vcore context for
// kBusyMoveUs while wake-only events wait, they go to a vcore that does
// (busy_stand_in: idle, or one that entered vcore context since the last
// check), else stay. Before, a usleep started just before its vcore took
// such a thread ended only when that thread did, while the other vcore
// idled (pthread_mutex mutex_timed_spin under load). Alarms still run on
// the vcore they name whenever it gets to them within that time. Their
// callbacks then run on that vcore: callers may rely on "in vcore context",
// not on "on the vcore named" (io.cpp's two completions count atomically).
// I/O completions, which the service thread queues to the vcore where the
// waiter blocked, get the same treatment (watch_for_stand_in arms the
// check; io.cpp).
//
// Timer invariant: the timer fires no later than the earliest deadline in
// the heap, or a handler pass that re-syncs it is pending. Every change of
// the heap min re-syncs it (sync_timer: one timer_settime when the min
// differs from armed_us), so stopping or moving the earliest alarm does not
// leave a stale expiry that would signal the vcore for nothing. The retry
// path writes the timer without the lock and leaves armed_us stale; the
// expiry pass it leads to therefore re-syncs unconditionally.
//
// States of a waiter:
//   IDLE   -> ARMED   start_alarm (deadline not yet reached)
//   IDLE   -> FIRING  start_alarm (already due: sent at once, no timer)
//   ARMED  -> IDLE    stop_alarm (returns true)
//   ARMED  -> ARMED   reset_alarm_abs with the new time (returns true)
//   ARMED  -> FIRING  expiry: removed from the heap, EV_ALARM queued
//   FIRING -> IDLE    EV_ALARM handler, just before it calls func (so func
//                     may start the waiter again)
// All but the last happen under the queue's lock. stop/reset return false
// for FIRING or IDLE and change nothing: the callback runs (or ran) for that
// start. Hence per start exactly one of {stop/reset returned true, callback
// ran}.
//
// Routing: start_alarm stores the target vcore in ev.data (before the
// release store of ARMED), ev.arg points back at the waiter. stop/reset
// read ev.data to find the queue, lock it, and re-check that the waiter is
// still ARMED *there* (a callback may have restarted it on another vcore
// meanwhile). The waiter's memory must stay valid while it is ARMED or
// FIRING.
#include "parlib/alarm.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "check.hpp"
#include "parlib/uthread.h"
#include "parlib/vcore.h"
#include "spin.hpp"
#include "vcore_internal.hpp"

namespace parlib {
namespace {

enum : uint32_t { kIdle = 0, kArmed = 1, kFiring = 2 };
constexpr uint64_t kNever = UINT64_MAX;  // also "no time set" in a waiter
constexpr uint64_t kRetryFirstNs = 10000;   // 10 µs
constexpr uint64_t kRetryMaxNs = 1000000;   // 1 ms
constexpr uint64_t kCheckFirstUs = 1000;    // stand-in checks: 1 ms,
constexpr uint64_t kCheckMaxUs = 16000;     // doubling up to 16 ms
// A vcore held by a busy uthread keeps its wake-only events until it has
// not entered vcore context for this long (the checks see it at 1 + 2 + 4 +
// 8 + 16 = 31 ms).
constexpr uint64_t kBusyMoveUs = 20000;
// A stand-in check that could not be armed is tried again this soon.
constexpr uint64_t kOwedRetryUs = 100;

struct alignas(64) Queue {
    SpinLock lock;
    std::vector<alarm_waiter *> heap;
    uint64_t armed_us = kNever;
    timer_t timer{};
    bool has_timer = false;  // set (under lock) once the vcore has started
    uint32_t retries = 0;    // the vcore's handler only
    // Wake-only alarms sit in the vcore's event queue while a uthread runs
    // there: the timer also fires at check_us to see whether that uthread
    // went to sleep in the kernel meanwhile (kNever: no check due).
    // checks: consecutive checks that found it still running (backoff).
    uint64_t check_us = kNever;
    uint32_t checks = 0;
    // For busy uthreads (the vcore's handler only): since when the vcore
    // has not entered vcore context (its Vcore::entries was `entries` then)
    // while wake-only events waited, and every vcore's entries at the last
    // expiry pass (g_max_vcores slots, allocated by alarm_init).
    uint64_t waiting_since = 0;
    uint64_t entries = 0;
    uint64_t *seen_entries = nullptr;
    // Stand-ins this vcore's handler sent wake-only events to, whose own
    // check it could not arm yet (their lock was busy: try_watch), one flag
    // per vcore (g_max_vcores slots). The vcore's handler only.
    uint8_t *watch_owed = nullptr;
};
// One per vcore, immortal (alarms may fire during exit).
Queue *g_queues = nullptr;

std::atomic_ref<uint32_t> state_of(alarm_waiter *w) {
    return std::atomic_ref<uint32_t>(w->state);
}
std::atomic_ref<uint64_t> target_of(alarm_waiter *w) {
    return std::atomic_ref<uint64_t>(w->ev.data);
}

const char *state_name(uint32_t s) {
    switch (s) {
        case kIdle: return "idle";
        case kArmed: return "started";
        case kFiring: return "firing (its callback is pending)";
    }
    return "corrupt (not initialised with init_waiter?)";
}

// Holds a queue's lock with notifications disabled when called from a
// uthread: heap growth calls operator new (libstdc++), where a preemptible
// uthread could otherwise be paused with the lock held.
class AlarmLock {
  public:
    explicit AlarmLock(Queue &q) : q_(q) {
        uth_disable_notifs();
        q_.lock.lock();
    }
    ~AlarmLock() {
        q_.lock.unlock();
        uth_enable_notifs();
    }
    AlarmLock(const AlarmLock &) = delete;
    AlarmLock &operator=(const AlarmLock &) = delete;

  private:
    Queue &q_;
};

// ---- binary min-heap on wake_up_time (the queue's lock held) ----
bool earlier(const alarm_waiter *a, const alarm_waiter *b) {
    return a->wake_up_time < b->wake_up_time;
}

void place(Queue &q, size_t i, alarm_waiter *w) {
    q.heap[i] = w;
    w->heap_index = static_cast<int64_t>(i);
}

void sift_up(Queue &q, size_t i) {
    alarm_waiter *w = q.heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!earlier(w, q.heap[p])) break;
        place(q, i, q.heap[p]);
        i = p;
    }
    place(q, i, w);
}

void sift_down(Queue &q, size_t i) {
    alarm_waiter *w = q.heap[i];
    size_t n = q.heap.size();
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && earlier(q.heap[c + 1], q.heap[c])) ++c;
        if (!earlier(q.heap[c], w)) break;
        place(q, i, q.heap[c]);
        i = c;
    }
    place(q, i, w);
}

void heap_push(Queue &q, alarm_waiter *w) {
    q.heap.push_back(w);
    sift_up(q, q.heap.size() - 1);
}

void heap_remove(Queue &q, alarm_waiter *w) {
    auto i = static_cast<size_t>(w->heap_index);
    PARLIB_ASSERT(i < q.heap.size() && q.heap[i] == w);
    alarm_waiter *last = q.heap.back();
    q.heap.pop_back();
    w->heap_index = -1;
    if (last == w) return;
    place(q, i, last);
    sift_up(q, i);
    sift_down(q, static_cast<size_t>(last->heap_index));
}

// Sets the queue's timer for its earliest deadline (disarmed when empty),
// unless it already is. The queue's lock held.
void sync_timer(Queue &q) {
    uint64_t want = q.heap.empty() ? kNever : q.heap[0]->wake_up_time;
    if (q.check_us < want) want = q.check_us;
    if (!q.has_timer || want == q.armed_us) return;
    itimerspec its{};  // all zero: disarm
    if (want != kNever) {
        // An all-zero it_value would disarm: a deadline of 0 must fire at
        // once, and 1 µs after boot is always past.
        uint64_t at = want ? want : 1;
        its.it_value.tv_sec = static_cast<time_t>(at / 1000000);
        its.it_value.tv_nsec = static_cast<long>(at % 1000000) * 1000;
    }
    PARLIB_CHECK(timer_settime(q.timer, TIMER_ABSTIME, &its, nullptr) == 0,
                 "alarm: timer_settime: %s", strerror(errno));
    q.armed_us = want;
}

// Queues the EV_ALARM of a waiter this code has just made FIRING (so no one
// else touches it until its handler starts) to vcore `to`, or to its own
// vcore if `to` is -1; true if it asked to interrupt. Once sent, the
// callback may run on the target vcore and free or restart `w`: nothing of
// it is read after send_event.
bool deliver(alarm_waiter *w, int to = -1) {
    unsigned flags = EVENT_WAKEUP | w->ev_flags;
    if (to < 0 || (flags & EVENT_INTERRUPT)) to = static_cast<int>(w->ev.data);
    send_event(&w->ev, EV_ALARM, to, flags);
    return (flags & EVENT_INTERRUPT) != 0;
}

// Events a stand-in vcore may run: those that only wake a uthread, i.e. an
// EV_ALARM without EVENT_INTERRUPT, an I/O completion (io.cpp) and an
// offloaded call's return (offload.cpp).
bool wake_only(const event_msg *m) {
    if (m->type == EV_IO || m->type == EV_OFFLOAD) return true;
    return m->type == EV_ALARM &&
           !(static_cast<const alarm_waiter *>(m->arg)->ev_flags &
             EVENT_INTERRUPT);
}

// Where the wake-ups of vcore `v`, whose uthread sleeps in the kernel, go
// (signal handler context: atomics only): a vcore that is not running
// anything (spinning, then parked: EVENT_WAKEUP brings it online), else the
// next one, which handles them at its next pass through vcore context.
int stand_in_for(const Vcore *v) {
    int best = -1;
    uint32_t best_state = kOnline;
    for (int i = 1; i < g_max_vcores; ++i) {
        int id = (v->id + i) % g_max_vcores;
        uint32_t s = g_vcores[id].state.load(std::memory_order_relaxed);
        if (s == kSpinning) return id;
        if (best < 0 || (s == kParked && best_state == kOnline)) {
            best = id;
            best_state = s;
        }
    }
    return best;
}

// Where the wake-ups of vcore `v`, kept by a busy uthread, go (signal
// handler context: atomics only): an idle vcore, else one that entered
// vcore context since v's last expiry pass (it handles events there), else
// none (-1).
int busy_stand_in(const Vcore *v, const Queue &q) {
    int parked = -1, entering = -1;
    for (int i = 1; i < g_max_vcores; ++i) {
        int id = (v->id + i) % g_max_vcores;
        const Vcore &o = g_vcores[id];
        uint32_t s = o.state.load(std::memory_order_relaxed);
        if (s == kSpinning) return id;
        if (s == kParked && parked < 0) parked = id;
        if (s == kOnline && entering < 0 &&
            o.entries.load(std::memory_order_relaxed) != q.seen_entries[id])
            entering = id;
    }
    return parked >= 0 ? parked : entering;
}

// Has vcore `q`'s timer look at its wake-only events within kCheckFirstUs
// (q's lock held).
void arm_check(Queue &q) {
    uint64_t at = parlib_now_us() + kCheckFirstUs;
    if (q.check_us <= at) return;
    q.check_us = at;
    q.checks = 0;
    sync_timer(q);
}

// watch_for_stand_in for a notification handler, which must not wait for a
// lock the code it interrupted may hold: false if vcore `to`'s queue lock
// was busy (nothing done).
bool try_watch(int to) {
    if (g_vcores[to].state.load(std::memory_order_relaxed) != kOnline)
        return true;  // EVENT_WAKEUP brought it online for its events
    Queue &t = g_queues[to];
    if (!t.lock.try_lock()) return false;
    arm_check(t);
    t.lock.unlock();
    return true;
}

uint64_t saturating_add(uint64_t a, uint64_t b) {
    return b >= kNever - 1 - a ? kNever - 1 : a + b;
}

void check_not_started(alarm_waiter *w, const char *call) {
    uint32_t s = state_of(w).load(std::memory_order_relaxed);
    PARLIB_CHECK(s != kArmed,
                 "%s: alarm %p is started (stop it first, or use "
                 "reset_alarm_abs)",
                 call, (void *)w);
}

// Locks the queue `w` is ARMED in and returns it, or returns nullptr (lock
// not held) if `w` is not ARMED. `g` must be empty.
Queue *lock_armed(alarm_waiter *w, const char *call,
                  std::optional<AlarmLock> &g) {
    for (;;) {
        auto t = target_of(w).load(std::memory_order_relaxed);
        if (t >= static_cast<uint64_t>(g_max_vcores)) {
            // init_waiter leaves 0 and start_alarm a vcore id.
            PARLIB_CHECK(state_of(w).load(std::memory_order_acquire) != kArmed,
                         "%s: alarm %p is corrupt", call, (void *)w);
            return nullptr;
        }
        Queue &q = g_queues[t];
        g.emplace(q);
        if (state_of(w).load(std::memory_order_acquire) != kArmed) {
            g.reset();
            return nullptr;
        }
        if (target_of(w).load(std::memory_order_relaxed) == t) return &q;
        g.reset();  // restarted on another vcore meanwhile: follow it
    }
}

void alarm_event_handler(event_msg *msg, unsigned, void *) {
    auto *w = static_cast<alarm_waiter *>(msg->arg);
    alarm_fn fn = w->func;
    state_of(w).store(kIdle, std::memory_order_release);
    fn(w);  // w may be restarted or gone from here on
}

}  // namespace

void alarm_init() {
    g_queues = new Queue[g_max_vcores];
    for (int i = 0; i < g_max_vcores; ++i) {
        g_queues[i].heap.reserve(256);
        g_queues[i].seen_entries = new uint64_t[g_max_vcores]();
        g_queues[i].watch_owed = new uint8_t[g_max_vcores]();
    }
    register_ev_handler(EV_ALARM, alarm_event_handler, nullptr);
}

void alarm_thread_init(Vcore *v) {
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = g_notif_signal;
    sev.sigev_value.sival_int = kAlarmTimerTag;
    sev._sigev_un._tid = v->tid;
    timer_t t;
    PARLIB_CHECK(timer_create(CLOCK_MONOTONIC, &sev, &t) == 0,
                 "vcore_lib_init: timer_create (vcore %d's alarm timer): %s",
                 v->id, strerror(errno));
    Queue &q = g_queues[v->id];
    SpinGuard g(q.lock);
    q.timer = t;
    q.has_timer = true;
    sync_timer(q);  // alarms started before this vcore's thread ran
}

bool alarm_timer_fired(Vcore *v, Holdup holdup) {
    bool kernel_blocked = holdup == Holdup::kKernelBlocked;
    Queue &q = g_queues[v->id];
    if (!q.lock.try_lock()) {
        // Held, maybe by the code this signal interrupted: try again soon.
        uint32_t n = q.retries++;
        uint64_t ns = n < 7 ? kRetryFirstNs << n : kRetryMaxNs;
        if (ns > kRetryMaxNs) ns = kRetryMaxNs;
        itimerspec its{};
        its.it_value.tv_nsec = static_cast<long>(ns);
        timer_settime(q.timer, 0, &its, nullptr);
        return false;
    }
    q.retries = 0;
    // Has v entered vcore context since wake-only events began to wait?
    uint64_t entries = v->entries.load(std::memory_order_relaxed);
    uint64_t now0 = parlib_now_us();
    if (entries != q.entries || !event_queued(v, wake_only)) {
        q.waiting_since = now0;
        q.entries = entries;
    }
    bool kept_busy = holdup == Holdup::kBusy && g_max_vcores > 1 &&
                     now0 - q.waiting_since >= kBusyMoveUs;
    constexpr int kBatch = 64;
    alarm_waiter *batch[kBatch];
    bool interrupt = false;
    int k;
    do {
        k = 0;
        uint64_t now = parlib_now_us();
        while (!q.heap.empty() && q.heap[0]->wake_up_time <= now &&
               k < kBatch) {
            alarm_waiter *w = q.heap[0];
            heap_remove(q, w);
            state_of(w).store(kFiring, std::memory_order_relaxed);
            batch[k++] = w;
        }
        // FIRING waiters are ours until their handler starts; send_event
        // only pushes (lock-free) and wakes a vcore (a futex wake at most).
        int to = kernel_blocked ? stand_in_for(v) : -1;
        for (int i = 0; i < k; ++i) interrupt |= deliver(batch[i], to);
        if (k > 0 && to >= 0) q.watch_owed[to] = 1;
    } while (k == kBatch);
    // Wake-only alarms queued here earlier, while the uthread still ran,
    // go to the stand-in too once it sleeps in the kernel, or once it has
    // kept the vcore busy for kBusyMoveUs; until then, look again later (it
    // may enter such a sleep without yielding first).
    int to = kernel_blocked ? stand_in_for(v) : kept_busy ? busy_stand_in(v, q) : -1;
    if (to >= 0 && move_events(v, to, wake_only) > 0) q.watch_owed[to] = 1;
    // A stand-in that runs a uthread handles them at its next pass through
    // vcore context; if that uthread sleeps in the kernel too (or keeps it
    // busy), only the stand-in's own check moves them on, so it is armed
    // here. Without it they stayed there for good: a TBB worker took a
    // rest's alarm and then slept in TBB's futex wait for the master, which
    // waited in the kernel for that rest's end (tbb.linked.shutdown_exit).
    bool owed = false;
    for (int i = 0; i < g_max_vcores; ++i)
        if (q.watch_owed[i]) {
            if (try_watch(i))
                q.watch_owed[i] = 0;
            else
                owed = true;
        }
    for (int i = 0; i < g_max_vcores; ++i)
        q.seen_entries[i] = g_vcores[i].entries.load(std::memory_order_relaxed);
    if (to < 0 && g_max_vcores > 1 && event_queued(v, wake_only)) {
        uint64_t after = q.checks < 5 ? kCheckFirstUs << q.checks : kCheckMaxUs;
        ++q.checks;
        q.check_us = parlib_now_us() + after;
    } else {
        q.checks = 0;
        q.check_us = kNever;
    }
    if (owed) q.check_us = std::min(q.check_us, parlib_now_us() + kOwedRetryUs);
    q.armed_us = kNever;  // fired, or overwritten by a retry
    sync_timer(q);
    q.lock.unlock();
    return interrupt;
}

void watch_for_stand_in(int vcoreid) {
    if (g_max_vcores < 2 ||
        g_vcores[vcoreid].state.load(std::memory_order_relaxed) != kOnline)
        return;  // EVENT_WAKEUP brought it online for its events
    Queue &q = g_queues[vcoreid];
    AlarmLock g(q);
    arm_check(q);
}

}  // namespace parlib

using namespace parlib;

namespace {

void wake_sleeper(alarm_waiter *w) {
    uthread_runnable(static_cast<uthread *>(w->data));
}

// Vcore context, after the sleeper is saved. The alarm is delivered to this
// vcore, so its callback cannot run before has_blocked below.
void block_sleeper(uthread *u, void *arg) {
    auto *w = static_cast<alarm_waiter *>(arg);
    w->vcoreid = vcore_id();
    start_alarm(w);
    uthread_has_blocked(u, UTH_BLK_SLEEP);
}

}  // namespace

extern "C" {

void init_waiter(struct alarm_waiter *w, alarm_fn func) {
    PARLIB_CHECK(func, "init_waiter: func is NULL");
    w->wake_up_time = kNever;
    w->func = func;
    w->vcoreid = -1;
    w->ev_flags = 0;
    w->state = kIdle;
    w->heap_index = -1;
    memset(&w->ev, 0, sizeof w->ev);
}

void set_waiter_abs(struct alarm_waiter *w, uint64_t abs_us) {
    check_not_started(w, "set_waiter_abs");
    w->wake_up_time = abs_us < kNever ? abs_us : kNever - 1;
}

void set_waiter_abs_unix(struct alarm_waiter *w, uint64_t abs_unix_us) {
    check_not_started(w, "set_waiter_abs_unix");
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    uint64_t now = parlib_now_us();
    uint64_t now_unix = static_cast<uint64_t>(rt.tv_sec) * 1000000u +
                        static_cast<uint64_t>(rt.tv_nsec) / 1000;
    if (abs_unix_us >= now_unix)
        w->wake_up_time = saturating_add(now, abs_unix_us - now_unix);
    else
        w->wake_up_time =
            now_unix - abs_unix_us >= now ? 0 : now - (now_unix - abs_unix_us);
}

void set_waiter_rel(struct alarm_waiter *w, uint64_t usleep) {
    check_not_started(w, "set_waiter_rel");
    w->wake_up_time = saturating_add(parlib_now_us(), usleep);
}

void set_waiter_inc(struct alarm_waiter *w, int64_t usleep) {
    check_not_started(w, "set_waiter_inc");
    PARLIB_CHECK(w->wake_up_time != kNever,
                 "set_waiter_inc: alarm %p has no time to increment",
                 (void *)w);
    if (usleep >= 0) {
        w->wake_up_time =
            saturating_add(w->wake_up_time, static_cast<uint64_t>(usleep));
    } else {
        uint64_t dec = static_cast<uint64_t>(-(usleep + 1)) + 1;
        w->wake_up_time = dec >= w->wake_up_time ? 0 : w->wake_up_time - dec;
    }
}

void start_alarm(struct alarm_waiter *w) {
    PARLIB_CHECK(uthread_sched_ops() && g_queues,
                 "start_alarm: uthread_lib_init has not been called (alarm "
                 "callbacks run on vcores)");
    PARLIB_CHECK(w->func, "start_alarm: alarm %p has no callback (init_waiter)",
                 (void *)w);
    PARLIB_CHECK(w->wake_up_time != kNever,
                 "start_alarm: alarm %p has no expiry time (set_waiter_*)",
                 (void *)w);
    int target = w->vcoreid;
    if (target == -1) target = vcore_id() >= 0 ? vcore_id() : 0;
    PARLIB_CHECK(target >= 0 && target < max_vcores(),
                 "start_alarm: alarm %p names vcore %d (there are %d)",
                 (void *)w, w->vcoreid, max_vcores());
    Queue &q = g_queues[target];
    bool due;
    {
        AlarmLock g(q);
        uint32_t s = state_of(w).load(std::memory_order_relaxed);
        PARLIB_CHECK(s == kIdle, "start_alarm: alarm %p is %s", (void *)w,
                     state_name(s));
        w->ev.arg = w;
        target_of(w).store(static_cast<uint64_t>(target),
                           std::memory_order_relaxed);
        due = w->wake_up_time <= parlib_now_us();
        if (due) {
            state_of(w).store(kFiring, std::memory_order_release);
        } else {
            state_of(w).store(kArmed, std::memory_order_release);
            heap_push(q, w);
            if (w->heap_index == 0) sync_timer(q);
        }
    }
    // Already due: no timer, no signal.
    if (due) deliver(w);
}

bool stop_alarm(struct alarm_waiter *w) {
    std::optional<AlarmLock> g;
    Queue *q = lock_armed(w, "stop_alarm", g);
    if (!q) return false;
    bool was_first = w->heap_index == 0;
    heap_remove(*q, w);
    state_of(w).store(kIdle, std::memory_order_relaxed);
    if (was_first) sync_timer(*q);
    return true;
}

bool reset_alarm_abs(struct alarm_waiter *w, uint64_t abs_us) {
    std::optional<AlarmLock> g;
    Queue *q = lock_armed(w, "reset_alarm_abs", g);
    if (!q) return false;
    w->wake_up_time = abs_us < kNever ? abs_us : kNever - 1;
    auto i = static_cast<size_t>(w->heap_index);
    sift_up(*q, i);
    sift_down(*q, static_cast<size_t>(w->heap_index));
    sync_timer(*q);
    return true;
}

void uth_sleep_us(uint64_t usec) {
    uthread *self = uthread_self();
    if (!self) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t ns =
            static_cast<uint64_t>(ts.tv_nsec) + (usec % 1000000) * 1000;
        ts.tv_sec += static_cast<time_t>(usec / 1000000 + ns / 1000000000);
        ts.tv_nsec = static_cast<long>(ns % 1000000000);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) ==
               EINTR) {
        }
        return;
    }
    if (usec == 0) return;
    alarm_waiter w;
    init_waiter(&w, wake_sleeper);
    w.data = self;
    set_waiter_rel(&w, usec);
    uthread_yield(true, block_sleeper, &w);
}

}  // extern "C"
