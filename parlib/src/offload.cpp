// offload.cpp: uth_offload (parlib/offload.h): a blocking call runs on a
// helper kernel thread while the calling uthread blocks in user space.
//
// Helpers: kernel threads started on demand by the calling uthread (not in
// vcore context: pthread_create takes glibc locks a paused uthread may
// hold), one per call in progress. An idle helper parks on its own futex
// word in the idle list; at most PARLIB_OFFLOAD_IDLE (default 4) park, the
// others exit when their call returns. g_idle_lock (a spinlock: taken by
// uthreads inside libparlib's text, which notifications never pause, and
// by helpers for a few instructions) guards the idle list and its count.
//
// One call, by a uthread u that blocks on vcore V:
//   u        fills a Job (on u's stack), hands it to a helper (idle or new),
//            then uthread_yield(offload_block)
//   block cb (vcore context on V) records u and V, then marks the Job
//            blocked; if the helper finished first, u runs again at once
//            (run_uthread: the scheduler hears nothing), else u is
//            reported blocked
//   helper   runs fn, stores its result and errno, marks the Job done; if
//            u had blocked, sends EV_OFFLOAD to V (wake-only: a stand-in
//            vcore runs it if V's uthread sleeps in the kernel, alarm.cpp)
//   V        the EV_OFFLOAD handler makes u runnable
// Job::state orders "blocked" against "done": whichever comes second
// resumes u, so u is always reported blocked before it is made runnable
// (V handles its events only after the block callback returned, as for
// I/O: io.cpp). The helper touches the Job only up to its send_event: u
// may then resume, and the Job goes with u's stack frame.
#include "parlib/offload.h"

#include <parlib/env.h>
#include <parlib/event.h>
#include <parlib/helper_thread.h>
#include <parlib/uthread.h>
#include <parlib/vcore.h>

#include <atomic>
#include <cerrno>

#include "check.hpp"
#include "futex.hpp"
#include "spin.hpp"
#include "vcore_internal.hpp"

namespace parlib {
namespace {

enum : uint32_t { kRunning, kBlocked, kDone };

struct Job {
    long (*fn)(void *);
    void *arg;
    long rc = 0;
    int err = 0;
    uthread *u = nullptr;   // set by the block callback
    int vcoreid = -1;       // ditto: where the completion goes
    std::atomic<uint32_t> state{kRunning};
    event_msg ev{};
};

struct Helper {
    std::atomic<uint32_t> word{0};  // 1: `job` is set (futex)
    Job *job = nullptr;
    Helper *next = nullptr;  // in the idle list
};

SpinLock g_idle_lock;
Helper *g_idle = nullptr;
uint32_t g_nidle = 0;
std::atomic<uint64_t> g_offloaded{0}, g_started{0};
std::atomic<bool> g_handler_registered{false};

uint32_t max_idle() {
    static const uint32_t n =
        static_cast<uint32_t>(parlib_env_u64("PARLIB_OFFLOAD_IDLE", 4, 0, 1024));
    return n;
}

void offload_event_handler(event_msg *msg, unsigned, void *) {
    uthread_runnable(static_cast<Job *>(msg->arg)->u);
}

// The helper's side of one call (see the top).
void complete(Job *j) {
    if (j->state.exchange(kDone, std::memory_order_acq_rel) != kBlocked)
        return;  // the block callback has not run yet: it resumes u
    int to = j->vcoreid;
    send_event(&j->ev, EV_OFFLOAD, to, EVENT_WAKEUP);  // last touch of *j
    watch_for_stand_in(to);
}

void *helper_main(void *p) {
    auto *h = static_cast<Helper *>(p);
    for (;;) {
        Job *j = h->job;
        errno = 0;
        j->rc = j->fn(j->arg);
        j->err = errno;
        complete(j);
        g_idle_lock.lock();
        if (g_nidle >= max_idle()) {
            g_idle_lock.unlock();
            delete h;
            return nullptr;
        }
        h->job = nullptr;
        h->word.store(0, std::memory_order_relaxed);
        h->next = g_idle;
        g_idle = h;
        ++g_nidle;
        g_idle_lock.unlock();
        while (h->word.load(std::memory_order_acquire) == 0)
            kfutex_wait(&h->word, 0);
    }
}

// Hands `j` to an idle helper, else to a new one; false if none could be
// started.
bool dispatch(Job *j) {
    g_idle_lock.lock();
    Helper *h = g_idle;
    if (h) {
        g_idle = h->next;
        --g_nidle;
    }
    g_idle_lock.unlock();
    if (h) {
        h->job = j;
        h->word.store(1, std::memory_order_release);
        kfutex_wake(&h->word, 1);
        return true;
    }
    h = new Helper;
    h->job = j;
    h->word.store(1, std::memory_order_relaxed);
    if (parlib_helper_thread_start("parlib-offload", 256 << 10, helper_main,
                                   h) != 0) {
        delete h;
        return false;
    }
    g_started.fetch_add(1, std::memory_order_relaxed);
    return true;
}

// uthread_yield callback: vcore context on V, u saved.
void offload_block(uthread *u, void *arg) {
    auto *j = static_cast<Job *>(arg);
    j->u = u;
    j->vcoreid = vcore_id();
    j->ev.arg = j;
    if (j->state.exchange(kBlocked, std::memory_order_acq_rel) == kDone) {
        // The helper was quicker (and is done with *j): u goes on here. Not
        // uthread_runnable: the scheduler never heard that u blocked, and
        // a lithe scheduler would count a runnable context it never lost
        // (one more hart requested for good).
        j->state.store(kDone, std::memory_order_relaxed);
        run_uthread(u);
    }
    uthread_has_blocked(u, UTH_BLK_MISC);
}

}  // namespace
}  // namespace parlib

using namespace parlib;

extern "C" {

long uth_offload(long (*fn)(void *), void *arg) {
    if (!uthread_self() || in_vcore_context() || vcore_forked_child())
        return fn(arg);
    if (!g_handler_registered.load(std::memory_order_acquire)) {
        register_ev_handler(EV_OFFLOAD, offload_event_handler, nullptr);
        g_handler_registered.store(true, std::memory_order_release);
    }
    Job j;
    j.fn = fn;
    j.arg = arg;
    if (!dispatch(&j)) return fn(arg);  // no thread to spare: block here
    g_offloaded.fetch_add(1, std::memory_order_relaxed);
    uthread_yield(true, offload_block, &j);
    PARLIB_CHECK(j.state.load(std::memory_order_acquire) == kDone,
                 "uth_offload: resumed before the call returned");
    if (j.err) errno = j.err;  // a call that left errno alone leaves ours
    return j.rc;
}

void uth_offload_stats(struct uth_offload_stats *out) {
    out->offloaded = g_offloaded.load(std::memory_order_relaxed);
    out->helpers_started = g_started.load(std::memory_order_relaxed);
    g_idle_lock.lock();
    out->helpers_idle = g_nidle;
    g_idle_lock.unlock();
}

}  // extern "C"
