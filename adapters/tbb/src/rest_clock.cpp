// rest_clock.cpp: RestClock (see rest_clock.hpp).
//
// add() runs in hart context (TbbScheduler::hart_enter), end_all() in a TBB
// master's or worker's context or a foreign thread (Server::adjust),
// fired() in vcore context on the vcore the rest's alarm expired for (or
// its stand-in).
#include "rest_clock.hpp"

#include "tbb_scheduler.hpp"

#include <cstdio>
#include <cstdlib>

namespace lithe_tbb {

void RestClock::add(TbbContext &c) {
    RestLink &r = c.rest;
    init_waiter(&r.alarm, fired);
    r.alarm.data = &c;
    r.clock = this;
    r.alarm.vcoreid = -1;  // this vcore
    set_waiter_abs(&r.alarm, c.rest_until_us);
    lock_.lock();
    r.prev = nullptr;
    r.next = resting_;
    if (resting_) resting_->rest.prev = &c;
    resting_ = &c;
    r.linked = true;
    // Under lock_: end_all must not find c linked with its alarm not yet
    // started (stop_alarm would be false, and nobody would unblock it).
    start_alarm(&r.alarm);
    lock_.unlock();
}

void RestClock::unlink(TbbContext &c) {
    RestLink &r = c.rest;
    if (r.prev)
        r.prev->rest.next = r.next;
    else
        resting_ = r.next;
    if (r.next) r.next->rest.prev = r.prev;
    r.linked = false;
}

void RestClock::fired(alarm_waiter *w) {
    auto &c = *static_cast<TbbContext *>(w->data);
    RestClock &self = *c.rest.clock;
    self.lock_.lock();
    // end_all unlinks only contexts whose alarm it stopped, so this one is
    // still linked: the rest is ours to end.
    if (!c.rest.linked) {
        std::fprintf(stderr, "lithe_tbb: a rest's alarm fired for a context "
                             "that is not resting\n");
        std::abort();
    }
    self.unlink(c);
    self.lock_.unlock();
    c.unblock();
}

unsigned RestClock::end_all() {
    TbbContext *ended = nullptr;  // linked through rest.next
    unsigned n = 0;
    lock_.lock();
    for (TbbContext *c = resting_, *next; c; c = next) {
        next = c->rest.next;
        if (!stop_alarm(&c->rest.alarm)) continue;  // firing: fired() ends it
        unlink(*c);
        c->rest.next = ended;
        ended = c;
        ++n;
    }
    lock_.unlock();
    // Read the link before the unblock: once unblocked, the context may
    // run, rest again and relink itself.
    while (ended) {
        TbbContext *c = ended;
        ended = c->rest.next;
        c->unblock();
    }
    return n;
}

}  // namespace lithe_tbb
