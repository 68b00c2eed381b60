// rest_clock.hpp: RestClock, which ends resting TBB workers' rests
// (TbbScheduler::rest, docs/tbb.md "Liveness") with parlib alarms.
//
// A resting context is saved and counted blocked; it runs again only when
// its rest is ended (lithe unblock), so the end must come whatever the
// vcores are doing. Each rest is a parlib alarm on the vcore the worker
// rested on: if that vcore parks, the timer's signal wakes it; if it runs
// another context, the rest ends when that vcore next enters vcore
// context; and if that context sleeps in the kernel (a TBB master in TBB's
// raw futex wait for work a resting worker holds: the hang of session 6),
// parlib hands the expiry to a stand-in vcore (docs/parlib-services.md).
// So no thread of our own wakes, and no wake preempts a busy vcore (the
// session-7 clock thread did: docs/tbb.md).
//
// Ownership: a context is resting iff it is linked in resting_ (under
// lock_). Exactly one of {the alarm's callback, end_all's successful
// stop_alarm} unlinks and unblocks it, exactly once: end_all leaves a
// context whose alarm is already firing to the callback. lock_ guards
// resting_ and the contexts' rest links; it is taken in hart context, by
// alarm callbacks (vcore context) and in contexts / foreign threads
// (end_all), never across an unblock; a vcore's alarm lock nests inside it
// (start_alarm, stop_alarm), never the reverse (callbacks run after the
// alarm lock is released).
#pragma once

#include <lithe/spinlock.hpp>

#include <parlib/alarm.h>

#include <cstdint>

namespace lithe_tbb {

struct TbbContext;
class RestClock;

// Per context, the RestClock's (under its lock while the context rests).
struct RestLink {
    alarm_waiter alarm;  // data: the context
    RestClock *clock = nullptr;
    TbbContext *prev = nullptr, *next = nullptr;
    bool linked = false;
};

class RestClock {
  public:
    // Hart context: c is saved and counted blocked, its rest_until_us set;
    // it is unblocked once parlib_now_us() reaches it (or by end_all).
    // Never blocks.
    void add(TbbContext &c);

    // Anywhere but hart context: ends every rest now (unblocks the
    // contexts, or leaves those whose alarm is firing to it); returns how
    // many it ended.
    unsigned end_all();

  private:
    static void fired(alarm_waiter *w);
    void unlink(TbbContext &c);

    lithe::SpinLock lock_;
    TbbContext *resting_ = nullptr;
};

}  // namespace lithe_tbb
