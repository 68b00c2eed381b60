// team.cpp: teams and hot teams. A team member is a lithe context with its
// own TLS (threadprivate data is native TLS, so a member keeps its TLS for
// life). Each master context keeps, per nesting level, a pool of Workers
// that survives across regions (a "hot team"):
//
//   region start: the pooled Worker of each member number (docked:
//     blocked, owned by the base scheduler) is reassociated to the
//     region's scheduler; missing Workers are created there. They are
//     published as the team's unstarted members (Team::start_*), counted
//     runnable with one hart request, and started by claiming: a hart
//     entering the region (region.cpp's hart_enter) claims the next one
//     and runs it, and so does the master once it reaches the join with
//     members still unstarted (it blocks and its hart runs the member: a
//     member no hart has picked up by then would start later on another
//     hart than right here). Each runs team->body as member `tid`.
//   region end: the Worker blocks ("docks"). In the region scheduler's
//     block callback (hart context, the Worker saved) it reassociates
//     itself to the base scheduler and counts itself off the team; the
//     last one hands its hart straight to the master if the master is
//     blocked in the join (no request round trip: the docker's count goes
//     to the master), else gives the hart back to the parent at once, so
//     the master's scheduler exit does not wait for it to look for work.
//   The region scheduler itself is kept too: the master's next region at
//     the same depth re-initialises and re-enters it (team_sched_take)
//     instead of creating one.
//
// A Worker therefore keeps its stack and TLS across regions and exits only
// when a pause retires it (below): docking (block, later restart) rather
// than exiting and lithe_context_recycle keeps the same TLS either way,
// but costs no restart and never hands the fork-join scheduler's exit
// callback a context it did not create. Workers beyond a later, smaller
// team stay docked until that size is needed again. The pool is the
// master's TLS (`tls_pools`); only the master touches it, between
// regions, so it needs no lock. `Team::join_lock` orders the docking
// count against the master's decision to block; a docker touches the
// Team only up to its last join_lock section (the master takes the lock
// once more before the Team goes away).
//
// Request accounting (fork-join's rule, docs/writing-a-scheduler.md): +1
// per member published, -1 when a context blocks (the master in the join,
// a member docking), except for the last docker handing its hart to the
// blocked master (its -1 and the master's +1 cancel).
//
// Pausing (team_release_pools, for omp_pause_resource): the caller's pools
// are emptied. Each docked Worker is moved to a scheduler made for the
// purpose and woken with a Team whose body is null; it releases its own
// pools (the Workers of the regions it mastered, one level deeper), then
// returns, and its exit is counted off that Team (count_off, the
// fork-join way: no claiming or hand-off there). Once all have exited,
// the caller cleans them up, which frees their stacks and TLS (their
// backing threads exit), and the next region creates fresh Workers with
// fresh threadprivate data.
//
// Short regions: a region asks for harts only if its call site has not
// been short lately. The master times its own body (team_start's end to
// team_join) and the whole region (to the join's end); a region is short
// if both its master's body and its time per member took less than
// LITHE_OMP_SHORT_NS, 1 µs by default (the second catches a master with
// little work and members with much). A call site (the outlined function) whose last kShortRunsToSkip
// regions were short starts its next region without any request: its
// members are published unstarted and counted in Team::unrequested, and
// the master runs them at the join (team_join's claim) on its own hart.
// A second hart cannot help such a region: its way in (request, grant,
// hart_enter: 0.4-1.2 µs on the VMs measured, docs/perf.md) is longer
// than the body, so it came after the master had claimed the member, and
// then only slowed the master down (its lines, the region's exit waiting
// for it to leave). One region at the site that is not short makes the
// next one ask again; a region that runs long while skipped gets its
// request from the slicer's probe (wait_policy.cpp: an unrequested member
// counts as starved demand, and the tick or kick turns it into a
// request), so busy-waiting members still meet. With slicing off
// (LITHE_OMP_SLICE_US=0) there is no probe, so every region asks.
// Accounting: requested + unrequested = runnable contexts - 1; a block
// takes an unrequested count before it requests -1 (team_count_block),
// and the hart it frees then claims an unstarted member, so a skipped
// region never sends a request to its parent at all. The hints are the
// master's TLS (`tls_hints`, per pool, like tls_pools).
//
// Busy-waiting members (wait_policy.cpp): a region's scheduler is
// registered for time slicing while the team runs; members are preemptible
// while they run the body (a worker for life, the master only during its
// body and the join). The rest of team_start/team_join runs with notifications
// disabled (region_fork disables them): it calls lithe and the fork-join
// scheduler, which take plain spinlocks from this context. `g_workers`
// counts the workers of live teams, for OMP_DYNAMIC's team sizes.
#include <parlib/env.h>
#include <parlib/ticks.h>
#include <parlib/uthread.h>

#include <algorithm>

#include "internal.hpp"

namespace lomp {
namespace {

struct Worker {
    lithe_context_t ctx;  // first: the block callbacks get this pointer
    Member member;
    Team *team = nullptr;
    // Docking (team_block sets handoff/leave for dock_cb): only the
    // Worker's own context and the hart it blocks on touch these.
    bool docking = false;  // set by the worker just before it docks
    lithe_context_t *handoff = nullptr;  // the master, for dock_cb to run
    bool leave = false;    // the last member, master not blocked
};

// tls_pools[pool] = Workers this context keeps for regions it masters at
// that nesting depth (Team::pool: the level, plus, inside a target region's
// fallback, the level the target region was encountered at).
thread_local std::vector<std::vector<Worker *>> tls_pools;
// tls_scheds.at[pool] = the region scheduler of this context's last region
// at that depth, exited, kept for its next region there (team_sched_take).
// Given back to fork-join's free list when the TLS goes away (the context's
// backing thread exits), so that it is never lost.
struct KeptScheds {
    std::vector<lithe_fj_sched_t *> at;
    void release() {
        for (lithe_fj_sched_t *&s : at)
            if (s) {
                lithe_fj_sched_destroy(s);
                s = nullptr;
            }
    }
    ~KeptScheds() { release(); }
};
thread_local KeptScheds tls_scheds;
// Short-region hints (see the top): per pool, kSites call sites
// (direct-mapped by address).
// The short-region bound, LITHE_OMP_SHORT_NS (default 1000; 0: no region
// is short). Sanitizer builds of the tests raise it: there a region's own
// overhead is above 1 µs.
uint64_t short_ns() {
    static const uint64_t ns =
        parlib_env_u64("LITHE_OMP_SHORT_NS", 1000, 0, 1'000'000'000);
    return ns;
}
constexpr uint8_t kShortRunsToSkip = 4;
constexpr int kSites = 8;
struct SiteHint {
    const void *site = nullptr;
    uint8_t short_runs = 0;  // consecutive short regions
};
struct SiteHints {
    SiteHint h[kSites];
};
// unique_ptr: a Team keeps a pointer to its hint across nested regions,
// which may grow the vector.
thread_local std::vector<std::unique_ptr<SiteHints>> tls_hints;

SiteHint *site_hint(int pool, const void *site) {
    if (tls_hints.size() <= static_cast<size_t>(pool))
        tls_hints.resize(pool + 1);
    auto &hints = tls_hints[pool];
    if (!hints) hints = std::make_unique<SiteHints>();
    return &hints->h[(reinterpret_cast<uintptr_t>(site) >> 4) % kSites];
}

// team_join: the master's body ended at `joined`, the region at `now`. A
// master that moved between kernel threads may see a difference wrap
// (parlib/ticks.h): the region then counts as long, which costs no more
// than asking for harts next time.
void record_region(Team *t, uint64_t joined, uint64_t now) {
    auto *h = static_cast<SiteHint *>(t->hint);
    uint64_t limit = short_ns();
    bool is_short =
        parlib_ticks_to_ns(joined - t->body_start) < limit &&
        parlib_ticks_to_ns(now - t->body_start) <
            limit * static_cast<uint64_t>(t->n);  // per member, no division
    if (h->site != t->site) {
        h->site = t->site;
        h->short_runs = 0;
    }
    if (!is_short)
        h->short_runs = 0;
    else if (h->short_runs < UINT8_MAX)
        ++h->short_runs;
}

std::atomic<int> g_workers{0};
std::atomic<int> g_created{0};  // Workers made and not released

// Hart context, after the region scheduler's block callback (team_block):
// run the master if the docker was handed it, else leave the region if
// the team has finished (nothing is left to run here: every member has
// docked and the master runs on its own hart).
void dock_cb(lithe_context_t *self, void *) {
    Worker *w = reinterpret_cast<Worker *>(self);
    if (lithe_context_t *m = w->handoff) {
        w->handoff = nullptr;
        lithe_context_run(m);
    }
    if (w->leave) {
        w->leave = false;
        lithe_hart_yield();
    }
}

void worker_main(void *arg) {
    Worker *w = static_cast<Worker *>(arg);
    set_preemptible(true);
    for (;;) {
        Team *t = w->team;
        if (!t->body) {  // retired by team_release_pools
            team_release_pools();
            return;
        }
        set_self(&w->member);
        display_affinity_hook();
        t->body(t->data);
        task_member_end(t);
        w->docking = true;
        lithe_context_block(dock_cb, nullptr);
    }
}

// The master blocks in the join: register as the joiner unless every
// member has docked.
void join_cb(lithe_context_t *self, void *arg) {
    Team *t = static_cast<Team *>(arg);
    bool done;
    t->join_lock.lock();
    done = t->running.load(std::memory_order_acquire) == 0;
    if (!done) t->joiner = self;
    t->join_lock.unlock();
    if (done) lithe_context_unblock(self);
}

// The master blocks to run an unstarted member on its own hart.
struct ClaimArg {
    Team *t;
    lithe_context_t *member;
};
void claim_cb(lithe_context_t *self, void *arg) {
    auto *a = static_cast<ClaimArg *>(arg);
    Team *t = a->t;
    t->join_lock.lock();
    t->joiner = self;  // running > 0: `member` has not run yet
    t->join_lock.unlock();
    lithe_context_run(a->member);
}

// Hart context: one member of `t` is done (a retired Worker's exit); the
// last one wakes the blocked master.
void count_off(Team *t) {
    lithe_context_t *wake = nullptr;
    t->join_lock.lock();
    if (t->running.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        wake = t->joiner;
        t->joiner = nullptr;
    }
    t->join_lock.unlock();  // last access to *t: the master may now return
    if (wake) lithe_context_unblock(wake);
}

// A retired Worker's exit (hart context, the context is gone): counted off
// its retirement Team like a dock, so the waiting releaser may clean it up.
void retire_exit(lithe_sched_t *, lithe_context_t *c) {
    lithe_hart_request(-1);  // what the fork-join scheduler's exit does
    count_off(reinterpret_cast<Worker *>(c)->team);
}
const lithe_sched_funcs &retire_funcs() {
    static const lithe_sched_funcs f = [] {
        lithe_sched_funcs x = lithe_fj_sched_funcs;
        x.context_exit = retire_exit;
        return x;
    }();
    return f;
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

lithe_context_t *team_claim(Team *t) {
    int n = t->start_n.load(std::memory_order_acquire);
    int i = t->start_next.load(std::memory_order_relaxed);
    while (i < n)
        if (t->start_next.compare_exchange_weak(i, i + 1,
                                                std::memory_order_acq_rel))
            return &static_cast<Worker **>(t->start_list)[i]->ctx;
    return nullptr;
}

bool team_block(lithe_sched_t *region, lithe_context_t *c) {
    Worker *w = reinterpret_cast<Worker *>(c);
    if (!w->docking) return false;
    w->docking = false;
    Team *t = w->member.team;
    // Before the count drops: once it is 0 the master may exit the region,
    // which must then own no context.
    lithe_context_reassociate(c, lithe_sched_base());
    bool counted = false;
    bool took_unrequested = false;
    for (;;) {
        t->join_lock.lock();
        int left = t->running.load(std::memory_order_relaxed) - 1;
        lithe_context_t *m = left == 0 ? t->joiner : nullptr;
        if (m || counted) {
            t->running.store(left, std::memory_order_release);
            if (m) t->joiner = nullptr;
            // The master takes over this hart: it was counted off when it
            // blocked, so it needs our count (or, if we gave ours up
            // already, a new one: back to where we took it from).
            bool regain = m && counted;
            if (regain && took_unrequested)
                t->unrequested.fetch_add(1, std::memory_order_relaxed);
            t->join_lock.unlock();  // last access to *t
            w->handoff = m;
            if (regain && !took_unrequested) lithe_hart_request(1);
            w->leave = left == 0 && !m;
            return true;
        }
        t->join_lock.unlock();
        // Not handing over: the docker stops counting before it is
        // counted off (the region may exit right after).
        took_unrequested = team_count_block(region, t);
        counted = true;
    }
}

bool team_count_block(lithe_sched_t *region, Team *t) {
    int u = t->unrequested.load(std::memory_order_relaxed);
    while (u > 0)
        if (t->unrequested.compare_exchange_weak(u, u - 1,
                                                 std::memory_order_relaxed))
            return true;
    lithe_fj_context_block(region, nullptr);
    return false;
}

bool team_request_unrequested(lithe_sched_t *region) {
    Team *t = static_cast<Team *>(
        reinterpret_cast<lithe_fj_sched_t *>(region)->user);
    int u = t->unrequested.exchange(0, std::memory_order_relaxed);
    if (u) lithe_hart_request(u);
    return u != 0;
}

bool team_start(Team *t, Member *mm) {
    lithe_sched_t *here = lithe_sched_current();
    if (tls_pools.size() <= static_cast<size_t>(t->pool))
        tls_pools.resize(t->pool + 1);
    // Not a reference kept across t->body: member 0 may open nested regions
    // there, growing tls_pools (the Workers' array itself does not move).
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
    }
    // Publish, then ask for harts (the master is this scheduler's main
    // context: the region cannot go away under a hart that comes early),
    // unless the call site has been short (see the top).
    SiteHint *h = site_hint(t->pool, t->site);
    t->hint = h;
    bool ask = h->site != t->site || h->short_runs < kShortRunsToSkip ||
               !slicing_enabled();
    if (!ask) t->unrequested.store(t->n - 1, std::memory_order_relaxed);
    t->start_list = pool->data();
    t->start_n.store(t->n - 1, std::memory_order_release);
    if (ask) lithe_hart_request(t->n - 1);
    g_workers.fetch_add(t->n - 1, std::memory_order_relaxed);
    slicer_add(here);
    bool was_preemptible = set_preemptible(true);
    uth_enable_notifs();
    t->body_start = parlib_ticks();
    return was_preemptible;
}

void team_join(Team *t, bool was_preemptible) {
    uint64_t joined = parlib_ticks();
    lithe_sched_t *here = lithe_sched_current();
    auto done = [&] { return t->running.load(std::memory_order_acquire) == 0; };
    while (!done()) {
        // A member no hart has taken yet runs here: the master has nothing
        // else to do, and a hart that has not come by now would start it
        // later than this.
        if (lithe_context_t *c = team_claim(t)) {
            ClaimArg a{t, c};
            lithe_context_block(claim_cb, &a);
            continue;
        }
        // Members of short regions dock quickly: spin first.
        if (spin_until(done)) break;
        lithe_context_block(join_cb, t);
    }
    // The last docker may still be inside join_lock: the lock/unlock pair
    // waits for it to leave before *t goes away.
    t->join_lock.lock();
    t->join_lock.unlock();
    record_region(t, joined, parlib_ticks());
    uth_disable_notifs();
    set_preemptible(was_preemptible);
    slicer_remove(here);
    g_workers.fetch_sub(t->n - 1, std::memory_order_relaxed);
}

lithe_fj_sched_t *team_sched_take(int pool, const lithe_sched_funcs *f) {
    if (tls_scheds.at.size() > static_cast<size_t>(pool))
        if (lithe_fj_sched_t *s = tls_scheds.at[pool]) {
            tls_scheds.at[pool] = nullptr;
            if (lithe_sched_init(&s->sched, &s->funcs, &s->main) != LITHE_OK)
                fatal("cannot re-initialise a region scheduler");
            return s;
        }
    return lithe_fj_sched_create_funcs(f);
}

void team_sched_put(int pool, lithe_fj_sched_t *s) {
    if (tls_scheds.at.size() <= static_cast<size_t>(pool))
        tls_scheds.at.resize(pool + 1);
    if (!tls_scheds.at[pool])
        tls_scheds.at[pool] = s;
    else
        lithe_fj_sched_destroy(s);
}

void team_release_pools() {
    tls_scheds.release();
    int n = 0;
    for (const auto &pool : tls_pools) n += static_cast<int>(pool.size());
    if (n == 0) return;
    Team t;  // body == nullptr: "retire" (worker_main)
    t.running.store(n, std::memory_order_relaxed);
    // As in region_begin/end: lithe and the fork-join scheduler take plain
    // spinlocks from this context.
    uth_disable_notifs();
    lithe_fj_sched_t *s = lithe_fj_sched_create_funcs(&retire_funcs());
    if (!s || lithe_sched_enter(&s->sched) != LITHE_OK)
        fatal("omp_pause_resource: cannot enter a scheduler");
    for (const auto &pool : tls_pools)
        for (Worker *w : pool) {
            w->team = &t;
            lithe_context_reassociate(&w->ctx, &s->sched);
            lithe_context_unblock(&w->ctx);
        }
    uth_enable_notifs();
    lithe_context_block(join_cb, &t);
    uth_disable_notifs();
    for (const auto &pool : tls_pools)
        for (Worker *w : pool) {
            lithe_context_cleanup(&w->ctx);
            delete w;
        }
    tls_pools.clear();
    g_created.fetch_sub(n, std::memory_order_relaxed);
    if (lithe_sched_exit() != LITHE_OK)
        fatal("omp_pause_resource: cannot exit its scheduler");
    lithe_fj_sched_destroy(s);
    uth_enable_notifs();
}

int members_created() { return g_created.load(std::memory_order_relaxed); }

int dynamic_team_limit() {
    int busy = g_workers.load(std::memory_order_relaxed);
    return std::max(1, lithe_num_harts() - busy);
}

}  // namespace lomp
