// rotate_sched.hpp: a test 2LS that migrates on every yield. Each vcore has
// its own run queue; a yielding (or paused) uthread is queued on the *next*
// vcore, so with more than one vcore every yield is a migration, however
// the kernel schedules the vcores' threads (unlike fifo_sched.hpp, whose
// shared queue mostly keeps a uthread where it was when the machine is
// loaded). Same API shape as fifo_sched.hpp.
//
// Wake-ups: pushing to a queue sends that vcore an EVENT_WAKEUP event,
// unless one is already pending (its handler clears `wake_pending` before
// the vcore next looks at its queue). All atomics are seq_cst, so a push
// that finds a wake pending is seen by the pop that follows that wake.
// The queue locks are spinlocks taken in uthreads and vcore context alike,
// never held across a switch.
#pragma once

#include <parlib/event.h>
#include <parlib/uthread.h>
#include <parlib/vcore.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>

namespace rotate {

constexpr unsigned kWakeEvent = EV_USER + 30;

struct Thread {
    uthread u;  // first member: parlib hands us uthread*
    std::function<void()> fn;
    std::atomic<bool> done{false};
};

struct alignas(64) Queue {
    std::atomic<bool> lock{false};
    std::deque<uthread *> q;
    event_msg wake{};
    std::atomic<bool> wake_pending{false};
};

inline Queue *g_queues = nullptr;
inline std::atomic<unsigned> g_next_spawn{0};

inline void push(int vc, uthread *u) {
    Queue &q = g_queues[vc];
    while (q.lock.exchange(true))
        while (q.lock.load()) __builtin_ia32_pause();
    q.q.push_back(u);
    q.lock.store(false);
    if (!q.wake_pending.exchange(true))
        send_event(&q.wake, kWakeEvent, vc, EVENT_WAKEUP);
}

inline uthread *pop(int vc) {
    Queue &q = g_queues[vc];
    while (q.lock.exchange(true))
        while (q.lock.load()) __builtin_ia32_pause();
    uthread *u = nullptr;
    if (!q.q.empty()) {
        u = q.q.front();
        q.q.pop_front();
    }
    q.lock.store(false);
    return u;
}

inline int next_vcore() { return (vcore_id() + 1) % max_vcores(); }

inline void sched_entry() {
    if (uthread *u = pop(vcore_id())) run_uthread(u);
    vcore_yield();  // spins, then parks; re-enters the entry on a wake
}

inline void runnable(uthread *u) {
    push(static_cast<int>(g_next_spawn.fetch_add(1) % max_vcores()), u);
}

inline void paused(uthread *u) { push(next_vcore(), u); }

inline void exited(uthread *u) {
    reinterpret_cast<Thread *>(u)->done.store(true);
}

inline const schedule_ops g_ops = {
    sched_entry, runnable, paused, nullptr, nullptr, exited,
};

inline uthread g_main;

// Turns main() into a uthread under this scheduler (idempotent).
inline void init() {
    static bool done = false;
    if (done) return;
    done = true;
    vcore_lib_init();
    g_queues = new Queue[max_vcores()];
    for (int i = 0; i < max_vcores(); ++i) g_queues[i].wake.arg = &g_queues[i];
    register_ev_handler(
        kWakeEvent,
        [](event_msg *m, unsigned, void *) {
            static_cast<Queue *>(m->arg)->wake_pending.store(false);
        },
        nullptr);
    int rc = uthread_lib_init(&g_main, &g_ops);
    if (rc) {
        fprintf(stderr, "uthread_lib_init failed: %d\n", rc);
        abort();
    }
}

// Yields; the caller resumes on the next vcore.
inline void yield() {
    uthread_yield(true, [](uthread *u, void *) { push(next_vcore(), u); },
                  nullptr);
}

inline void trampoline(void *p) { static_cast<Thread *>(p)->fn(); }

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
    while (!t->done.load()) yield();
    uthread_cleanup(&t->u);
    delete t;
}

}  // namespace rotate
