// region.cpp: a parallel region. The encountering context (the master)
// enters a child scheduler of the CURRENT scheduler (fork-join, with the
// OpenMP callbacks below), runs the team there (team.cpp) and exits it, so
// nested regions nest schedulers and every region's harts come from, and
// return to, the scheduler that encountered it.
//
// Team size: the requested count (num_threads, push_num_threads, or
// nthreads-var), 1 if the region would exceed max-active-levels or the
// caller is not a lithe context (a foreign pthread runs regions serialized),
// capped by OMP_THREAD_LIMIT and, with dyn-var, by the harts not already
// running team members (dynamic_team_limit).
// A one-member region is run inline (no scheduler).
#include <parlib/uthread.h>

#include <algorithm>

#include "internal.hpp"

namespace lomp {
namespace {

// The region scheduler is the stock fork-join scheduler with three
// overrides. Its contexts are the master (its main context) and team
// Workers (team.cpp), not fork-join contexts: they dock instead of exiting
// (an exit would hand the fork-join default a context it does not own, so
// it is caught here), and a docking Worker is counted off the team in the
// block callback (team_block). An incoming hart first starts a member no
// hart has started yet (team_claim; the Team is the scheduler's `user`),
// then does what fork-join does.
void member_exit(lithe_sched_t *, lithe_context_t *) {
    fatal("a team member context exited (pthread_exit in a region?)");
}
Team *team_of(lithe_sched_t *s) {
    return static_cast<Team *>(reinterpret_cast<lithe_fj_sched_t *>(s)->user);
}
void member_block(lithe_sched_t *s, lithe_context_t *c) {
    if (c != &reinterpret_cast<lithe_fj_sched_t *>(s)->main &&
        team_block(s, c))
        return;
    team_count_block(s, team_of(s));
}
void region_hart_enter(lithe_sched_t *s) {
    if (lithe_context_t *c = team_claim(team_of(s))) lithe_context_run(c);
    lithe_fj_hart_enter(s);
}
const lithe_sched_funcs &region_funcs() {
    static const lithe_sched_funcs f = [] {
        lithe_sched_funcs x = lithe_fj_sched_funcs;
        x.context_exit = member_exit;
        x.context_block = member_block;
        x.hart_enter = region_hart_enter;
        return x;
    }();
    return f;
}

int team_size(const Member *enc, int requested) {
    int n = requested > 0 ? requested : enc->icv.nthreads;
    if (n < 1) n = 1;
    if (enc->active_level >= enc->icv.max_active_levels) return 1;
    if (!lithe_context_self()) return 1;
    n = std::min(n, enc->icv.thread_limit);
    if (enc->icv.dynamic) n = std::min(n, dynamic_team_limit());
    return n;
}

void init_master(Member *m, Team *t, Member *enc) {
    *m = Member{};
    m->team = t;
    m->tid = 0;
    m->level = t->level;
    m->pool_base = enc->pool_base;
    m->active_level = t->active_level;
    m->icv = enc->icv;
    m->icv.nthreads = inherited_nthreads(enc->icv, t->level + 1);
    m->outer = enc;
}

}  // namespace

void region_begin(RegionFrame *f, void (*body)(void *), void *data,
                  int requested, const void *site) {
    Member *enc = self();
    if (enc->push_nthreads > 0) {
        requested = enc->push_nthreads;
        enc->push_nthreads = 0;
    }
    f->enc = enc;
    Team &t = f->t;
    t.n = team_size(enc, requested);
    t.level = enc->level + 1;
    t.pool = enc->pool_base + t.level;
    t.active_level = enc->active_level + (t.n > 1 ? 1 : 0);
    t.body = body;
    t.data = data;
    t.site = site ? site : reinterpret_cast<const void *>(body);
    t.barrier.reset(t.n, &t);
    init_master(&f->m, &t, enc);
    t.master = &f->m;
    set_self(&f->m);
    if (t.n > 1) {
        // lithe and the fork-join scheduler take plain spinlocks from this
        // context: not preemptible here (team_start re-enables
        // notifications for the body; wait_policy.cpp).
        uth_disable_notifs();
        f->sched = team_sched_take(t.pool, &region_funcs());
        if (!f->sched) fatal("cannot create a region scheduler");
        f->sched->user = &t;
        if (lithe_sched_enter(&f->sched->sched) != LITHE_OK)
            fatal("cannot enter a region scheduler");
        f->was_preemptible = team_start(&t, &f->m);
    }
    display_affinity_hook();
}

void region_end(RegionFrame *f) {
    task_member_end(&f->t);
    if (f->sched) {
        team_join(&f->t, f->was_preemptible);
        if (lithe_sched_exit() != LITHE_OK)
            fatal("cannot exit a region scheduler");
        team_sched_put(f->t.pool, f->sched);
        uth_enable_notifs();
    }
    set_self(f->enc);
}

void region_fork(void (*body)(void *), void *data, int requested,
                 const void *site) {
    RegionFrame f;
    region_begin(&f, body, data, requested, site);
    body(data);
    region_end(&f);
}

void serialized_push() {
    Member *enc = self();
    enc->push_nthreads = 0;
    Team *t = new Team;
    t->level = enc->level + 1;
    t->active_level = enc->active_level;
    t->barrier.reset(1);
    Member *m = new Member;
    init_master(m, t, enc);
    t->master = m;
    set_self(m);
    display_affinity_hook();
}

void serialized_pop() {
    Member *m = self();
    if (!m->outer) fatal("__kmpc_end_serialized_parallel without a region");
    task_member_end(m->team);
    set_self(m->outer);
    delete m->team;
    delete m;
}

}  // namespace lomp
