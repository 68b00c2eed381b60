// alarm.cpp: alarms (alarm.h), all multiplexed on the service thread's one
// timerfd, and uth_sleep_us built on them.
//
// Owns the min-heap of started alarms (by wake_up_time; a waiter's
// heap_index is its slot, -1 when not in the heap), every waiter's `state`
// while it is started, and g_armed_us (the deadline the timerfd is armed
// for; kNever when nothing is pending). All of it is guarded by g_lock, a
// spinlock taken by uthreads (with notifications disabled, so a preemptible
// uthread is never paused holding it), by vcore context and by the service
// thread; it is never held across a switch. Nothing else nests inside it
// except the timerfd_settime syscall.
//
// States of a waiter:
//   IDLE   -> ARMED   start_alarm
//   ARMED  -> IDLE    stop_alarm (returns true)
//   ARMED  -> ARMED   reset_alarm_abs with the new time (returns true)
//   ARMED  -> FIRING  service thread: removed from the heap, EV_ALARM sent
//   FIRING -> IDLE    EV_ALARM handler, just before it calls func (so func
//                     may start the waiter again)
// All but the last happen under g_lock. stop/reset return false for FIRING
// or IDLE and change nothing: the callback runs (or ran) for that start.
// Hence per start exactly one of {stop/reset returned true, callback ran}.
//
// Routing: start_alarm resolves the target vcore (vcoreid, or the starter's
// for -1) into ev.data; ev.arg points back at the waiter. The waiter's
// memory must stay valid while it is ARMED or FIRING.
#include "parlib/alarm.h"

#include <time.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "check.hpp"
#include "parlib/uthread.h"
#include "parlib/vcore.h"
#include "service.hpp"
#include "spin.hpp"

namespace parlib {
namespace {

enum : uint32_t { kIdle = 0, kArmed = 1, kFiring = 2 };
constexpr uint64_t kNever = UINT64_MAX;  // also "no time set" in a waiter

SpinLock g_lock;
// Immortal (the service thread outlives static destructors); reserved so
// that starting alarms from vcore context rarely allocates.
std::vector<alarm_waiter *> &g_heap = *[] {
    auto *h = new std::vector<alarm_waiter *>;
    h->reserve(1024);
    return h;
}();
uint64_t g_armed_us = kNever;

std::atomic_ref<uint32_t> state_of(alarm_waiter *w) {
    return std::atomic_ref<uint32_t>(w->state);
}

const char *state_name(uint32_t s) {
    switch (s) {
        case kIdle: return "idle";
        case kArmed: return "started";
        case kFiring: return "firing (its callback is pending)";
    }
    return "corrupt (not initialised with init_waiter?)";
}

// Holds g_lock with notifications disabled when called from a uthread:
// heap growth calls operator new (libstdc++), where a preemptible uthread
// could otherwise be paused with the lock held.
class AlarmLock {
  public:
    AlarmLock() {
        uth_disable_notifs();
        g_lock.lock();
    }
    ~AlarmLock() {
        g_lock.unlock();
        uth_enable_notifs();
    }
    AlarmLock(const AlarmLock &) = delete;
    AlarmLock &operator=(const AlarmLock &) = delete;
};

// ---- binary min-heap on wake_up_time (g_lock held) ----
bool earlier(const alarm_waiter *a, const alarm_waiter *b) {
    return a->wake_up_time < b->wake_up_time;
}

void place(size_t i, alarm_waiter *w) {
    g_heap[i] = w;
    w->heap_index = static_cast<int64_t>(i);
}

void sift_up(size_t i) {
    alarm_waiter *w = g_heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!earlier(w, g_heap[p])) break;
        place(i, g_heap[p]);
        i = p;
    }
    place(i, w);
}

void sift_down(size_t i) {
    alarm_waiter *w = g_heap[i];
    size_t n = g_heap.size();
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && earlier(g_heap[c + 1], g_heap[c])) ++c;
        if (!earlier(g_heap[c], w)) break;
        place(i, g_heap[c]);
        i = c;
    }
    place(i, w);
}

void heap_push(alarm_waiter *w) {
    g_heap.push_back(w);
    sift_up(g_heap.size() - 1);
}

void heap_remove(alarm_waiter *w) {
    auto i = static_cast<size_t>(w->heap_index);
    PARLIB_ASSERT(i < g_heap.size() && g_heap[i] == w);
    alarm_waiter *last = g_heap.back();
    g_heap.pop_back();
    w->heap_index = -1;
    if (last == w) return;
    place(i, last);
    sift_up(i);
    sift_down(static_cast<size_t>(last->heap_index));
}

// The timer must expire no later than the earliest deadline. A stopped
// alarm may leave it armed early; the service thread then just re-arms.
void arm_for(uint64_t deadline) {
    if (deadline < g_armed_us) {
        service_arm_timer(deadline);
        g_armed_us = deadline;
    }
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

}  // namespace

void alarm_expire() {
    constexpr int kBatch = 64;
    alarm_waiter *batch[kBatch];
    int k;
    do {
        k = 0;
        {
            SpinGuard g(g_lock);
            uint64_t now = parlib_now_us();
            while (!g_heap.empty() && g_heap[0]->wake_up_time <= now &&
                   k < kBatch) {
                alarm_waiter *w = g_heap[0];
                heap_remove(w);
                state_of(w).store(kFiring, std::memory_order_relaxed);
                batch[k++] = w;
            }
            if (k < kBatch) {
                g_armed_us = kNever;
                if (!g_heap.empty()) arm_for(g_heap[0]->wake_up_time);
            }
        }
        // FIRING waiters belong to us until their handler starts: the owner
        // may not touch them, so sending outside the lock is safe.
        for (int i = 0; i < k; ++i) {
            alarm_waiter *w = batch[i];
            send_event(&w->ev, EV_ALARM, static_cast<int>(w->ev.data),
                       EVENT_WAKEUP | w->ev_flags);
        }
    } while (k == kBatch);
}

void alarm_event_handler(event_msg *msg, unsigned, void *) {
    auto *w = static_cast<alarm_waiter *>(msg->arg);
    alarm_fn fn = w->func;
    state_of(w).store(kIdle, std::memory_order_release);
    fn(w);  // w may be restarted or gone from here on
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
    PARLIB_CHECK(uthread_sched_ops(),
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
    service_start();
    AlarmLock g;
    uint32_t s = state_of(w).load(std::memory_order_relaxed);
    PARLIB_CHECK(s == kIdle, "start_alarm: alarm %p is %s", (void *)w,
                 state_name(s));
    w->ev.arg = w;
    w->ev.data = static_cast<uint64_t>(target);
    state_of(w).store(kArmed, std::memory_order_relaxed);
    heap_push(w);
    arm_for(w->wake_up_time);
}

bool stop_alarm(struct alarm_waiter *w) {
    AlarmLock g;
    if (state_of(w).load(std::memory_order_relaxed) != kArmed) return false;
    heap_remove(w);
    state_of(w).store(kIdle, std::memory_order_relaxed);
    return true;
}

bool reset_alarm_abs(struct alarm_waiter *w, uint64_t abs_us) {
    AlarmLock g;
    if (state_of(w).load(std::memory_order_relaxed) != kArmed) return false;
    w->wake_up_time = abs_us < kNever ? abs_us : kNever - 1;
    auto i = static_cast<size_t>(w->heap_index);
    sift_up(i);
    sift_down(static_cast<size_t>(w->heap_index));
    arm_for(w->wake_up_time);
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
