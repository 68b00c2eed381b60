// rest_clock.cpp: RestClock (see rest_clock.hpp).
//
// add() runs in hart context (TbbScheduler::hart_enter), end_all() in a TBB
// master's or worker's context or a foreign thread (Server::adjust), run()
// on the clock's own thread. The futex calls are raw system calls: a
// FUTEX_WAKE never blocks, so add() may make it in hart context.
#include "rest_clock.hpp"

#include "tbb_scheduler.hpp"

#include <parlib/helper_thread.h>
#include <parlib/vcore.h>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace lithe_tbb {

namespace {
// Rests due within this much of the earliest end with it: one wake of the
// clock for rests that end close together (workers that began resting
// together), at the cost of ending some a little early.
constexpr uint64_t kCoalesceUs = 20;
}  // namespace

void RestClock::start() {
    int rc = parlib_helper_thread_start(
        "lithe-tbb-rest", 64 << 10,
        [](void *self) -> void * { static_cast<RestClock *>(self)->run(); },
        this);
    if (rc != 0) {
        std::fprintf(stderr, "lithe_tbb: cannot start the rest clock thread: %s\n",
                     std::strerror(rc));
        std::abort();
    }
}

void RestClock::add(TbbContext &c) {
    lock_.lock();
    c.rest_next = resting_;
    resting_ = &c;
    bool kick = c.rest_until_us < sleeping_until_;
    if (kick) {
        sleeping_until_ = c.rest_until_us;
        seq_.fetch_add(1, std::memory_order_relaxed);
    }
    lock_.unlock();
    if (kick)
        syscall(SYS_futex, &seq_, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

unsigned RestClock::end_all() {
    lock_.lock();
    TbbContext *list = resting_;
    resting_ = nullptr;
    lock_.unlock();
    unsigned n = 0;
    for (TbbContext *c = list; c; c = c->rest_next) ++n;
    unblock_list(list);
    return n;
}

// Each context was removed from resting_ by the caller, which owns its
// unblock. Reads the link before the unblock: once unblocked, the context
// may run, rest again and relink itself.
void RestClock::unblock_list(TbbContext *list) {
    while (list) {
        TbbContext *c = list;
        list = c->rest_next;
        c->unblock();
    }
}

void RestClock::run() {
    for (;;) {
        lock_.lock();
        uint32_t seen = seq_.load(std::memory_order_relaxed);
        uint64_t now = parlib_now_us();
        TbbContext *due = nullptr;
        uint64_t next = kNever;
        for (TbbContext **p = &resting_; *p;) {
            TbbContext *c = *p;
            if (c->rest_until_us <= now + kCoalesceUs) {
                *p = c->rest_next;
                c->rest_next = due;
                due = c;
            } else {
                if (c->rest_until_us < next) next = c->rest_until_us;
                p = &c->rest_next;
            }
        }
        sleeping_until_ = next;
        lock_.unlock();
        unblock_list(due);
        if (due) continue;  // time passed while unblocking: look again
        struct timespec ts, *timeout = nullptr;
        if (next != kNever) {
            uint64_t us = next - now;
            ts.tv_sec = static_cast<time_t>(us / 1000000);
            ts.tv_nsec = static_cast<long>(us % 1000000) * 1000;
            timeout = &ts;
        }
        syscall(SYS_futex, &seq_, FUTEX_WAIT_PRIVATE, seen, timeout, nullptr, 0);
    }
}

}  // namespace lithe_tbb
