// hart.cpp: harts and their transfer between schedulers (request, grant,
// yield), lithe_sched_current, and lithe's implementation of parlib's
// scheduler callbacks, which dispatches each to the owning lithe scheduler.
//
// Hart context = parlib vcore context. A hart always (re)enters a scheduler
// through vcore_reenter, so hart context starts at the top of the vcore
// stack on every transfer and recursion depth stays bounded.
//
// Accounting order: on a grant the child's `harts` is incremented (under the
// child's lock, after checking it is not exiting) before the parent's is
// decremented; on a yield the parent's hart_return runs before the child's
// `harts` drops, so lithe_sched_exit (finished by the last hart out, see
// sched.cpp) never returns while a hart still uses the child's struct.
// `subtree_harts` moves with `harts` of the scheduler the hart enters or
// leaves, and only that one: a hart moving between parent and child stays
// inside every ancestor's subtree.
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <parlib/ticks.h>
#include <parlib/uthread.h>

#include "internal.hpp"

namespace lithe {

Hart *g_harts = nullptr;
int g_nharts = 0;
constinit thread_local lithe_sched_t *tls_override
    __attribute__((tls_model("initial-exec"))) = nullptr;
constinit __thread Hart *tls_hart __attribute__((tls_model("initial-exec"))) =
    nullptr;

// Two per hart transfer: parlib_ticks (the TSC here, ~15 ns) rather than
// clock_gettime (~50 ns); lithe_sched_stats converts to ns.
void set_current(Hart *h, lithe_sched_t *to) {
    uint64_t t = parlib_ticks();
    // The hart's kernel thread may have changed CPUs since (ticks.h).
    uint64_t held = t > h->since_ticks ? t - h->since_ticks : 0;
    if (lithe_sched_t *from = h->current)
        __atomic_fetch_add(&from->hart_time_ticks, held, __ATOMIC_RELAXED);
    __atomic_store_n(&h->current, to, __ATOMIC_RELEASE);
    h->since_ticks = t;
}

void spin_acquire(uint32_t *word) {
    constexpr unsigned kPollsBeforeYield = 128;  // as parlib's SpinBackoff
    unsigned polls = 0;
    while (__atomic_exchange_n(word, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(word, __ATOMIC_RELAXED)) {
            __builtin_ia32_pause();
            if (++polls > kPollsBeforeYield && in_vcore_context())
                syscall(SYS_sched_yield);
        }
}

void sched_lock(lithe_sched_t *s) { spin_acquire(&s->lock); }

void sched_unlock(lithe_sched_t *s) {
    __atomic_store_n(&s->lock, 0, __ATOMIC_RELEASE);
}

namespace {

// Hart context, tls_override already cleared: runs a pending grant's unlock,
// then the current scheduler's hart_enter. Inlined in both entries (a
// context yield reaches it through sched_entry): one call fewer.
[[noreturn]] __attribute__((always_inline)) inline void enter_current(
    Hart *h) {
    if (h->unlock) {
        auto fn = h->unlock;
        h->unlock = nullptr;
        fn(h->unlock_arg);
    }
    lithe_sched_t *s = h->current;
    s->funcs->hart_enter(s);
    fatal("hart_enter of scheduler %p returned (it must run a context, "
          "grant or yield)", (void *)s);
}

}  // namespace

void hart_enter_current() {
    tls_override = nullptr;
    enter_current(here_on_vcore_tls());  // reached through vcore_reenter
}

namespace {

lithe_context_t *ctx_of(uthread *u) {
    return static_cast<lithe_context_t *>(u->owner);
}

// --- parlib schedule_ops: lithe is parlib's one 2LS ---

void sched_entry() {
    tls_override = nullptr;
    Hart *h = here_on_vcore_tls();  // parlib's vcore entry: the vcore's TLS
    if (!h->current) {  // a vcore came from the system: it is the root's
        __atomic_fetch_add(&g_base->harts, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&g_base->subtree_harts, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&g_base->grants_received, 1, __ATOMIC_RELAXED);
        set_current(h, g_base);
    }
    enter_current(h);  // every vcore entry (a context yield): one lookup
}

void thread_runnable(uthread *u) { lithe_context_unblock(ctx_of(u)); }

void thread_paused(uthread *u) {
    lithe_context_t *c = ctx_of(u);
    with_current(c->sched, [&] { c->sched->funcs->context_yield(c->sched, c); });
}

void thread_has_blocked(uthread *u, int) {
    lithe_context_t *c = ctx_of(u);
    with_current(c->sched, [&] { c->sched->funcs->context_block(c->sched, c); });
}

void thread_blockon_io(uthread *u, int) { thread_has_blocked(u, UTH_BLK_IO); }

void thread_exited(uthread *u) {
    lithe_context_t *c = ctx_of(u);
    with_current(c->sched, [&] { c->sched->funcs->context_exit(c->sched, c); });
}

}  // namespace

extern const schedule_ops g_lithe_ops;
const schedule_ops g_lithe_ops = {
    sched_entry, thread_runnable, thread_paused,
    thread_has_blocked, thread_blockon_io, thread_exited,
};

}  // namespace lithe

using namespace lithe;

extern "C" {

lithe_sched_t *lithe_sched_current(void) {
    if (tls_override) return tls_override;
    if (in_vcore_context()) return g_harts[vcore_id()].current;
    lithe_context_t *c = lithe_context_self();
    return c ? c->sched : nullptr;
}

int lithe_num_harts(void) { return g_nharts; }

lithe_sched_t *lithe_hart_owner(int hart) {
    if (hart < 0 || hart >= g_nharts) return nullptr;
    return __atomic_load_n(&g_harts[hart].current, __ATOMIC_ACQUIRE);
}

int lithe_hart_request(int delta) {
    lithe_sched_t *s = lithe_sched_current();
    if (!s)
        return misuse(LITHE_EWRONGCONTEXT,
                      "lithe_hart_request: called outside any scheduler "
                      "(not a hart, not a lithe context)");
    uint32_t st = sched_state(s);
    if (st == kExiting) return LITHE_EEXITING;  // draining: expected
    if (st != kEntered)
        return misuse(LITHE_ESTATE,
                      "lithe_hart_request: scheduler %p is not entered",
                      (void *)s);
    __atomic_fetch_add(&s->requested, delta, __ATOMIC_RELAXED);
    if (s == g_base) {  // the root asks the system
        if (delta > 0) vcore_request(delta);
        return LITHE_OK;
    }
    lithe_sched_t *p = s->parent;
    uth_disable_notifs();  // the callback must not migrate mid-way
    with_current(p, [&] { p->funcs->hart_request(p, s, delta); });
    uth_enable_notifs();
    return LITHE_OK;
}

int lithe_hart_grant(lithe_sched_t *child, void (*unlock)(void *), void *arg) {
    if (!in_vcore_context())
        return misuse(LITHE_EWRONGCONTEXT,
                      "lithe_hart_grant: must be called in hart context "
                      "(from the parent's hart_enter)");
    Hart *h = here();
    lithe_sched_t *p = h->current;
    if (!child || child->parent != p || sched_state(child) == kInit)
        return misuse(LITHE_ENOTCHILD,
                      "lithe_hart_grant: scheduler %p is not a child of the "
                      "current scheduler %p", (void *)child, (void *)p);
    sched_lock(child);
    if (sched_state(child) != kEntered) {
        sched_unlock(child);
        return LITHE_EEXITING;  // an expected race, not misuse
    }
    __atomic_fetch_add(&child->harts, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&child->subtree_harts, 1, __ATOMIC_RELAXED);
    sched_unlock(child);
    __atomic_fetch_add(&child->grants_received, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&p->grants_made, 1, __ATOMIC_RELAXED);
    __atomic_fetch_sub(&p->harts, 1, __ATOMIC_RELAXED);
    set_current(h, child);
    h->unlock = unlock;
    h->unlock_arg = arg;
    vcore_reenter(hart_enter_current);
}

int lithe_hart_yield(void) {
    if (!in_vcore_context())
        return misuse(LITHE_EWRONGCONTEXT,
                      "lithe_hart_yield: must be called in hart context");
    Hart *h = here();
    lithe_sched_t *c = h->current;
    __atomic_fetch_add(&c->yields, 1, __ATOMIC_RELAXED);
    if (c == g_base) {  // the root gives the vcore back to the system
        __atomic_fetch_sub(&c->harts, 1, __ATOMIC_RELAXED);
        __atomic_fetch_sub(&c->subtree_harts, 1, __ATOMIC_RELAXED);
        set_current(h, nullptr);
        vcore_yield();
    }
    lithe_sched_t *p = c->parent;
    set_current(h, p);
    with_current(p, [&] { p->funcs->hart_return(p, c); });
    __atomic_fetch_add(&p->harts, 1, __ATOMIC_RELAXED);
    leave_child(h, c);  // the last hart out of an exiting c finishes its exit
    vcore_reenter(hart_enter_current);
}

}  // extern "C"
