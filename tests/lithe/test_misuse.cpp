// API misuse: each case returns its documented error under
// LITHE_MISUSE_RETURN, and under LITHE_MISUSE_ABORT aborts with a message
// naming the call.
//
// The aborting half runs in a fork()ed child (tests/support/fork_child.hpp).
// After fork only the calling kernel thread exists (no other vcore, no
// foreign thread), so the child does nothing but the misuse: it redirects
// stderr into a pipe, drops Catch's SIGABRT handler and core dumps, sets the
// policy and makes the call (every misuse check in lithe precedes any lock
// or hart transfer). A lock another thread held at the fork can still hang
// the child on its way there (ASan's allocator, a scheduler's lock taken by
// lithe_context_block); such a child is killed and the misuse retried in a
// new one. Cases that need hart context get there with lithe_context_block,
// whose callback runs on this same kernel thread. If the call returns, the
// child exits 0 and the parent reports that it did not abort.
#include <catch2/catch.hpp>
#include <lithe/fork_join.h>
#include <lithe/lithe.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "support/fork_child.hpp"

namespace {

struct Policy {
    explicit Policy(lithe_misuse_policy p) { lithe_set_misuse_policy(p); }
    ~Policy() { lithe_set_misuse_policy(LITHE_MISUSE_ABORT); }
};

// Forks; the child runs `misuse` with the ABORT policy (retried in a new
// child if the fork left it a lock held: tests/support/fork_child.hpp).
// Callable from any lithe context (the parent side blocks this hart's
// kernel thread briefly while it waits for the child).
forkchild::Result in_child(void (*misuse)(void *), void *arg) {
    return forkchild::run([&] {
        lithe_set_misuse_policy(LITHE_MISUSE_ABORT);
        misuse(arg);
    });
}

#define REQUIRE_ABORTS_NAMING(result, call)              \
    do {                                                 \
        forkchild::Result res_ = (result);               \
        INFO("child stderr: " << res_.err);              \
        CHECK(!res_.hung);                               \
        CHECK(res_.aborted());                           \
        CHECK(res_.err.find(call) != std::string::npos); \
    } while (0)

// Runs fn(arg) in hart context on this hart (from a lithe_context_block
// callback), then resumes the caller. `fn` must not transfer the hart.
struct InHart {
    void (*fn)(void *);
    void *arg;
};
void in_hart_cb(lithe_context_t *self, void *p) {
    auto *h = static_cast<InHart *>(p);
    h->fn(h->arg);
    lithe_context_unblock(self);
}
void in_hart(void (*fn)(void *), void *arg) {
    InHart h{fn, arg};
    lithe_context_block(in_hart_cb, &h);
}
// For the child: enter hart context and stay there (the misuse aborts).
void in_hart_then_exit_cb(lithe_context_t *, void *p) {
    auto *h = static_cast<InHart *>(p);
    h->fn(h->arg);
    _exit(0);
}
void in_hart_no_return(void *p) {
    lithe_context_block(in_hart_then_exit_cb, p);
}

// A plain context of the base scheduler that blocks itself and waits to be
// unblocked; `blocked` is set once it is blocked.
struct Parked {
    lithe_context_t ctx;
    std::atomic<bool> blocked{false}, done{false};
};
void park_cb(lithe_context_t *, void *p) { static_cast<Parked *>(p)->blocked = true; }
void park_body(void *p) {
    auto *pk = static_cast<Parked *>(p);
    lithe_context_block(park_cb, pk);
    pk->done = true;
}
bool exited(lithe_context_t *c) {
    return __atomic_load_n(&c->u->state, __ATOMIC_ACQUIRE) == UTH_ST_EXITED;
}
// Base contexts run FIFO: yielding main lets them run, even on one hart.
template <class Pred>
bool yield_until(Pred pred) {
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!pred()) {
        if (std::chrono::steady_clock::now() > end) return false;
        lithe_context_yield();
    }
    return true;
}
void start_parked(Parked &pk) {
    REQUIRE(lithe_context_init(&pk.ctx, park_body, &pk) == LITHE_OK);
    REQUIRE(lithe_context_unblock(&pk.ctx) == LITHE_OK);
    REQUIRE(yield_until([&] { return pk.blocked.load(); }));
}
void finish_parked(Parked &pk) {
    REQUIRE(lithe_context_unblock(&pk.ctx) == LITHE_OK);
    REQUIRE(yield_until([&] { return pk.done.load() && exited(&pk.ctx); }));
    REQUIRE(lithe_context_cleanup(&pk.ctx) == LITHE_OK);
}

}  // namespace

TEST_CASE("ENOTCURRENT: lithe_sched_exit from the base's main context") {
    {
        Policy ret(LITHE_MISUSE_RETURN);
        CHECK(lithe_sched_exit() == LITHE_ENOTCURRENT);
    }
    REQUIRE_ABORTS_NAMING(in_child([](void *) { lithe_sched_exit(); }, nullptr),
                          "lithe_sched_exit");
    CHECK(lithe_sched_current() == lithe_sched_base());
}

namespace {
struct WorkerExit {
    int rc = 1;
    forkchild::Result child;
};
void worker_exits(void *p) {
    auto *w = static_cast<WorkerExit *>(p);
    lithe_set_misuse_policy(LITHE_MISUSE_RETURN);
    w->rc = lithe_sched_exit();
    lithe_set_misuse_policy(LITHE_MISUSE_ABORT);
    w->child = in_child([](void *) { lithe_sched_exit(); }, nullptr);
}
}  // namespace

TEST_CASE("ENOTCURRENT: lithe_sched_exit from a worker context of an "
          "entered scheduler (not its main context)") {
    lithe_fj_sched_t *s = lithe_fj_sched_create();
    REQUIRE(lithe_sched_enter(&s->sched) == LITHE_OK);
    WorkerExit w;
    lithe_fj_context_create(s, 0, worker_exits, &w);
    lithe_fj_sched_join_all(s);
    CHECK(w.rc == LITHE_ENOTCURRENT);
    REQUIRE_ABORTS_NAMING(w.child, "lithe_sched_exit");
    REQUIRE(lithe_sched_exit() == LITHE_OK);
    lithe_fj_sched_destroy(s);
}

namespace {
struct Grants {
    lithe_sched_t *targets[3];
    int rc[3];
};
void grant_each(void *p) {
    auto *g = static_cast<Grants *>(p);
    for (int i = 0; i < 3; ++i) g->rc[i] = lithe_hart_grant(g->targets[i], nullptr, nullptr);
}
void grant_first(void *p) {
    auto *g = static_cast<Grants *>(p);
    lithe_hart_grant(g->targets[0], nullptr, nullptr);
}
}  // namespace

TEST_CASE("ENOTCHILD: lithe_hart_grant to a scheduler that is not a child "
          "of the current one") {
    lithe_fj_sched_t *p = lithe_fj_sched_create();
    REQUIRE(lithe_sched_enter(&p->sched) == LITHE_OK);
    lithe_fj_sched_t *c = lithe_fj_sched_create();
    REQUIRE(lithe_sched_enter(&c->sched) == LITHE_OK);
    lithe_fj_sched_t *fresh = lithe_fj_sched_create();  // never entered
    // From C's hart context: its parent, the root and a stranger.
    Grants g{{&p->sched, lithe_sched_base(), &fresh->sched}, {1, 1, 1}};
    {
        Policy ret(LITHE_MISUSE_RETURN);
        in_hart(grant_each, &g);
    }
    CHECK(g.rc[0] == LITHE_ENOTCHILD);
    CHECK(g.rc[1] == LITHE_ENOTCHILD);
    CHECK(g.rc[2] == LITHE_ENOTCHILD);
    InHart h{grant_first, &g};
    REQUIRE_ABORTS_NAMING(in_child(in_hart_no_return, &h), "lithe_hart_grant");
    REQUIRE(lithe_sched_exit() == LITHE_OK);
    REQUIRE(lithe_sched_exit() == LITHE_OK);
    lithe_fj_sched_destroy(fresh);
    lithe_fj_sched_destroy(c);
    lithe_fj_sched_destroy(p);
}

namespace {
struct Run {
    lithe_context_t *target;
    int rc = 1;
};
void run_target(void *p) {
    auto *r = static_cast<Run *>(p);
    r->rc = lithe_context_run(r->target);
}
std::atomic<bool> g_spinning{false}, g_stop_spinning{false};
void spin_until_stopped(void *) {
    g_spinning = true;
    while (!g_stop_spinning.load()) __builtin_ia32_pause();
}
}  // namespace

TEST_CASE("ENOTCURRENT: lithe_context_run from hart context on a context "
          "of another scheduler") {
    Parked other;  // a blocked context of the base
    start_parked(other);
    lithe_fj_sched_t *s = lithe_fj_sched_create();
    REQUIRE(lithe_sched_enter(&s->sched) == LITHE_OK);
    Run r{&other.ctx};
    {
        Policy ret(LITHE_MISUSE_RETURN);
        in_hart(run_target, &r);  // current: S
    }
    CHECK(r.rc == LITHE_ENOTCURRENT);
    InHart h{run_target, &r};
    REQUIRE_ABORTS_NAMING(in_child(in_hart_no_return, &h), "lithe_context_run");
    REQUIRE(lithe_sched_exit() == LITHE_OK);
    lithe_fj_sched_destroy(s);
    finish_parked(other);
}

TEST_CASE("ERUNNING: lithe_context_run from hart context on a context "
          "that is running on another hart") {
    if (lithe_num_harts() < 2) {
        WARN("needs 2 harts: with one, no other context can be running while "
             "this hart is in hart context");
        return;
    }
    g_spinning = false;
    g_stop_spinning = false;
    lithe_context_t x;  // a base context, kept running on another hart
    REQUIRE(lithe_context_init(&x, spin_until_stopped, nullptr) == LITHE_OK);
    REQUIRE(lithe_context_unblock(&x) == LITHE_OK);
    REQUIRE(yield_until([] { return g_spinning.load(); }));
    Run r{&x};
    {
        Policy ret(LITHE_MISUSE_RETURN);
        in_hart(run_target, &r);  // current: the base, x's owner
    }
    CHECK(r.rc == LITHE_ERUNNING);
    {
        Policy ret(LITHE_MISUSE_RETURN);
        CHECK(lithe_context_cleanup(&x) == LITHE_ELIVE);  // running: live too
    }
    InHart h{run_target, &r};
    REQUIRE_ABORTS_NAMING(in_child(in_hart_no_return, &h), "lithe_context_run");
    g_stop_spinning = true;
    REQUIRE(yield_until([&] { return exited(&x); }));
    REQUIRE(lithe_context_cleanup(&x) == LITHE_OK);
}

TEST_CASE("ELIVE: lithe_context_cleanup of a live (blocked or running) "
          "context") {
    Parked pk;
    start_parked(pk);
    {
        Policy ret(LITHE_MISUSE_RETURN);
        CHECK(lithe_context_cleanup(&pk.ctx) == LITHE_ELIVE);
    }
    REQUIRE_ABORTS_NAMING(
        in_child([](void *c) { lithe_context_cleanup(static_cast<lithe_context_t *>(c)); },
                 &pk.ctx),
        "lithe_context_cleanup");
    finish_parked(pk);  // still intact: cleaned up properly once exited
}

namespace {
struct Outside {
    int grant = 1, run = 1, yield = 1;
};
void call_outside(void *p) {
    auto *o = static_cast<Outside *>(p);
    o->grant = lithe_hart_grant(lithe_sched_base(), nullptr, nullptr);
    o->run = lithe_context_run(lithe_sched_base()->main_context);
    o->yield = lithe_hart_yield();
}
}  // namespace

TEST_CASE("EWRONGCONTEXT: lithe_hart_grant / lithe_context_run / "
          "lithe_hart_yield outside hart context") {
    Outside in_ctx, foreign;
    {
        Policy ret(LITHE_MISUSE_RETURN);
        call_outside(&in_ctx);  // from a lithe context (main)
        std::thread([&] { call_outside(&foreign); }).join();
    }
    CHECK(in_ctx.grant == LITHE_EWRONGCONTEXT);
    CHECK(in_ctx.run == LITHE_EWRONGCONTEXT);
    CHECK(in_ctx.yield == LITHE_EWRONGCONTEXT);
    CHECK(foreign.grant == LITHE_EWRONGCONTEXT);
    CHECK(foreign.run == LITHE_EWRONGCONTEXT);
    CHECK(foreign.yield == LITHE_EWRONGCONTEXT);
    REQUIRE_ABORTS_NAMING(
        in_child([](void *) { lithe_hart_grant(lithe_sched_base(), nullptr, nullptr); },
                 nullptr),
        "lithe_hart_grant");
    REQUIRE_ABORTS_NAMING(
        in_child([](void *) { lithe_context_run(lithe_sched_base()->main_context); },
                 nullptr),
        "lithe_context_run");
    REQUIRE_ABORTS_NAMING(in_child([](void *) { lithe_hart_yield(); }, nullptr),
                          "lithe_hart_yield");
}

namespace {
// A scheduler whose context_unblock callback asks for a hart: with the
// scheduler not entered, that is the misuse under test. It does not queue
// the context (the test moves it back to the base).
std::atomic<int> g_request_rc{1};
void request_on_unblock(lithe_sched_t *, lithe_context_t *) {
    g_request_rc = lithe_hart_request(1);
}
lithe_sched_funcs requesting_funcs() {
    lithe_sched_funcs f = lithe_fj_sched_funcs;
    f.context_unblock = request_on_unblock;
    return f;
}
const lithe_sched_funcs g_requesting = requesting_funcs();
}  // namespace

TEST_CASE("ESTATE: lithe_hart_request for a scheduler that is not entered "
          "(never, or no more), EWRONGCONTEXT with no scheduler at all") {
    Parked pk;
    start_parked(pk);
    lithe_fj_sched_t *never = lithe_fj_sched_create_funcs(&g_requesting);
    lithe_fj_sched_t *gone = lithe_fj_sched_create_funcs(&g_requesting);
    REQUIRE(lithe_sched_enter(&gone->sched) == LITHE_OK);
    REQUIRE(lithe_sched_exit() == LITHE_OK);
    {
        Policy ret(LITHE_MISUSE_RETURN);
        for (lithe_fj_sched_t *s : {never, gone}) {
            // Unblocking delivers context_unblock to the owner with the
            // owner current: the request inside it is the owner's.
            g_request_rc = 1;
            REQUIRE(lithe_context_reassociate(&pk.ctx, &s->sched) == LITHE_OK);
            REQUIRE(lithe_context_unblock(&pk.ctx) == LITHE_OK);
            CHECK(g_request_rc.load() == LITHE_ESTATE);
            REQUIRE(lithe_context_reassociate(&pk.ctx, lithe_sched_base()) == LITHE_OK);
        }
        int foreign = 1;
        std::thread([&] { foreign = lithe_hart_request(1); }).join();
        CHECK(foreign == LITHE_EWRONGCONTEXT);
    }
    REQUIRE(lithe_context_reassociate(&pk.ctx, &never->sched) == LITHE_OK);
    REQUIRE_ABORTS_NAMING(
        in_child([](void *c) { lithe_context_unblock(static_cast<lithe_context_t *>(c)); },
                 &pk.ctx),
        "lithe_hart_request");
    REQUIRE(lithe_context_reassociate(&pk.ctx, lithe_sched_base()) == LITHE_OK);
    finish_parked(pk);
    lithe_fj_sched_destroy(never);
    lithe_fj_sched_destroy(gone);
}

TEST_CASE("ESTATE: lithe_sched_enter of an already-entered scheduler") {
    lithe_fj_sched_t *s = lithe_fj_sched_create();
    REQUIRE(lithe_sched_enter(&s->sched) == LITHE_OK);
    {
        Policy ret(LITHE_MISUSE_RETURN);
        CHECK(lithe_sched_enter(&s->sched) == LITHE_ESTATE);
        CHECK(lithe_sched_enter(lithe_sched_base()) == LITHE_ESTATE);
        CHECK(lithe_sched_current() == &s->sched);
    }
    REQUIRE_ABORTS_NAMING(
        in_child([](void *s) { lithe_sched_enter(static_cast<lithe_sched_t *>(s)); },
                 &s->sched),
        "lithe_sched_enter");
    REQUIRE(lithe_sched_exit() == LITHE_OK);
    {
        // Exited, not re-initialised: still not enterable.
        Policy ret(LITHE_MISUSE_RETURN);
        CHECK(lithe_sched_enter(&s->sched) == LITHE_ESTATE);
    }
    lithe_fj_sched_destroy(s);
}

namespace {
std::atomic<bool> g_hold{false};
void wait_for_release(void *) {
    while (g_hold.load()) lithe_context_yield();
}
}  // namespace

TEST_CASE("EBUSY: lithe_sched_exit while the scheduler still owns "
          "contexts") {
    lithe_fj_sched_t *s = lithe_fj_sched_create();
    REQUIRE(lithe_sched_enter(&s->sched) == LITHE_OK);
    g_hold = true;
    REQUIRE(lithe_fj_context_create(s, 0, wait_for_release, nullptr));
    {
        Policy ret(LITHE_MISUSE_RETURN);
        CHECK(lithe_sched_exit() == LITHE_EBUSY);
        CHECK(lithe_sched_current() == &s->sched);  // still entered
    }
    REQUIRE_ABORTS_NAMING(in_child([](void *) { lithe_sched_exit(); }, nullptr),
                          "lithe_sched_exit");
    g_hold = false;
    lithe_fj_sched_join_all(s);
    REQUIRE(lithe_sched_exit() == LITHE_OK);
    lithe_fj_sched_destroy(s);
}

TEST_CASE("ERUNNING: lithe_context_unblock of a context that is not "
          "blocked") {
    {
        Policy ret(LITHE_MISUSE_RETURN);
        CHECK(lithe_context_unblock(lithe_context_self()) == LITHE_ERUNNING);
    }
    REQUIRE_ABORTS_NAMING(
        in_child([](void *) { lithe_context_unblock(lithe_context_self()); }, nullptr),
        "lithe_context_unblock");
}
