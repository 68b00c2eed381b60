// context.cpp: lithe contexts over parlib uthreads: init / recycle /
// reassociate / cleanup, run, block / unblock / yield / yield_to / exit.
//
// A context's owner (ctx->sched) receives its callbacks; it changes only by
// lithe_context_reassociate (context not running) or by scheduler
// enter/exit promotion (sched.cpp). `contexts` counts, per scheduler, the
// contexts made by lithe_context_init that are associated with it and not
// cleaned up, so lithe_sched_exit can refuse to orphan them.
#include <parlib/uthread.h>

#include <atomic>

#include "internal.hpp"

namespace lithe {
namespace {

std::atomic<uint64_t> g_next_id{1};

enum : uint32_t { kFlagInitialised = 1 };

void context_start(void *p) {
    auto *c = static_cast<lithe_context_t *>(p);
    c->fn(c->arg);
    lithe_context_exit();
}

struct BlockCall {
    void (*fn)(lithe_context_t *, void *);
    void *arg;
};

void block_on_hart(uthread *u, void *p) {
    auto *c = static_cast<lithe_context_t *>(u->owner);
    auto *b = static_cast<BlockCall *>(p);
    lithe_sched_t *s = c->sched;
    with_current(s, [&] { s->funcs->context_block(s, c); });
    if (b->fn) b->fn(c, b->arg);
}

void yield_on_hart(uthread *u, void *) {
    auto *c = static_cast<lithe_context_t *>(u->owner);
    lithe_sched_t *s = c->sched;
    with_current(s, [&] { s->funcs->context_yield(s, c); });
}

bool initialised(lithe_context_t *c) {
    return c && (c->flags & kFlagInitialised);
}

}  // namespace
}  // namespace lithe

using namespace lithe;

extern "C" {

lithe_context_t *lithe_context_self(void) {
    uthread *u = uthread_self();
    return u ? static_cast<lithe_context_t *>(u->owner) : nullptr;
}

int lithe_context_init_attr(lithe_context_t *ctx, void (*fn)(void *),
                            void *arg, const struct lithe_context_attr *a) {
    if (!ctx || !fn)
        return misuse(LITHE_EINVAL, "lithe_context_init: NULL argument");
    lithe_sched_t *s = lithe_sched_current();
    if (!s)
        return misuse(LITHE_EWRONGCONTEXT,
                      "lithe_context_init: no current scheduler (call it "
                      "from a hart or a lithe context)");
    uthread_attr ua = UTHREAD_ATTR_DEFAULT;
    if (a) ua = {a->stack_size, a->own_tls};
    int rc = uthread_init(&ctx->uth, context_start, ctx, &ua);
    if (rc) return LITHE_ENOMEM;
    ctx->u = &ctx->uth;
    ctx->uth.owner = ctx;
    ctx->sched = s;
    ctx->fn = fn;
    ctx->arg = arg;
    ctx->id = g_next_id.fetch_add(1, std::memory_order_relaxed);
    ctx->flags = kFlagInitialised;
    __atomic_fetch_add(&s->contexts, 1, __ATOMIC_RELAXED);
    return LITHE_OK;
}

int lithe_context_init(lithe_context_t *ctx, void (*fn)(void *), void *arg) {
    return lithe_context_init_attr(ctx, fn, arg, nullptr);
}

int lithe_context_recycle(lithe_context_t *ctx, void (*fn)(void *),
                          void *arg) {
    if (!initialised(ctx) || !fn)
        return misuse(LITHE_EINVAL,
                      "lithe_context_recycle: context not initialised or "
                      "NULL function");
    if (ctx->u->state != UTH_ST_EXITED)
        return misuse(LITHE_ELIVE,
                      "lithe_context_recycle: context %llu has not exited",
                      (unsigned long long)ctx->id);
    ctx->fn = fn;
    ctx->arg = arg;
    uthread_recycle(ctx->u, context_start, ctx);
    return LITHE_OK;
}

int lithe_context_reassociate(lithe_context_t *ctx, lithe_sched_t *sched) {
    if (!initialised(ctx) || !sched || !sched->funcs)
        return misuse(LITHE_EINVAL,
                      "lithe_context_reassociate: context or scheduler not "
                      "initialised");
    if (ctx->u->state == UTH_ST_RUNNING)
        return misuse(LITHE_ERUNNING,
                      "lithe_context_reassociate: context %llu is running",
                      (unsigned long long)ctx->id);
    __atomic_fetch_sub(&ctx->sched->contexts, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&sched->contexts, 1, __ATOMIC_RELAXED);
    ctx->sched = sched;
    return LITHE_OK;
}

int lithe_context_cleanup(lithe_context_t *ctx) {
    if (!initialised(ctx))
        return misuse(LITHE_EINVAL,
                      "lithe_context_cleanup: context not initialised");
    uint32_t st = ctx->u->state;
    if (!(st == UTH_ST_EXITED || (st == UTH_ST_READY && ctx->u->switches == 0)))
        return misuse(LITHE_ELIVE,
                      "lithe_context_cleanup: context %llu is live (running "
                      "or blocked); only exited or never-run contexts can be "
                      "cleaned up", (unsigned long long)ctx->id);
    __atomic_fetch_sub(&ctx->sched->contexts, 1, __ATOMIC_RELAXED);
    uthread_cleanup(ctx->u);
    ctx->flags = 0;
    return LITHE_OK;
}

int lithe_context_run(lithe_context_t *ctx) {
    if (!in_vcore_context())
        return misuse(LITHE_EWRONGCONTEXT,
                      "lithe_context_run: must be called in hart context");
    if (!ctx || !ctx->u)
        return misuse(LITHE_EINVAL, "lithe_context_run: NULL context");
    Hart *h = here();
    if (ctx->sched != h->current)
        return misuse(LITHE_ENOTCURRENT,
                      "lithe_context_run: context %llu belongs to scheduler "
                      "%p, not to the current scheduler %p",
                      (unsigned long long)ctx->id, (void *)ctx->sched,
                      (void *)h->current);
    uint32_t st = __atomic_load_n(&ctx->u->state, __ATOMIC_ACQUIRE);
    if (st == UTH_ST_RUNNING)
        return misuse(LITHE_ERUNNING,
                      "lithe_context_run: context %llu is running",
                      (unsigned long long)ctx->id);
    if (st != UTH_ST_READY)
        return misuse(LITHE_ESTATE,
                      "lithe_context_run: context %llu is not runnable "
                      "(exited or cleaned up)", (unsigned long long)ctx->id);
    run_uthread(ctx->u);
}

int lithe_context_block(void (*fn)(lithe_context_t *, void *), void *arg) {
    if (!lithe_context_self() || in_vcore_context())
        return misuse(LITHE_EWRONGCONTEXT,
                      "lithe_context_block: must be called from a context");
    BlockCall b{fn, arg};
    // Not a tail call (unlike lithe_context_yield): block_on_hart reads b,
    // in this frame, after the switch.
    uthread_yield(true, block_on_hart, &b);
    return LITHE_OK;
}

int lithe_context_unblock(lithe_context_t *ctx) {
    if (!ctx || !ctx->u)
        return misuse(LITHE_EINVAL, "lithe_context_unblock: NULL context");
    if (__atomic_load_n(&ctx->u->state, __ATOMIC_ACQUIRE) != UTH_ST_READY)
        return misuse(LITHE_ERUNNING,
                      "lithe_context_unblock: context %llu is not blocked "
                      "(running or exited)", (unsigned long long)ctx->id);
    lithe_sched_t *s = ctx->sched;
    uth_disable_notifs();
    with_current(s, [&] { s->funcs->context_unblock(s, ctx); });
    uth_enable_notifs();
    return LITHE_OK;
}

int lithe_context_yield(void) {
    // A context is never in vcore context: uthread_self() is non-null only
    // while a uthread runs (parlib clears it there). Read directly, not
    // through the exported lithe_context_self (a PLT call).
    uthread *u = uthread_self();
    if (!u || !u->owner)
        return misuse(LITHE_EWRONGCONTEXT,
                      "lithe_context_yield: must be called from a context");
    // A tail call (LITHE_OK is 0): resumed, the context returns straight to
    // our caller, one mispredicted return fewer per yield.
    return uthread_yield_status(yield_on_hart, nullptr);
}

int lithe_context_yield_to(lithe_context_t *next) {
    lithe_context_t *self = lithe_context_self();
    if (!self || in_vcore_context())
        return misuse(LITHE_EWRONGCONTEXT,
                      "lithe_context_yield_to: must be called from a context");
    if (!next || !next->u)
        return misuse(LITHE_EINVAL, "lithe_context_yield_to: NULL context");
    if (next->sched != self->sched)
        return misuse(LITHE_ENOTCURRENT,
                      "lithe_context_yield_to: context %llu belongs to "
                      "scheduler %p, not to the caller's scheduler %p",
                      (unsigned long long)next->id, (void *)next->sched,
                      (void *)self->sched);
    uint32_t st = __atomic_load_n(&next->u->state, __ATOMIC_ACQUIRE);
    if (next == self || st == UTH_ST_RUNNING)
        return misuse(LITHE_ERUNNING,
                      "lithe_context_yield_to: context %llu is running",
                      (unsigned long long)next->id);
    if (st != UTH_ST_READY)
        return misuse(LITHE_ESTATE,
                      "lithe_context_yield_to: context %llu is not runnable "
                      "(exited or cleaned up)", (unsigned long long)next->id);
    // parlib claims `next` (a racing run aborts there, naming the call),
    // then runs context_yield in hart context on next's stack. A tail call,
    // as in lithe_context_yield.
    return uthread_yield_to_status(next->u, yield_on_hart, nullptr);
}

int lithe_context_exit(void) {
    lithe_context_t *self = lithe_context_self();
    if (!self || in_vcore_context())
        return misuse(LITHE_EWRONGCONTEXT,
                      "lithe_context_exit: must be called from a context");
    if (self->sched->main_context == self && self->sched != g_base)
        fatal("lithe_context_exit: context %llu is still the main context "
              "of scheduler %p (missing lithe_sched_exit)",
              (unsigned long long)self->id, (void *)self->sched);
    uthread_exit();
}

}  // extern "C"
