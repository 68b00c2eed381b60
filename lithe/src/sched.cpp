// sched.cpp: scheduler life cycle: init, enter (promote the calling context
// to the child's main context and move this hart to the child), exit (park
// the main context until the child holds no other hart, then demote it and
// move the last hart back), and accounting snapshots.
//
// Promotion: a lithe context is a label on a parlib uthread (ctx->u, and
// u->owner back). Entering relabels the running uthread as the child's main
// context; exiting relabels it as the parent's context that entered. The
// stack and TLS never change, so code keeps running where it was.
//
// The callbacks of enter/exit run in hart context: the calling context
// yields to the hart with a callback that does the transfer and then runs
// the (relabelled) context again.
//
// Exit without spinning: the main context parks (saved, in no queue) and
// its hart, marking the child EXITING under the child's lock, either is the
// only one left (it finishes the exit at once, on the same hart) or leaves
// like a yielding hart. Every hart leaving the child drops `harts` under the
// same lock (leave_child); the one that brings it to 0 while EXITING is the
// last one out, and finishes the exit on its own hart: child_exit,
// sched_exit, demotion, then it runs the parked context. EXITING is only set
// once the main context is parked and no grant lands after it, so exactly
// one hart sees 0 && EXITING, and a hart that saw another state never looks
// at the child again.
#include <cstddef>

#include <parlib/ticks.h>
#include <parlib/uthread.h>

#include "internal.hpp"

namespace lithe {
namespace {

// *p = {} with plain 16-byte stores. The compilers turn memset or a
// value-initialising assignment of these sizes into `rep stos`, whose
// start-up cost (~40 cycles on the VMs of docs/perf.md) made it most of
// lithe_sched_init, which every OpenMP region calls (adapters/omp re-
// initialises its region scheduler per region).
template <class T>
void zero(T *p) {
    using V = long long __attribute__((vector_size(16), aligned(8), may_alias));
    static_assert(sizeof(T) % sizeof(V) == 0);
    V *v = reinterpret_cast<V *>(p);
#pragma GCC unroll 16
    for (size_t i = 0; i < sizeof(T) / sizeof(V); ++i) v[i] = V{};
}

void relabel(lithe_context_t *to, uthread *u) {
    to->u = u;
    u->owner = to;
}

void enter_on_hart(uthread *, void *arg) {
    auto *child = static_cast<lithe_sched_t *>(arg);
    lithe_sched_t *p = child->parent;
    Hart *h = here();
    // This hart counts as the child's before child_enter publishes the
    // child to the parent (whose harts may then grant it more), so plain
    // stores do: nothing else writes a child that no one can see yet.
    __atomic_store_n(&child->harts, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&child->subtree_harts, 1, __ATOMIC_RELAXED);
    with_current(p, [&] { p->funcs->child_enter(p, child); });
    __atomic_fetch_sub(&p->harts, 1, __ATOMIC_RELAXED);
    set_current(h, child);
    with_current(child, [&] { child->funcs->sched_enter(child); });
    run_uthread(child->main_context->u);
}

// Hart context, the child's main context parked, the child's harts at 0
// and nothing else touching it. `moved`: this hart was already handed to
// the parent (it left like a yield: hart_return ran, parent's harts
// counted); otherwise it still belongs to the child and moves now.
[[noreturn]] void finish_exit(Hart *h, lithe_sched_t *child, bool moved) {
    lithe_sched_t *p = child->parent;
    with_current(p, [&] { p->funcs->child_exit(p, child); });
    with_current(child, [&] { child->funcs->sched_exit(child); });
    lithe_context_t *main = child->main_context;
    lithe_context_t *back = child->entered_from;
    uthread *u = main->u;
    relabel(back, u);
    main->u = &main->uth;
    child->entered_from = nullptr;
    if (!moved) {
        set_current(h, p);
        __atomic_fetch_add(&p->harts, 1, __ATOMIC_RELAXED);
    }
    __atomic_fetch_sub(&p->children, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&child->harts, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&child->subtree_harts, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&child->state, kExited, __ATOMIC_RELEASE);
    run_uthread(u);
    __builtin_unreachable();
}

// The main context is parked: mark the child EXITING, then finish at once
// if this is its only hart, else hand this hart to the parent (as
// lithe_hart_yield does) and let the last hart out finish.
void exit_on_hart(uthread *, void *arg) {
    auto *child = static_cast<lithe_sched_t *>(arg);
    lithe_sched_t *p = child->parent;
    Hart *h = here();
    sched_lock(child);
    __atomic_store_n(&child->state, kExiting, __ATOMIC_RELEASE);
    bool alone = __atomic_load_n(&child->harts, __ATOMIC_RELAXED) == 1;
    sched_unlock(child);
    if (alone) finish_exit(h, child, false);
    set_current(h, p);
    with_current(p, [&] { p->funcs->hart_return(p, child); });
    __atomic_fetch_add(&p->harts, 1, __ATOMIC_RELAXED);
    leave_child(h, child);
    vcore_reenter(hart_enter_current);
}

}  // namespace

void leave_child(Hart *h, lithe_sched_t *c) {
    sched_lock(c);
    __atomic_fetch_sub(&c->subtree_harts, 1, __ATOMIC_RELAXED);
    bool last = __atomic_sub_fetch(&c->harts, 1, __ATOMIC_RELEASE) == 0 &&
                sched_state(c) == kExiting;
    sched_unlock(c);
    if (last) finish_exit(h, c, true);
}

}  // namespace lithe

using namespace lithe;

extern "C" {

int lithe_sched_init(lithe_sched_t *sched, const struct lithe_sched_funcs *f,
                     lithe_context_t *main_ctx) {
    if (!sched || !f || !main_ctx)
        return misuse(LITHE_EINVAL, "lithe_sched_init: NULL argument");
    if (!f->hart_request || !f->child_enter || !f->child_exit ||
        !f->hart_return || !f->hart_enter || !f->sched_enter ||
        !f->sched_exit || !f->context_block || !f->context_unblock ||
        !f->context_yield || !f->context_exit)
        return misuse(LITHE_EINVAL,
                      "lithe_sched_init: every callback must be set");
    uint32_t st = __atomic_load_n(&sched->state, __ATOMIC_ACQUIRE);
    if (sched->funcs && (st == kEntered || st == kExiting))
        return misuse(LITHE_ESTATE,
                      "lithe_sched_init: scheduler %p is entered",
                      (void *)sched);
    zero(sched);
    sched->funcs = f;
    sched->main_context = main_ctx;
    zero(main_ctx);
    main_ctx->u = &main_ctx->uth;
    main_ctx->sched = sched;
    return LITHE_OK;
}

int lithe_sched_enter(lithe_sched_t *child) {
    lithe_context_t *self = lithe_context_self();
    if (!self || in_vcore_context())
        return misuse(LITHE_EWRONGCONTEXT,
                      "lithe_sched_enter: must be called from a lithe "
                      "context");
    if (!child || !child->funcs)
        return misuse(LITHE_EINVAL,
                      "lithe_sched_enter: scheduler not initialised");
    if (sched_state(child) != kInit)
        return misuse(LITHE_ESTATE,
                      "lithe_sched_enter: scheduler %p was already entered "
                      "(re-initialise it with lithe_sched_init)",
                      (void *)child);
    lithe_sched_t *p = self->sched;
    child->parent = p;
    child->entered_from = self;
    lithe_context_t *main = child->main_context;
    main->id = self->id;
    main->fn = self->fn;
    main->arg = self->arg;
    relabel(main, self->u);
    __atomic_fetch_add(&p->children, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&child->state, kEntered, __ATOMIC_RELEASE);
    uthread_yield(true, enter_on_hart, child);
    return LITHE_OK;
}

int lithe_sched_exit(void) {
    lithe_context_t *self = lithe_context_self();
    if (!self || in_vcore_context())
        return misuse(LITHE_EWRONGCONTEXT,
                      "lithe_sched_exit: must be called from a lithe context");
    lithe_sched_t *c = self->sched;
    if (c == g_base || c->main_context != self)
        return misuse(LITHE_ENOTCURRENT,
                      "lithe_sched_exit: the calling context is not the main "
                      "context of an entered scheduler (scheduler %p)",
                      (void *)c);
    int64_t ctxs = __atomic_load_n(&c->contexts, __ATOMIC_ACQUIRE);
    int kids = __atomic_load_n(&c->children, __ATOMIC_ACQUIRE);
    if (ctxs > 0 || kids > 0)
        return misuse(LITHE_EBUSY,
                      "lithe_sched_exit: scheduler %p still owns %lld "
                      "contexts and %d children",
                      (void *)c, (long long)ctxs, kids);
    // Parks this context; it resumes, demoted, on the last hart out.
    uthread_yield(true, exit_on_hart, c);
    return LITHE_OK;
}

int lithe_sched_stats(lithe_sched_t *s, struct lithe_sched_stats *out) {
    if (!s || !out)
        return misuse(LITHE_EINVAL, "lithe_sched_stats: NULL argument");
    out->harts = __atomic_load_n(&s->harts, __ATOMIC_ACQUIRE);
    out->subtree_harts = __atomic_load_n(&s->subtree_harts, __ATOMIC_ACQUIRE);
    out->requested = __atomic_load_n(&s->requested, __ATOMIC_RELAXED);
    out->hart_time_ns = parlib_ticks_to_ns(
        __atomic_load_n(&s->hart_time_ticks, __ATOMIC_RELAXED));
    out->grants_received =
        __atomic_load_n(&s->grants_received, __ATOMIC_RELAXED);
    out->grants_made = __atomic_load_n(&s->grants_made, __ATOMIC_RELAXED);
    out->yields = __atomic_load_n(&s->yields, __ATOMIC_RELAXED);
    int64_t c = __atomic_load_n(&s->contexts, __ATOMIC_RELAXED);
    out->contexts = c > 0 ? static_cast<uint64_t>(c) : 0;
    out->children = __atomic_load_n(&s->children, __ATOMIC_RELAXED);
    return LITHE_OK;
}

lithe_sched_t *lithe_sched_base(void) { return g_base; }

}  // extern "C"
