// fifo_sched.hpp: the smallest useful parlib 2LS, for parlib's tests and
// benchmarks: one global FIFO run queue under a spinlock, a vcore request per
// runnable uthread, join by polling with yields.
//
// Thread-safety: the queue lock is a parlib spinlock-like flag taken in
// uthread context and vcore context alike; it is never held across a switch.
#pragma once

#include <parlib/uthread.h>
#include <parlib/vcore.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>

namespace fifo {

struct Thread {
    uthread u;  // first member: parlib hands us uthread*
    std::function<void()> fn;
    std::atomic<bool> done{false};
};

inline std::atomic<bool> g_lock{false};
inline std::deque<uthread *> *g_queue = nullptr;
inline std::atomic<long> g_exited{0};

inline void lock() {
    while (g_lock.exchange(true, std::memory_order_acquire))
        while (g_lock.load(std::memory_order_relaxed)) __builtin_ia32_pause();
}
inline void unlock() { g_lock.store(false, std::memory_order_release); }

inline void enqueue(uthread *u) {
    lock();
    g_queue->push_back(u);
    unlock();
    vcore_request(1);
}

// Called in vcore context just before a uthread is run, after the vcore's
// last handle_events (tests of what lands in that window).
inline void (*g_before_run)(uthread *) = nullptr;

inline void sched_entry() {
    for (;;) {
        lock();
        uthread *u = nullptr;
        if (!g_queue->empty()) {
            u = g_queue->front();
            g_queue->pop_front();
        }
        unlock();
        if (u && g_before_run) g_before_run(u);
        if (u) run_uthread(u);
        vcore_yield();  // spins, then parks; re-enters here on demand
    }
}

inline void thread_exited(uthread *u) {
    auto *t = reinterpret_cast<Thread *>(u);
    g_exited.fetch_add(1, std::memory_order_relaxed);
    t->done.store(true, std::memory_order_release);
}

inline const schedule_ops g_ops = {
    sched_entry,
    enqueue,                                // thread_runnable
    enqueue,                                // thread_paused
    nullptr,                                // thread_has_blocked
    nullptr,                                // thread_blockon_io
    thread_exited,
};

inline uthread g_main;

// Turns main() into a uthread under this scheduler (idempotent).
inline void init() {
    static bool done = false;
    if (done) return;
    done = true;
    g_queue = new std::deque<uthread *>;
    int rc = uthread_lib_init(&g_main, &g_ops);
    if (rc) {
        fprintf(stderr, "uthread_lib_init failed: %d\n", rc);
        abort();
    }
}

inline void yield() {
    uthread_yield(true, [](uthread *u, void *) { enqueue(u); }, nullptr);
}

inline void trampoline(void *p) { static_cast<Thread *>(p)->fn(); }

// Creates and starts a uthread running fn.
inline Thread *spawn(std::function<void()> fn, bool own_tls = true,
                     size_t stack = 0) {
    auto *t = new Thread;
    t->fn = std::move(fn);
    uthread_attr a{stack, own_tls};
    int rc = uthread_init(&t->u, trampoline, t, &a);
    if (rc) {
        fprintf(stderr, "uthread_init failed: %d\n", rc);
        abort();
    }
    uthread_runnable(&t->u);
    return t;
}

// Waits (yielding) until t exits, then frees it.
inline void join(Thread *t) {
    while (!t->done.load(std::memory_order_acquire)) yield();
    uthread_cleanup(&t->u);
    delete t;
}

}  // namespace fifo
