// team.cpp: teams and hot teams. A team member is a lithe context with its
// own TLS (threadprivate data is native TLS, so a member keeps its TLS for
// life). Each master context keeps, per nesting level, a pool of Workers
// that survives across regions (a "hot team"):
//
//   region start: the pooled Worker of each member number (docked:
//     blocked, owned by the base scheduler) is reassociated to the
//     region's scheduler and unblocked; missing Workers are created there.
//     Each runs team->body as member `tid`.
//   region end: the Worker blocks ("docks") and, in the block callback
//     (hart context, after it is saved), counts itself off the team; the
//     last one unblocks the master, which reassociates the docked Workers
//     back to the base scheduler so that the region's scheduler can exit.
//
// A Worker therefore keeps its stack and TLS across regions and never
// exits: docking (block, later unblock) rather than exiting and
// lithe_context_recycle keeps the same TLS either way, but costs no
// restart and never hands the fork-join scheduler's exit callback a
// context it did not create. Workers beyond a later, smaller team stay
// docked until that size is needed again. The pool is the master's TLS
// (`tls_pools`); only the master touches it, between regions, so it needs
// no lock. `Team::join_lock` orders the docking count against the
// master's decision to block.
//
// Busy-waiting members (wait_policy.cpp): a region's scheduler is
// registered for time slicing while the team runs; members are preemptible
// while they run the body (a worker for life, the master only during its
// body and the join). The rest of team_start/team_join runs with notifications
// disabled (region_fork disables them): it calls lithe and the fork-join
// scheduler, which take plain spinlocks from this context. `g_workers`
// counts the workers of live teams, for OMP_DYNAMIC's team sizes.
#include <parlib/uthread.h>

#include <algorithm>

#include "internal.hpp"

namespace lomp {
namespace {

struct Worker {
    lithe_context_t ctx;  // first: the block callback gets this pointer
    Member member;
    Team *team = nullptr;
};

// tls_pools[pool] = Workers this context keeps for regions it masters at
// that nesting depth (Team::pool: the level, plus, inside a target region's
// fallback, the level the target region was encountered at).
thread_local std::vector<std::vector<Worker *>> tls_pools;
std::atomic<int> g_workers{0};
std::atomic<int> g_created{0};  // Workers ever made

void dock_cb(lithe_context_t *, void *arg) {
    Team *t = static_cast<Team *>(arg);
    lithe_context_t *wake = nullptr;
    t->join_lock.lock();
    if (t->running.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        wake = t->joiner;
        t->joiner = nullptr;
    }
    t->join_lock.unlock();  // last access to *t: the master may now return
    if (wake) lithe_context_unblock(wake);
}

void worker_main(void *arg) {
    Worker *w = static_cast<Worker *>(arg);
    set_preemptible(true);
    for (;;) {
        Team *t = w->team;
        set_self(&w->member);
        display_affinity_hook();
        t->body(t->data);
        task_member_end(t);
        lithe_context_block(dock_cb, t);
    }
}

void join_cb(lithe_context_t *self, void *arg) {
    Team *t = static_cast<Team *>(arg);
    bool done;
    t->join_lock.lock();
    done = t->running.load(std::memory_order_acquire) == 0;
    if (!done) t->joiner = self;
    t->join_lock.unlock();
    if (done) lithe_context_unblock(self);
}

void init_member(Member *m, Team *t, int tid, const Member *master) {
    *m = Member{};
    m->team = t;
    m->tid = tid;
    m->level = t->level;
    m->pool_base = master->pool_base;
    m->active_level = t->active_level;
    m->icv = master->icv;
    m->icv.nthreads = inherited_nthreads(master->icv, t->level + 1);
}

}  // namespace

bool team_start(Team *t, Member *mm) {
    lithe_sched_t *here = lithe_sched_current();
    if (tls_pools.size() <= static_cast<size_t>(t->pool))
        tls_pools.resize(t->pool + 1);
    // Not a reference kept across t->body: member 0 may open nested regions
    // there, growing tls_pools.
    std::vector<Worker *> *pool = &tls_pools[t->pool];
    t->running.store(t->n - 1, std::memory_order_relaxed);
    // pool[tid-1] serves member `tid` in every region, so a member's
    // threadprivate (TLS) data persists across regions, as with libomp's
    // hot teams. Workers beyond this team's size stay docked.
    for (int tid = 1; tid < t->n; ++tid) {
        bool fresh = pool->size() < static_cast<size_t>(tid);
        if (fresh) {
            Worker *w = new Worker{};
            struct lithe_context_attr a = {member_stack_size(), true};
            g_created.fetch_add(1, std::memory_order_relaxed);
            if (lithe_context_init_attr(&w->ctx, worker_main, w, &a) !=
                LITHE_OK)
                fatal("cannot create a team member context");
            pool->push_back(w);
        }
        Worker *w = (*pool)[tid - 1];
        if (!fresh) lithe_context_reassociate(&w->ctx, here);
        init_member(&w->member, t, tid, mm);
        w->team = t;
        if (fresh)
            lithe_fj_enqueue(reinterpret_cast<lithe_fj_sched_t *>(here),
                             &w->ctx);
        else
            lithe_context_unblock(&w->ctx);
    }
    g_workers.fetch_add(t->n - 1, std::memory_order_relaxed);
    slicer_add(here);
    bool was_preemptible = set_preemptible(true);
    uth_enable_notifs();
    return was_preemptible;
}

void team_join(Team *t, bool was_preemptible) {
    lithe_sched_t *here = lithe_sched_current();
    // Members of short regions dock quickly: spin first. Seeing running == 0
    // without the lock, the last docker may still be inside join_lock; the
    // lock/unlock pair waits for it to leave before *t goes away.
    if (spin_until([&] { return t->running.load(std::memory_order_acquire) == 0; })) {
        t->join_lock.lock();
        t->join_lock.unlock();
    } else {
        lithe_context_block(join_cb, t);
    }
    uth_disable_notifs();
    set_preemptible(was_preemptible);
    slicer_remove(here);
    g_workers.fetch_sub(t->n - 1, std::memory_order_relaxed);
    std::vector<Worker *> *pool = &tls_pools[t->pool];
    for (int tid = 1; tid < t->n; ++tid)
        lithe_context_reassociate(&(*pool)[tid - 1]->ctx, lithe_sched_base());
}

int members_created() { return g_created.load(std::memory_order_relaxed); }

int dynamic_team_limit() {
    int busy = g_workers.load(std::memory_order_relaxed);
    return std::max(1, lithe_num_harts() - busy);
}

}  // namespace lomp
