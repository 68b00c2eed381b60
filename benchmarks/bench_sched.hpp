// bench_sched.hpp: the benchmarks' user-level scheduler (2LS), built so that
// what is measured is parlib's cost plus the least a real 2LS must add.
//
// It differs from tests/support/fifo_sched.hpp on purpose:
//  - an intrusive FIFO (no allocation per enqueue, no std::function);
//  - thread records are caller-owned and reusable (uthread_recycle), so a
//    benchmark loop does not measure malloc;
//  - join blocks the joiner (thread_exited makes it runnable) instead of
//    polling with yields, so a joiner never joins a ping-pong's rotation;
//  - vcore_request only when the enqueuer is not in vcore context. Enqueues
//    made in vcore context (yield callbacks, thread_exited, event handlers)
//    are always followed by that vcore's sched_entry, so no work is
//    stranded; a uthread or foreign thread enqueuing asks for a vcore. The
//    yield callbacks, in vcore context by definition, skip the check.
//    g_request_every_enqueue = true restores fifo_sched's policy (a request
//    per enqueue) so that its cost can be measured.
//
// Hooks for bench_wake (set before the vcores can run them, read in vcore
// context): g_entry_hook at the top of sched_entry, g_idle_hook just before
// vcore_yield.
//
// Locking: g_lock (test-and-test-and-set) guards the run queue; Thread::lock
// guards done/joiner. Neither is held while the other is taken, nor across a
// switch, nor around a vcore_request.
#pragma once

#include <parlib/uthread.h>
#include <parlib/vcore.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace bsched {

struct Thread {
    uthread u;  // first member: parlib hands us uthread*
    Thread *next = nullptr;
    std::atomic<bool> lock{false};
    bool done = false;         // under lock
    uthread *joiner = nullptr; // under lock
    bool armed = false;        // initialised and not cleaned up (owner only)
};

inline void spin_lock(std::atomic<bool> &l) {
    while (l.exchange(true, std::memory_order_acquire))
        while (l.load(std::memory_order_relaxed)) __builtin_ia32_pause();
}
inline void spin_unlock(std::atomic<bool> &l) {
    l.store(false, std::memory_order_release);
}

inline std::atomic<bool> g_lock{false};
inline Thread *g_head = nullptr, *g_tail = nullptr;
inline bool g_request_every_enqueue = false;
inline void (*g_entry_hook)() = nullptr;
inline void (*g_idle_hook)() = nullptr;
inline Thread g_main;

// Queues `u` without asking for a vcore: for callers known to be in vcore
// context (a yield callback), which need not ask in_vcore_context().
inline void push(uthread *u) {
    auto *t = reinterpret_cast<Thread *>(u);
    t->next = nullptr;
    spin_lock(g_lock);
    if (g_tail) g_tail->next = t;
    else g_head = t;
    g_tail = t;
    spin_unlock(g_lock);
    if (g_request_every_enqueue) vcore_request(1);
}

inline void enqueue(uthread *u) {
    push(u);
    if (!g_request_every_enqueue && !in_vcore_context()) vcore_request(1);
}

inline Thread *pop() {
    spin_lock(g_lock);
    Thread *t = g_head;
    if (t) {
        g_head = t->next;
        if (!g_head) g_tail = nullptr;
    }
    spin_unlock(g_lock);
    return t;
}

inline void sched_entry() {
    if (g_entry_hook) g_entry_hook();
    if (Thread *t = pop()) run_uthread(&t->u);
    if (g_idle_hook) g_idle_hook();
    vcore_yield();
}

inline void thread_exited(uthread *u) {
    auto *t = reinterpret_cast<Thread *>(u);
    spin_lock(t->lock);
    t->done = true;
    uthread *j = t->joiner;
    t->joiner = nullptr;
    spin_unlock(t->lock);
    if (j) enqueue(j);
}

inline const schedule_ops g_ops = {
    sched_entry,
    enqueue,  // thread_runnable
    enqueue,  // thread_paused
    nullptr,  // thread_has_blocked
    nullptr,  // thread_blockon_io
    thread_exited,
};

[[noreturn]] inline void die(const char *what, int rc) {
    fprintf(stderr, "bench_sched: %s failed: %d\n", what, rc);
    abort();
}

// Turns main() into a uthread under this scheduler.
inline void init() {
    if (int rc = uthread_lib_init(&g_main.u, &g_ops)) die("uthread_lib_init", rc);
}

// Makes `t` ready to run fn(arg) without queueing it: uthread_init the first
// time (own TLS from the warm pool, or a lightweight stack), uthread_recycle
// (keeping stack and TLS) when `t` has run before and was not cleaned up.
inline void arm(Thread *t, void (*fn)(void *), void *arg, bool own_tls) {
    t->done = false;
    t->joiner = nullptr;
    if (t->armed) {
        if (int rc = uthread_recycle(&t->u, fn, arg)) die("uthread_recycle", rc);
        return;
    }
    uthread_attr a{0, own_tls};
    if (int rc = uthread_init(&t->u, fn, arg, &a)) die("uthread_init", rc);
    t->armed = true;
}

inline void cleanup(Thread *t) {
    uthread_cleanup(&t->u);
    t->armed = false;
}

// The callback runs in vcore context (sched_entry follows): push, no
// request.
inline void yield() {
    uthread_yield(true, [](uthread *u, void *) { push(u); }, nullptr);
}

// The same through a direct hand-off: the caller takes the next uthread
// from the run queue itself and switches straight to it with
// uthread_yield_to (queueing itself in the callback, on the target's
// stack); an empty queue falls back to yield().
inline void yield_direct() {
    Thread *next = pop();
    if (!next) return yield();
    uthread_yield_to(&next->u, true, [](uthread *u, void *) { push(u); },
                     nullptr);
}

// Blocks the calling uthread until `t` has exited.
inline void join(Thread *t) {
    spin_lock(t->lock);
    bool done = t->done;
    spin_unlock(t->lock);
    if (done) return;
    uthread_yield(
        true,
        [](uthread *self, void *p) {
            auto *t = static_cast<Thread *>(p);
            spin_lock(t->lock);
            bool d = t->done;
            if (!d) t->joiner = self;
            spin_unlock(t->lock);
            if (d) enqueue(self);
        },
        t);
}

}  // namespace bsched
