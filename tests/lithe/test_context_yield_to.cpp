// lithe_context_yield_to (direct hand-off between contexts of one
// scheduler): the exact order of context_yield callbacks and contexts, the
// callback's view (hart context, current scheduler = the yielder's, the
// yielder saved and not running), per-context TLS and errno across
// hand-offs, and the documented errors. A tiny FIFO scheduler with a
// "take this context out of the queue" call plays the runtime that knows
// the next context; it never asks for harts, and a hart its parent grants
// anyway is yielded back at once, so everything runs on the hart that
// entered it (`home`). Only main asserts.
#include <catch2/catch.hpp>
#include <lithe/lithe.h>

#include <atomic>
#include <cerrno>
#include <deque>
#include <string>

namespace {

struct Sched {
    lithe_sched_t sched;  // first
    lithe_context_t main;
    std::deque<lithe_context_t *> queue;  // one hart only: no lock needed
    std::string log;
    long bad_view = 0;
    int home = -1;
};
Sched *g_s;

bool take(lithe_context_t *c) {
    for (auto it = g_s->queue.begin(); it != g_s->queue.end(); ++it)
        if (*it == c) {
            g_s->queue.erase(it);
            return true;
        }
    return false;
}

void s_hart_request(lithe_sched_t *, lithe_sched_t *, int) {}
void s_child(lithe_sched_t *, lithe_sched_t *) {}
void s_nop(lithe_sched_t *) {}
void s_nop_ctx(lithe_sched_t *, lithe_context_t *) {}

void s_hart_enter(lithe_sched_t *) {
    if (vcore_id() == g_s->home && !g_s->queue.empty()) {
        lithe_context_t *c = g_s->queue.front();
        g_s->queue.pop_front();
        lithe_context_run(c);
    }
    lithe_hart_yield();
}

void s_unblock(lithe_sched_t *, lithe_context_t *c) { g_s->queue.push_back(c); }

// context_yield: record who yielded and what the callback sees.
void s_yield(lithe_sched_t *self, lithe_context_t *c) {
    errno = EINTR;  // must not leak into the context that runs next
    if (lithe_context_self() != nullptr || !in_vcore_context() ||
        lithe_sched_current() != self ||
        __atomic_load_n(&c->u->state, __ATOMIC_ACQUIRE) != UTH_ST_READY)
        g_s->bad_view++;
    g_s->log += 'y';
    g_s->queue.push_back(c);
}

const lithe_sched_funcs g_funcs = {
    s_hart_request, s_child,   s_child,   s_child,   s_hart_enter, s_nop,
    s_nop,          s_nop_ctx, s_unblock, s_yield,   s_nop_ctx,
};

// ---- two contexts handing off to each other ------------------------------

thread_local long tl_who = 0;
constexpr int kRounds = 200;

struct Side {
    lithe_context_t ctx;
    Side *other = nullptr;
    char name = '?';
    bool own_tls = true;
    long bad = 0;
};

void side_main(void *p) {
    auto *me = static_cast<Side *>(p);
    tl_who = me->name;
    for (int i = 0; i < kRounds; ++i) {
        g_s->log += me->name;
        errno = me->name;
        lithe_context_t *next = &me->other->ctx;
        // The other side is queued (it yielded) or has not run yet.
        take(next);
        if (lithe_context_yield_to(next) != LITHE_OK) me->bad++;
        // A lightweight context's errno is the vcore's, which vcore-context
        // code may change when it is resumed through the scheduler.
        if (tl_who != me->name || lithe_context_self() != &me->ctx ||
            (me->own_tls && errno != me->name))
            me->bad++;
    }
}

TEST_CASE("yield_to hands the hart to the named context after context_yield") {
    Sched sched;  // exited before it goes out of scope
    g_s = &sched;
    REQUIRE(lithe_sched_init(&g_s->sched, &g_funcs, &g_s->main) == LITHE_OK);
    REQUIRE(lithe_sched_enter(&g_s->sched) == LITHE_OK);
    g_s->home = vcore_id();
    Side x, y;
    x.name = 'X', y.name = 'Y';
    x.other = &y, y.other = &x;
    y.own_tls = false;
    lithe_context_attr light{0, false};
    REQUIRE(lithe_context_init(&x.ctx, side_main, &x) == LITHE_OK);
    REQUIRE(lithe_context_init_attr(&y.ctx, side_main, &y, &light) ==
            LITHE_OK);
    errno = 77;
    REQUIRE(lithe_context_yield_to(&x.ctx) == LITHE_OK);
    int main_errno = errno;
    // Both sides exit through the scheduler; wait for them.
    while (x.ctx.u->state != UTH_ST_EXITED || y.ctx.u->state != UTH_ST_EXITED)
        lithe_context_yield();
    std::string expect = "y";  // main's hand-off to X
    for (int i = 0; i < kRounds; ++i) expect += "XyYy";
    // X's last hand-off went to Y, whose last one went back to X, which then
    // exited: the scheduler ran main (queued first) and the loop above.
    REQUIRE(g_s->log.substr(0, expect.size()) == expect);
    REQUIRE(g_s->bad_view == 0);
    REQUIRE(x.bad == 0);
    REQUIRE(y.bad == 0);
    REQUIRE(main_errno == 77);
    REQUIRE(lithe_context_cleanup(&x.ctx) == LITHE_OK);
    REQUIRE(lithe_context_cleanup(&y.ctx) == LITHE_OK);
    REQUIRE(lithe_sched_exit() == LITHE_OK);
}

// ---- errors -----------------------------------------------------------------

void nothing(void *) {}

TEST_CASE("yield_to refuses what it cannot run, with documented errors") {
    lithe_set_misuse_policy(LITHE_MISUSE_RETURN);
    // Value-initialised: lithe_sched_init reads the state of what it is
    // given (refusing an entered scheduler), so it must not be stack garbage.
    Sched s1{}, s2{};  // exited before they go out of scope
    g_s = &s1;
    REQUIRE(lithe_sched_init(&g_s->sched, &g_funcs, &g_s->main) == LITHE_OK);
    REQUIRE(lithe_sched_enter(&g_s->sched) == LITHE_OK);
    g_s->home = vcore_id();
    lithe_context_t done;
    REQUIRE(lithe_context_init(&done, nothing, nullptr) == LITHE_OK);
    g_s->queue.push_back(&done);
    while (done.u->state != UTH_ST_EXITED) lithe_context_yield();
    CHECK(lithe_context_yield_to(nullptr) == LITHE_EINVAL);
    CHECK(lithe_context_yield_to(lithe_context_self()) == LITHE_ERUNNING);
    CHECK(lithe_context_yield_to(&done) == LITHE_ESTATE);
    REQUIRE(lithe_context_cleanup(&done) == LITHE_OK);
    REQUIRE(lithe_sched_exit() == LITHE_OK);
    // A context of another scheduler (the base scheduler's, not entered).
    lithe_context_t other;
    REQUIRE(lithe_context_init(&other, nothing, nullptr) == LITHE_OK);
    g_s = &s2;
    REQUIRE(lithe_sched_init(&s2.sched, &g_funcs, &s2.main) == LITHE_OK);
    REQUIRE(lithe_sched_enter(&s2.sched) == LITHE_OK);
    s2.home = vcore_id();
    CHECK(lithe_context_yield_to(&other) == LITHE_ENOTCURRENT);
    REQUIRE(lithe_sched_exit() == LITHE_OK);
    REQUIRE(lithe_context_cleanup(&other) == LITHE_OK);
    lithe_set_misuse_policy(LITHE_MISUSE_ABORT);
}

}  // namespace
