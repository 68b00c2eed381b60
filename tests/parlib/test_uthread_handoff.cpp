// uthread_yield_to (direct hand-off): the exact order of caller, callback
// and target; the state the callback sees (caller saved and published, not
// on the caller's stack, vcore-context view); per-uthread TLS across
// randomised hand-offs mixed with migrating yields, and each uthread's
// rounding mode (MXCSR and x87 CW) across them; queued events diverting
// the hand-off through vcore context; misuse aborting with the call's name;
// and every full/lightweight combination with exceptions thrown after each
// resumption (in the sanitizer build ASan aborts if a fiber annotation is
// missing or unpaired, or reports the stale poison a wrong stack leaves).
// Uthreads count failures in atomics; only main asserts.
#include <catch2/catch.hpp>

#include <pthread.h>
#include <xmmintrin.h>

#include <atomic>
#include <cerrno>
#include <cfenv>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <parlib/event.h>

#include "support/rotate_sched.hpp"
#include "support/self_exec.hpp"

namespace {

bool on_stack_of(const uthread *u, const void *p) {
    auto a = reinterpret_cast<uintptr_t>(p);
    auto lo = reinterpret_cast<uintptr_t>(u->stack_lo);
    return a >= lo && a < lo + u->stack_size;
}

// Makes a rotate::Thread that is READY but not queued: only a hand-off
// runs it first.
rotate::Thread *make_unqueued(void (*fn)(void *), void *arg, bool own_tls) {
    auto *t = new rotate::Thread;
    uthread_attr a{0, own_tls};
    REQUIRE(uthread_init(&t->u, fn, arg, &a) == 0);
    return t;
}

// ---- order and callback context -------------------------------------------

struct CbView {
    uthread *self = nullptr, *from = nullptr, *current = nullptr;
    bool vcore_ctx = false, on_from_stack = false;
    uint32_t from_state = 0;
    const void *local = nullptr;  // an address on the callback's stack
};

std::string g_log;  // appended strictly in turn (one runs at a time)
rotate::Thread *g_a, *g_b;
CbView g_view[4];

void view_cb(uthread *from, void *p) {
    auto *v = static_cast<CbView *>(p);
    int local = 0;
    v->self = uthread_self();
    v->from = from;
    v->current = current_uthread();
    v->vcore_ctx = in_vcore_context();
    v->from_state = __atomic_load_n(&from->state, __ATOMIC_ACQUIRE);
    v->on_from_stack = on_stack_of(from, &local);
    v->local = &local;
    errno = EINTR;  // must not leak into the target's errno
    g_log += 'c';
}

void order_a(void *) {
    g_log += 'A';
    errno = 222;
    uthread_yield_to(&g_b->u, true, view_cb, &g_view[1]);
    g_log += (errno == 222) ? 'A' : 'X';
    // Exit straight into main: EXITED and thread_exited before main runs.
    uthread_yield_to(&rotate::g_main, false, view_cb, &g_view[2]);
}

void order_b(void *) {
    g_log += 'B';
    errno = 333;
    uthread_yield_to(&g_a->u, true, view_cb, &g_view[3]);
    g_log += (errno == 333) ? 'B' : 'Y';
}

TEST_CASE("yield_to runs the target next, after a callback in vcore view") {
    rotate::init();
    for (bool light : {false, true}) {
        g_log.clear();
        g_a = make_unqueued(order_a, nullptr, !light);  // A full or light,
        g_b = make_unqueued(order_b, nullptr, light);   // B the other kind
        errno = 111;
        uthread_yield_to(&g_a->u, true, view_cb, &g_view[0]);
        g_log += (errno == 111) ? 'M' : 'Z';
        REQUIRE(g_a->done.load());  // thread_exited ran before main resumed
        // The callbacks ran on the target's stack (main's is not recorded).
        CHECK(on_stack_of(&g_a->u, g_view[0].local));
        CHECK(on_stack_of(&g_b->u, g_view[1].local));
        CHECK(on_stack_of(&g_a->u, g_view[3].local));
        // Resume B; main comes back through the scheduler after B exits.
        uthread_yield_to(&g_b->u, true,
                         [](uthread *self, void *) { uthread_runnable(self); },
                         nullptr);
        rotate::join(g_b);
        rotate::join(g_a);
        INFO("light A: " << light);
        REQUIRE(g_log == "cAcBcAcMB");
        uthread *from[] = {&rotate::g_main, &g_a->u, &g_a->u, &g_b->u};
        uint32_t st[] = {UTH_ST_READY, UTH_ST_READY, UTH_ST_EXITED,
                         UTH_ST_READY};
        for (int i = 0; i < 4; ++i) {
            INFO("hand-off " << i);
            CHECK(g_view[i].self == nullptr);
            CHECK(g_view[i].vcore_ctx);
            CHECK(g_view[i].current == nullptr);
            CHECK(g_view[i].from == from[i]);
            CHECK(g_view[i].from_state == st[i]);
            CHECK_FALSE(g_view[i].on_from_stack);
        }
    }
}

// ---- TLS isolation across random hand-offs and migrations -----------------

constexpr int kWorkers = 12;
constexpr int kIters = 4000;

__thread long tv_id = -1;
thread_local long tl_id = -1;

struct Stress {
    std::atomic<bool> lock{false};
    std::vector<uthread *> parked;  // READY, taken only by a hand-off
    std::atomic<long> handoffs{0}, migrations{0}, failures{0}, cb_bad{0};
};
Stress *g_st;

uthread *take_parked() {
    Stress &s = *g_st;
    while (s.lock.exchange(true)) __builtin_ia32_pause();
    uthread *u = nullptr;
    if (!s.parked.empty()) {
        u = s.parked.back();
        s.parked.pop_back();
    }
    s.lock.store(false);
    return u;
}

// Hand-off callback: the caller is parked for a later hand-off, or queued
// on the next vcore if half the workers are parked already. Whoever parks
// it hands off to a uthread that will look at the parked list again before
// exiting (and exits into a parked one if there is any), so nobody is
// stranded. It clobbers errno, as any callback making a syscall may.
void park_or_queue(uthread *self, void *) {
    errno = EINTR;
    if (uthread_self() || !in_vcore_context()) g_st->cb_bad.fetch_add(1);
    Stress &s = *g_st;
    while (s.lock.exchange(true)) __builtin_ia32_pause();
    bool park = s.parked.size() < kWorkers / 2;
    if (park) s.parked.push_back(self);
    s.lock.store(false);
    if (!park) rotate::push(rotate::next_vcore(), self);
}

struct Worker {
    rotate::Thread *t = nullptr;
    long id = 0;
    bool own_tls = true;
};

// Floating-point control words travel with the uthread (parlib compares
// them on resume and reloads only what differs, in places without reading
// them again): each worker runs with its own rounding mode, changed every
// 256 iterations, and checks it in the x87 CW (fegetround) and in MXCSR.
constexpr int kModes[] = {FE_TONEAREST, FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};

int mode_of(const Worker &w, int k) { return kModes[(w.id + k / 256) % 4]; }

bool rounding_is(int mode) {
    // MXCSR's rounding field (bits 13-14) encodes modes like the x87 CW's
    // (bits 10-11), which is what the FE_* values are.
    return fegetround() == mode &&
           static_cast<int>(_mm_getcsr() & 0x6000) == mode << 3;
}

void stress_body(Worker &w) {
    Stress &s = *g_st;
    std::minstd_rand rng(static_cast<unsigned>(w.id) * 7919u + 1);
    pthread_t me = pthread_self();
    volatile long on_stack = w.id;
    if (w.own_tls) tv_id = tl_id = w.id;
    for (int k = 0; k < kIters; ++k) {
        if (k % 256 == 0) fesetround(mode_of(w, k));
        if (w.own_tls) errno = static_cast<int>(w.id * 10000 + k);
        int before = vcore_id();
        try {
            if (rng() % 2) {
                if (uthread *p = take_parked()) {
                    s.handoffs.fetch_add(1, std::memory_order_relaxed);
                    uthread_yield_to(p, true, park_or_queue, nullptr);
                } else {
                    rotate::yield();
                }
            } else {
                rotate::yield();
            }
            if (k % 64 == 0) throw std::runtime_error("across a switch");
        } catch (const std::runtime_error &) {
        }
        if (vcore_id() != before) s.migrations.fetch_add(1);
        bool ok = on_stack == w.id && uthread_self() == &w.t->u &&
                  !in_vcore_context() && rounding_is(mode_of(w, k));
        if (w.own_tls)
            ok = ok && errno == static_cast<int>(w.id * 10000 + k) &&
                 tv_id == w.id && tl_id == w.id && pthread_self() == me;
        if (!ok) s.failures.fetch_add(1);
    }
}

void stress_main(void *p) {
    auto &w = *static_cast<Worker *>(p);
    stress_body(w);
    if (uthread *next = take_parked())
        uthread_yield_to(next, false, nullptr, nullptr);
}

TEST_CASE("per-uthread TLS survives random hand-offs and migrations") {
    rotate::init();
    g_st = new Stress;
    std::vector<Worker> ws(kWorkers);
    for (int i = 0; i < kWorkers; ++i) {
        ws[i].id = i;
        ws[i].own_tls = i % 4 != 3;  // a quarter lightweight
        ws[i].t = make_unqueued(stress_main, &ws[i], ws[i].own_tls);
    }
    // Half start parked (first run by a hand-off), half queued. Main fills
    // the parked list without its lock, so before the first worker runs: a
    // worker on another vcore would race with the push_back.
    for (auto &w : ws)
        if (w.id % 2) g_st->parked.push_back(&w.t->u);
    for (auto &w : ws)
        if (w.id % 2 == 0) uthread_runnable(&w.t->u);
    for (auto &w : ws) rotate::join(w.t);
    INFO("hand-offs " << g_st->handoffs << ", migrations "
                      << g_st->migrations);
    REQUIRE(rounding_is(FE_TONEAREST));  // main's own, never changed
    REQUIRE(g_st->failures == 0);
    REQUIRE(g_st->cb_bad == 0);
    REQUIRE(g_st->parked.empty());
    REQUIRE(g_st->handoffs > kWorkers * kIters / 8);
    if (max_vcores() > 1) REQUIRE(g_st->migrations > 0);
}

// ---- queued events divert the hand-off through vcore context --------------

constexpr unsigned kProbeEvent = EV_USER + 31;
std::string g_ev_log;

void log_b(void *) { g_ev_log += 'B'; }

void log_cb_requeue(uthread *self, void *) {
    g_ev_log += 'c';
    uthread_runnable(self);
}

TEST_CASE("events queued before a hand-off run between callback and target") {
    rotate::init();
    register_ev_handler(
        kProbeEvent, [](event_msg *, unsigned, void *) { g_ev_log += 'H'; },
        nullptr);
    event_msg msg{};
    for (bool queued : {false, true, false, true}) {
        g_ev_log.clear();
        rotate::Thread *b = make_unqueued(log_b, nullptr, true);
        uth_disable_notifs();  // no migration between the send and the switch
        if (queued) send_event(&msg, kProbeEvent, vcore_id(), 0);
        uth_enable_notifs();
        uthread_yield_to(&b->u, true, log_cb_requeue, nullptr);
        rotate::join(b);
        INFO("event queued: " << queued);
        REQUIRE(g_ev_log == (queued ? "cHB" : "cB"));
    }
}

// ---- misuse ----------------------------------------------------------------

void nothing(void *) {}

TEST_CASE("child: yield_to an exited uthread", "[.]") {
    rotate::init();
    rotate::Thread *t = make_unqueued(nothing, nullptr, true);
    uthread_runnable(&t->u);
    while (!t->done.load()) rotate::yield();
    uthread_yield_to(&t->u, true, nullptr, nullptr);
}

TEST_CASE("child: yield_to the caller", "[.]") {
    rotate::init();
    uthread_yield_to(uthread_self(), true, nullptr, nullptr);
}

TEST_CASE("child: run_uthread in a yield_to callback", "[.]") {
    rotate::init();
    rotate::Thread *a = make_unqueued(nothing, nullptr, true);
    rotate::Thread *b = make_unqueued(nothing, nullptr, true);
    uthread_yield_to(&a->u, true,
                     [](uthread *, void *p) { run_uthread(static_cast<uthread *>(p)); },
                     &b->u);
}

TEST_CASE("yield_to misuse aborts naming the call") {
    rotate::init();
    struct Case {
        const char *child, *call, *what;
    } cases[] = {
        {"child: yield_to an exited uthread", "uthread_yield_to", "exited"},
        {"child: yield_to the caller", "uthread_yield_to", "the caller"},
        {"child: run_uthread in a yield_to callback", "run_uthread",
         "uthread_yield_to callback"},
    };
    for (const Case &c : cases) {
        auto r = selfexec::run(c.child, {}, 20000);
        INFO(c.child << "\n" << r.output);
        REQUIRE_FALSE(r.timed_out);
        REQUIRE(r.signal == SIGABRT);
        REQUIRE(r.output.find(c.call) != std::string::npos);
        REQUIRE(r.output.find(c.what) != std::string::npos);
    }
}

// ---- full / lightweight matrix with exceptions ------------------------------

// Deep frames with arrays (ASan redzones) between a throw and its catch: if
// ASan believed another stack current when the exception left them, their
// poison would stay and deep_touch, reusing those addresses, would be
// reported.
__attribute__((noinline)) void deep_throw(int d) {
    volatile char buf[96];
    buf[0] = static_cast<char>(d);
    if (d == 0) throw d + buf[0];
    deep_throw(d - 1);
}

__attribute__((noinline)) long deep_touch(int d) {
    volatile char buf[200];
    memset(const_cast<char *>(buf), d, sizeof buf);
    return buf[d % 200] + (d ? deep_touch(d - 1) : 0);
}

struct PingPong {
    rotate::Thread *t[2];
    long rounds = 0;
    std::atomic<long> bad{0};
};

template <int kSide>
void pingpong(void *p) {
    auto &pp = *static_cast<PingPong *>(p);
    for (long i = 0; i < pp.rounds; ++i) {
        try {
            deep_throw(8);
        } catch (int) {
        }
        deep_touch(10);
        if (uthread_self() != &pp.t[kSide]->u) pp.bad.fetch_add(1);
        if (kSide == 1 && i + 1 == pp.rounds) break;
        uthread_yield_to(&pp.t[1 - kSide]->u, true, nullptr, nullptr);
    }
    // Side 1 ends first and exits into side 0 (which then exits into main).
    uthread_yield_to(kSide ? &pp.t[0]->u : &rotate::g_main, false, nullptr,
                     nullptr);
}

TEST_CASE("hand-offs between every kind of uthread, with exceptions") {
    rotate::init();
    for (int kinds = 0; kinds < 4; ++kinds) {
        for (int rep = 0; rep < 20; ++rep) {  // reuses pooled light stacks
            PingPong pp;
            pp.rounds = 50;
            pp.t[0] = make_unqueued(pingpong<0>, &pp, kinds & 1);
            pp.t[1] = make_unqueued(pingpong<1>, &pp, kinds & 2);
            uthread_yield_to(&pp.t[0]->u, true, nullptr, nullptr);
            INFO("kinds " << kinds);
            REQUIRE(pp.t[0]->done.load());
            REQUIRE(pp.t[1]->done.load());
            REQUIRE(pp.bad == 0);
            rotate::join(pp.t[0]);
            rotate::join(pp.t[1]);
        }
    }
}

}  // namespace
