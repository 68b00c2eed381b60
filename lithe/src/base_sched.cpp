// base_sched.cpp: the root of every scheduler tree.
//
// It owns the application's main context (main() runs in it from process
// start: a library constructor turns the main thread into a lithe context
// before main), runs any context associated with it (FIFO), takes harts from
// the vcore layer, grants them to its entered children while they want more
// than they hold, and otherwise gives the hart back to the system
// (vcore_yield: spin for PARLIB_SPIN_US, then park).
//
// A child's request count (sum of its deltas, its descendants' forwarded)
// is the number of harts its subtree wants besides the one it entered on
// (docs/lithe.md, "Accounting"), so the base grants while
// child->subtree_harts <= requested (its descendants' harts count: a
// context entering a grandchild takes its hart along); an idle child whose
// main context is blocked has requested == -1 and gets nothing. The base
// keeps its own sum by the same rule as every other scheduler (children's
// deltas forwarded into it, +1 when one of its contexts becomes runnable,
// -1 when one blocks or exits, the main context being its entry context),
// so that a child can tell whether the rest of the tree wants harts
// (fork-join's turn for the parent); at the root, lithe_hart_request also
// asks the system for vcores when the delta is positive.
//
// A context that yielded (a spin-wait, e.g. a TBB master's sched_yield)
// goes to `yielded`, not the run queue: before it runs again, the children
// get one pass at the hart (its `passed` flag records that), so a context
// waiting for a child's work cannot keep the hart from that child, and a
// child cannot starve it either (it runs at the next pass).
// `lock` protects the queues and the children list; it is released by the
// grant's unlock callback, after the hart has been transferred. Every vcore
// takes it on each hart transfer, so a waiter in hart context yields the
// kernel thread after a short spin (spin_acquire): without that, at 4
// vcores on 2 CPUs, waiters for a descheduled holder spent 7-24% of the
// process's CPU here in benchmarks/bench_compose (c) (docs/perf.md).
#include <sys/syscall.h>
#include <unistd.h>

#include <deque>
#include <vector>

#include <parlib/uthread.h>

#include "internal.hpp"

namespace lithe {

extern const schedule_ops g_lithe_ops;
lithe_sched_t *g_base = nullptr;

namespace {

struct Base {
    lithe_sched_t sched;  // first: lithe hands us lithe_sched_t*
    lithe_context_t main_ctx;
    uint32_t lock = 0;
    std::deque<lithe_context_t *> runq;
    struct Yielded {
        lithe_context_t *ctx;
        bool passed;  // the children had their pass since it yielded
    };
    std::deque<Yielded> yielded;
    std::vector<lithe_sched_t *> children;
    size_t rr = 0;  // round-robin position among children
};

Base *g_b = nullptr;

void lock() { spin_acquire(&g_b->lock); }
void unlock() { __atomic_store_n(&g_b->lock, 0, __ATOMIC_RELEASE); }
void unlock_cb(void *) { unlock(); }

void enqueue(lithe_context_t *c) {
    lock();
    g_b->runq.push_back(c);
    unlock();
}

// What lithe_hart_request does at the root (count, ask the system for
// positive deltas), inline: every request of a child of the base passes
// here.
void hart_request(lithe_sched_t *self, lithe_sched_t *, int delta) {
    __atomic_fetch_add(&self->requested, delta, __ATOMIC_RELAXED);
    if (delta > 0) vcore_request(delta);
}

void child_enter(lithe_sched_t *, lithe_sched_t *child) {
    lock();
    g_b->children.push_back(child);
    unlock();
}

void child_exit(lithe_sched_t *, lithe_sched_t *child) {
    lock();
    auto &v = g_b->children;
    for (size_t i = 0; i < v.size(); ++i)
        if (v[i] == child) {
            v.erase(v.begin() + static_cast<long>(i));
            break;
        }
    unlock();
    // Withdraw what the child still asked for (forwarded into our sum).
    int64_t left = __atomic_load_n(&child->requested, __ATOMIC_RELAXED);
    if (left != 0) lithe_hart_request(static_cast<int>(-left));
}

void hart_return(lithe_sched_t *, lithe_sched_t *) {}

// Lock held; runs the oldest yielded context (never returns).
[[noreturn]] void run_yielded() {
    lithe_context_t *c = g_b->yielded.front().ctx;
    g_b->yielded.pop_front();
    unlock();
    lithe_context_run(c);
    __builtin_unreachable();
}

void hart_enter(lithe_sched_t *) {
    lock();
    if (!g_b->runq.empty()) {
        lithe_context_t *c = g_b->runq.front();
        g_b->runq.pop_front();
        unlock();
        lithe_context_run(c);
    }
    if (!g_b->yielded.empty()) {
        if (g_b->yielded.front().passed) run_yielded();
        g_b->yielded.front().passed = true;
    }
    auto &v = g_b->children;
    for (size_t k = 0; k < v.size(); ++k) {
        lithe_sched_t *child = v[(g_b->rr + k) % v.size()];
        int held = __atomic_load_n(&child->subtree_harts, __ATOMIC_RELAXED);
        int64_t want = __atomic_load_n(&child->requested, __ATOMIC_RELAXED);
        if (held <= want) {
            g_b->rr = (g_b->rr + k + 1) % v.size();
            lithe_hart_grant(child, unlock_cb, nullptr);
            // Returned: the child is exiting; the lock is still ours.
        }
    }
    if (!g_b->yielded.empty()) run_yielded();
    unlock();
    lithe_hart_yield();
}

void sched_enter(lithe_sched_t *) {}
void sched_exit(lithe_sched_t *) {}
void context_block(lithe_sched_t *, lithe_context_t *) {
    lithe_hart_request(-1);
}

void context_unblock(lithe_sched_t *, lithe_context_t *c) {
    // Queue first: the vcore this asks the system for must find it (the
    // base is immortal, so nothing can go away between the two).
    enqueue(c);
    lithe_hart_request(1);
}

void context_yield(lithe_sched_t *, lithe_context_t *c) {
    lock();
    g_b->yielded.push_back({c, false});
    unlock();
}
void context_exit(lithe_sched_t *, lithe_context_t *) {
    lithe_hart_request(-1);
}

const lithe_sched_funcs g_base_funcs = {
    hart_request, child_enter, child_exit, hart_return, hart_enter,
    sched_enter, sched_exit, context_block, context_unblock, context_yield,
    context_exit,
};

// Runs before main(): from here on main() is the base's main context.
__attribute__((constructor)) void lithe_init() {
    if (vcore_lib_init() != 0) fatal("lithe: vcore_lib_init failed");
    g_nharts = max_vcores();
    g_harts = new Hart[g_nharts];
    g_b = new Base;  // immortal
    g_base = &g_b->sched;
    lithe_sched_init(g_base, &g_base_funcs, &g_b->main_ctx);
    g_base->state = kEntered;
    // main's first run is delivered as an unblock (+1); it is the base's
    // entry context, counted 0 while it runs.
    g_base->requested = -1;
    lithe_context_t *m = &g_b->main_ctx;
    m->id = 0;
    m->uth.owner = m;  // thread_runnable(main) needs the label at once
    int rc = uthread_lib_init(&m->uth, &g_lithe_ops);
    if (rc) fatal("lithe: uthread_lib_init failed (%d)", rc);
}

}  // namespace
}  // namespace lithe
