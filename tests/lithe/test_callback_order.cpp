// Each lithe call and the exact callbacks it triggers, in order (thesis
// Table 3.1, Figure 3.5), checked on traces recorded by traced fork-join
// schedulers (callback_trace.hpp).
//
// Callbacks of one call run on one hart in sequence, so each expectation is
// stated per hart: the records of the calling hart between two markers, or
// the records that follow an event on its hart. Other harts may record
// concurrently (granted harts, foreign unblockers); they are filtered out by
// hart, never by timing. Only the Catch thread (main) asserts; contexts,
// callbacks and foreign threads leave results in variables it checks.
#include <catch2/catch.hpp>
#include <lithe/fork_join.h>
#include <lithe/lithe.h>
#include <parlib/uthread.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "callback_trace.hpp"

using namespace trace;
using Strings = std::vector<std::string>;

namespace {

struct Stats : lithe_sched_stats {};
Stats stats(lithe_sched_t *s) {
    Stats st;
    lithe_sched_stats(s, &st);
    return st;
}

// A foreign (non-lithe) thread that waits until a context has published
// itself as blocked, then until `pred` holds, then wakes it with `wake`.
struct ForeignWaker {
    std::atomic<void *> blocked{nullptr};
    std::atomic<bool> done{false};
    bool timed_out = false;
    lithe_sched_t *current_after = nullptr;
    int rc = 1;
    std::thread t;

    template <class Pred, class Wake>
    void start(Pred pred, Wake wake) {
        t = std::thread([this, pred, wake] {
            void *b;
            while (!(b = blocked.load(std::memory_order_acquire)))
                std::this_thread::sleep_for(std::chrono::microseconds(50));
            auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
            while (!pred()) {
                if (std::chrono::steady_clock::now() > end) {
                    timed_out = true;
                    break;
                }
                std::this_thread::sleep_for(std::chrono::microseconds(100));
            }
            rc = wake(b);
            current_after = lithe_sched_current();
            done.store(true, std::memory_order_release);
        });
    }
    // Called by the woken context once it runs again.
    void finish() {
        while (!done.load(std::memory_order_acquire)) __builtin_ia32_pause();
        t.join();
    }
};

void publish_blocked(lithe_context_t *c, void *w) {
    rec(Ev::BlockFn, lithe_sched_current(), nullptr, c);
    static_cast<ForeignWaker *>(w)->blocked.store(c, std::memory_order_release);
}

// Blocks the calling context with lithe_context_block until pred() holds;
// a foreign thread unblocks it (progress never needs this hart).
template <class Pred>
void block_until(Pred pred, ForeignWaker &w) {
    w.start(pred, [](void *c) {
        return lithe_context_unblock(static_cast<lithe_context_t *>(c));
    });
    lithe_context_block(publish_blocked, &w);
    w.finish();
}

struct MaskGuard {
    uint32_t saved = g_mask.load();
    explicit MaskGuard(uint32_t m) { g_mask.store(m); }
    ~MaskGuard() { g_mask.store(saved); }
};

int hart_of(size_t i) { return at(i).hart; }

// Finds the first record at index > after matching `s` (SIZE_MAX if none).
size_t find_after(size_t after, const std::string &s) {
    std::vector<std::pair<size_t, Rec>> all;
    read(after + 1, all);
    for (auto &[i, r] : all)
        if (str(r) == s) return i;
    return SIZE_MAX;
}

// From C's main context (C a child of P, P of the base): exits both.
void exit_both(lithe_fj_sched_t *c, lithe_fj_sched_t *p) {
    REQUIRE(lithe_sched_exit() == LITHE_OK);
    REQUIRE(lithe_sched_current() == &p->sched);
    REQUIRE(lithe_sched_exit() == LITHE_OK);
    REQUIRE(lithe_sched_current() == lithe_sched_base());
    lithe_fj_sched_destroy(c);
    lithe_fj_sched_destroy(p);
}

}  // namespace

TEST_CASE("sched_enter: parent.child_enter(child), then child.sched_enter, "
          "on the entering hart, sched_exit: child_exit, then sched_exit") {
    lithe_fj_sched_t *p = make("P");
    size_t m0 = mark();
    REQUIRE(lithe_sched_enter(&p->sched) == LITHE_OK);
    size_t m1 = mark();
    // The base is not traced: only P's own callback shows.
    CHECK(on_hart(m0, m1, hart_of(m1)) == Strings{"sched_enter P cur=P in=hart"});
    REQUIRE(hart_of(m0) == hart_of(m1));

    lithe_fj_sched_t *c = make("C");
    size_t m2 = mark();
    REQUIRE(lithe_sched_enter(&c->sched) == LITHE_OK);
    size_t m3 = mark();
    REQUIRE(hart_of(m2) == hart_of(m3));
    CHECK(on_hart(m2, m3, hart_of(m3)) ==
          Strings{"child_enter P child=C cur=P in=hart",
                  "sched_enter C cur=C in=hart"});
    // The caller was promoted to C's main context.
    REQUIRE(lithe_sched_current() == &c->sched);
    REQUIRE(lithe_context_self() == &c->main);
    CHECK(stats(&p->sched).children == 1);
    CHECK(stats(&c->sched).harts >= 1);

    size_t m4 = mark();
    REQUIRE(lithe_sched_exit() == LITHE_OK);
    size_t m5 = mark();
    CHECK(on_hart(m4, m5, hart_of(m5)) ==
          Strings{"child_exit P child=C cur=P in=hart",
                  "sched_exit C cur=C in=hart"});
    REQUIRE(lithe_sched_current() == &p->sched);
    REQUIRE(lithe_context_self() == &p->main);
    CHECK(stats(&p->sched).children == 0);
    CHECK(stats(&c->sched).harts == 0);

    size_t m6 = mark();
    REQUIRE(lithe_sched_exit() == LITHE_OK);
    size_t m7 = mark();
    CHECK(on_hart(m6, m7, hart_of(m7)) == Strings{"sched_exit P cur=P in=hart"});
    REQUIRE(lithe_context_self() == lithe_sched_base()->main_context);
    lithe_fj_sched_destroy(c);
    lithe_fj_sched_destroy(p);
}

namespace {
// One granted hart entering C spins (in hart context) until released, so C
// holds a second hart while its main context calls lithe_sched_exit.
std::atomic<bool> g_hold_arm{false}, g_holding{false}, g_release{false};
void hold_hart_enter(lithe_sched_t *self) {
    if (g_hold_arm.exchange(false)) {
        g_holding = true;
        while (!g_release.load()) __builtin_ia32_pause();
    }
    lithe_fj_hart_enter(self);
}
}  // namespace

TEST_CASE("sched_exit returns only once the child holds no other hart") {
    if (lithe_num_harts() < 2) {
        WARN("needs 2 harts (PARLIB_VCORES >= 2): C cannot hold a second one");
        return;
    }
    lithe_fj_sched_t *p = make("P");
    REQUIRE(lithe_sched_enter(&p->sched) == LITHE_OK);
    Hooks h;
    h.hart_enter = hold_hart_enter;
    lithe_fj_sched_t *c = make("C", &h);
    REQUIRE(lithe_sched_enter(&c->sched) == LITHE_OK);

    g_hold_arm = true;
    REQUIRE(lithe_hart_request(1) == LITHE_OK);
    REQUIRE(spin_until([&] {
        return g_holding.load() && stats(&c->sched).harts == 2;
    }));
    // C holds its second hart: withdraw the demand, as a scheduler does
    // once it has what it asked for (otherwise P keeps offering the exiting
    // C harts, each refused with LITHE_EEXITING, flooding the trace).
    REQUIRE(lithe_hart_request(-1) == LITHE_OK);
    size_t released = SIZE_MAX;
    std::thread releaser([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        released = mark(1);
        g_release = true;
    });
    // For the ~30 ms the exit waits, its main context is parked (no
    // callbacks of its own), but other harts may still pass through P and
    // the base: keep only what this test orders, so that the indices below
    // come from this exit alone.
    size_t m1, m2;
    {
        MaskGuard only(trace::bit(trace::Ev::ChildExit) |
                              trace::bit(trace::Ev::HartReturn) |
                              trace::bit(trace::Ev::SchedExit) |
                              trace::bit(trace::Ev::Mark));
        m1 = mark();
        REQUIRE(lithe_sched_exit() == LITHE_OK);
        m2 = mark();
        releaser.join();
    }
    // The exit could only complete after the held hart was released and
    // had gone back to P (hart_return), so these indices are ordered.
    size_t child_exit = find_after(m1, "child_exit P child=C cur=P in=hart");
    REQUIRE(child_exit < m2);
    REQUIRE(released < child_exit);
    size_t ret = find_after(released, "hart_return P child=C cur=P in=hart");
    REQUIRE(ret < child_exit);
    CHECK(next_on_hart_wait(child_exit - 1, hart_of(m2), 2) ==
          Strings{"child_exit P child=C cur=P in=hart",
                  "sched_exit C cur=C in=hart"});
    REQUIRE(lithe_sched_exit() == LITHE_OK);
    lithe_fj_sched_destroy(c);
    lithe_fj_sched_destroy(p);
    g_release = false;
    g_holding = false;
}

namespace {
// "Manual" parent for Figure 3.5: it grants to its child C by hand, with a
// recording unlock callback, under the accounting rule every scheduler of
// the repository uses (docs/lithe.md, "Accounting"): every delta of C is
// forwarded to P's parent, and P grants C a hart while C's subtree holds
// no more harts than C requested. C is kept off the fork-join child list
// so that only this code grants to it.
//
// The request is a level ("C wants this many harts besides its entry
// hart"), not a count of grants owed: C's main asks for 2 harts it has no
// context for, so the first two harts granted to C withdraw one each (in
// C's hart_enter, on the granted hart) and go back, as a scheduler does
// with a hart it cannot use. Without that P would grant them straight back
// for as long as C asks; and a count kept by P instead (the earlier
// version) lost the grant that C's unblocked main needed when it landed
// before the unblocked main was queued (fork-join requests, then queues).
std::atomic<int> g_unlocks{0};
std::atomic<int> g_consume{0};       // grants C still gives back
std::atomic<bool> g_granted[64];     // per hart: a grant's unlock ran
std::atomic<lithe_sched_t *> g_grant_child{nullptr};

void unlock_rec(void *) {
    rec(Ev::Unlock, nullptr);
    g_unlocks.fetch_add(1);
    g_granted[vcore_id() % 64] = true;
}
void manual_hart_request(lithe_sched_t *, lithe_sched_t *, int d) {
    lithe_hart_request(d);
}
void manual_child_enter(lithe_sched_t *, lithe_sched_t *c) { g_grant_child = c; }
void manual_child_exit(lithe_sched_t *self, lithe_sched_t *c) {
    g_grant_child = nullptr;
    lithe_fj_child_exit(self, c);  // withdraws what C still asked for
}
void manual_hart_enter(lithe_sched_t *self) {
    if (lithe_sched_t *c = g_grant_child.load()) {
        Stats st = stats(c);
        if (st.subtree_harts <= st.requested)
            lithe_hart_grant(c, unlock_rec, nullptr);
        // Returned: C is exiting.
    }
    lithe_fj_hart_enter(self);
}
void consuming_hart_enter(lithe_sched_t *self) {
    if (g_granted[vcore_id() % 64].exchange(false)) {
        int n = g_consume.load();
        while (n > 0 && !g_consume.compare_exchange_weak(n, n - 1)) {
        }
        if (n > 0) lithe_hart_request(-1);
    }
    lithe_fj_hart_enter(self);
}
}  // namespace

TEST_CASE("Figure 3.5: hart_request is delivered synchronously to the "
          "parent, a later grant runs the unlock callback, then the child's "
          "hart_enter on the granted hart, negative deltas are delivered") {
    g_unlocks = 0;
    g_consume = 2;
    Hooks ph;
    ph.hart_request = manual_hart_request;
    ph.child_enter = manual_child_enter;
    ph.child_exit = manual_child_exit;
    ph.hart_enter = manual_hart_enter;
    lithe_fj_sched_t *p = make("P", &ph);
    REQUIRE(lithe_sched_enter(&p->sched) == LITHE_OK);
    Hooks ch;
    ch.hart_enter = consuming_hart_enter;
    lithe_fj_sched_t *c = make("C", &ch);
    REQUIRE(lithe_sched_enter(&c->sched) == LITHE_OK);

    size_t m1 = mark();
    REQUIRE(lithe_hart_request(2) == LITHE_OK);
    size_t m2 = mark();
    REQUIRE(hart_of(m1) == hart_of(m2));
    // Synchronous, in the caller's context, with P current during it.
    CHECK(on_hart(m1, m2, hart_of(m1)) ==
          Strings{"hart_request P child=C delta=2 ctx=C.main cur=P in=ctx"});
    // (Grants, and C giving them back, may already be under way.)
    CHECK(stats(&c->sched).requested <= 2);

    // Let the two grants happen (on one hart, C's must be given back first).
    ForeignWaker w;
    block_until([] { return g_unlocks.load() >= 2; }, w);
    REQUIRE_FALSE(w.timed_out);
    REQUIRE(w.rc == LITHE_OK);

    size_t unblock = find_after(m2, "context_unblock C ctx=C.main cur=C in=foreign");
    REQUIRE(unblock != SIZE_MAX);
    // Grants may start as soon as the request reached the base, before m2.
    std::vector<size_t> grants;
    {
        std::vector<std::pair<size_t, Rec>> all;
        read(m1 + 1, all);
        for (auto &[i, r] : all)
            if (r.ev == Ev::Unlock && i < unblock) grants.push_back(i);
    }
    REQUIRE(grants.size() == 2);
    for (size_t u : grants) {
        int hart = hart_of(u);
        std::vector<std::pair<size_t, Rec>> all;
        read(m1 + 1, all);
        std::string before;
        for (auto &[i, r] : all)
            if (i < u && r.hart == hart) before = str(r);
        CAPTURE(u, hart);
        CHECK(before == "hart_enter P cur=P in=hart");
        CHECK(str(at(u)) == "unlock null cur=C in=hart");
        // C gives the hart back: its -1 reaches P synchronously, on the
        // granted hart.
        CHECK(next_on_hart_wait(u, hart, 2) ==
              Strings{"hart_enter C cur=C in=hart",
                      "hart_request P child=C delta=-1 cur=P in=hart"});
    }
    // +2 asked, -1 while main was blocked, -2 given back, +1 unblocked.
    CHECK(stats(&c->sched).requested == 0);
    CHECK(stats(&p->sched).requested == 0);

    size_t m3 = mark();
    REQUIRE(lithe_hart_request(-1) == LITHE_OK);
    size_t m4 = mark();
    CHECK(on_hart(m3, m4, hart_of(m3)) ==
          Strings{"hart_request P child=C delta=-1 ctx=C.main cur=P in=ctx"});
    CHECK(stats(&c->sched).requested == -1);
    CHECK(stats(&p->sched).requested == -1);
    REQUIRE(lithe_hart_request(1) == LITHE_OK);
    exit_both(c, p);
}

TEST_CASE("a grandchild's request propagates through every ancestor to the "
          "base, which grants the hart down the tree") {
    MaskGuard only(bit(Ev::HartRequest) | bit(Ev::Mark));
    lithe_fj_sched_t *p = make("P");
    REQUIRE(lithe_sched_enter(&p->sched) == LITHE_OK);
    lithe_fj_sched_t *c = make("C");
    REQUIRE(lithe_sched_enter(&c->sched) == LITHE_OK);
    lithe_fj_sched_t *g = make("G");
    REQUIRE(lithe_sched_enter(&g->sched) == LITHE_OK);
    uint64_t p_grants = stats(&p->sched).grants_received;
    uint64_t base_grants = stats(lithe_sched_base()).grants_made;

    size_t m1 = mark();
    REQUIRE(lithe_hart_request(2) == LITHE_OK);
    size_t m2 = mark();
    CHECK(on_hart(m1, m2, hart_of(m1)) ==
          Strings{"hart_request C child=G delta=2 ctx=G.main cur=C in=ctx",
                  "hart_request P child=C delta=2 ctx=G.main cur=P in=ctx"});
    CHECK(stats(&g->sched).requested == 2);
    CHECK(stats(&c->sched).requested == 2);
    CHECK(stats(&p->sched).requested == 2);

    // G gets a hart: at least the one its blocked main gives up, which C
    // grants back. With more harts the request also reached the base, the
    // only scheduler that can grant P a hart: even with G's main blocked
    // (-1), G's subtree wants 2 harts (requested 1, plus the hart it was
    // entered on) and P's subtree holds at most the blocked main's one, so
    // P is eventually granted one. (With a request of 1 it would not be:
    // once the main blocks, the hart it gives up is all G wants.)
    bool multi = lithe_num_harts() >= 2;
    ForeignWaker w;
    block_until([&] {
        return stats(&g->sched).grants_received >= 1 &&
               (!multi || stats(&p->sched).grants_received > p_grants);
    }, w);
    REQUIRE_FALSE(w.timed_out);
    if (multi) CHECK(stats(lithe_sched_base()).grants_made > base_grants);

    size_t m3 = mark();
    REQUIRE(lithe_hart_request(-2) == LITHE_OK);
    size_t m4 = mark();
    CHECK(on_hart(m3, m4, hart_of(m3)) ==
          Strings{"hart_request C child=G delta=-2 ctx=G.main cur=C in=ctx",
                  "hart_request P child=C delta=-2 ctx=G.main cur=P in=ctx"});
    CHECK(stats(&g->sched).requested == 0);
    CHECK(stats(&c->sched).requested == 0);
    CHECK(stats(&p->sched).requested == 0);
    REQUIRE(lithe_sched_exit() == LITHE_OK);
    exit_both(c, p);
    lithe_fj_sched_destroy(g);
}

namespace {
// The first hart entering C withdraws the test's +1, then yields: C no
// longer wants it, so P keeps it. (A hart yielded while C still asks for
// it is granted straight back, for as long as C asks: the request is a
// level, not a count of grants, docs/lithe.md "Accounting"; the earlier
// version of this test cycled the hart through P and C at full speed until
// the main context withdrew, which overflowed the trace under load.)
std::atomic<bool> g_yield_now{false};
std::atomic<bool> g_yielded{false};
void yielding_hart_enter(lithe_sched_t *self) {
    if (g_yield_now.exchange(false)) {
        lithe_hart_request(-1);
        mark(7);
        g_yielded = true;
        lithe_hart_yield();
    }
    lithe_fj_hart_enter(self);
}
}  // namespace

TEST_CASE("hart_yield: parent.hart_return(child), then parent.hart_enter, "
          "on the yielding hart") {
    lithe_fj_sched_t *p = make("P");
    REQUIRE(lithe_sched_enter(&p->sched) == LITHE_OK);
    Hooks ch;
    ch.hart_enter = yielding_hart_enter;
    lithe_fj_sched_t *c = make("C", &ch);
    REQUIRE(lithe_sched_enter(&c->sched) == LITHE_OK);
    g_yielded = false;
    g_yield_now = true;
    size_t m0 = mark();
    // Some hart of C enters hart_enter (a granted one, or ours when we block)
    // and yields there.
    REQUIRE(lithe_hart_request(1) == LITHE_OK);
    ForeignWaker w;
    block_until([] { return g_yielded.load(); }, w);
    REQUIRE_FALSE(w.timed_out);
    CHECK(stats(&c->sched).requested == 0);  // +1, -1 blocked, +1, -1 hook
    size_t y = find_after(m0, "mark C tag=7 cur=C in=hart");
    REQUIRE(y != SIZE_MAX);
    int hart = hart_of(y);
    CHECK(next_on_hart_wait(y, hart, 2) ==
          Strings{"hart_return P child=C cur=P in=hart",
                  "hart_enter P cur=P in=hart"});
    exit_both(c, p);
}

TEST_CASE("context_block: owner.context_block(ctx), fn(ctx, arg), then "
          "owner.hart_enter on the same hart, a foreign thread's unblock "
          "runs owner.context_unblock with the owner current") {
    lithe_fj_sched_t *s = make("S");
    REQUIRE(lithe_sched_enter(&s->sched) == LITHE_OK);
    size_t m1 = mark();
    ForeignWaker w;
    block_until([] { return true; }, w);
    size_t m2 = mark();
    REQUIRE(w.rc == LITHE_OK);
    int hart = hart_of(m1);
    CHECK(next_on_hart_wait(m1, hart, 3) ==
          Strings{"context_block S ctx=S.main cur=S in=hart",
                  "block_fn S ctx=S.main cur=S in=hart",
                  "hart_enter S cur=S in=hart"});
    CHECK(on_hart(m1, m2, -1) ==
          Strings{"context_unblock S ctx=S.main cur=S in=foreign"});
    // The override is scoped to the callback.
    CHECK(w.current_after == nullptr);
    REQUIRE(lithe_sched_exit() == LITHE_OK);
    lithe_fj_sched_destroy(s);
}

namespace {
std::atomic<lithe_context_t *> g_blocked{nullptr};
void publish_self(lithe_context_t *c, void *) { g_blocked.store(c); }
void block_once(void *) { lithe_context_block(publish_self, nullptr); }
}  // namespace

TEST_CASE("context_unblock from another scheduler's context runs the "
          "owner's context_unblock with the owner current, then restores") {
    lithe_fj_sched_t *p = make("P");
    REQUIRE(lithe_sched_enter(&p->sched) == LITHE_OK);
    g_blocked = nullptr;
    lithe_fj_context_t *x = lithe_fj_context_create(p, 0, block_once, nullptr);
    REQUIRE(x);
    name(&x->ctx, "X");
    ForeignWaker w;
    block_until([] { return g_blocked.load() != nullptr; }, w);
    REQUIRE(g_blocked.load() == &x->ctx);

    lithe_fj_sched_t *c = make("C");
    REQUIRE(lithe_sched_enter(&c->sched) == LITHE_OK);
    size_t m1 = mark();
    REQUIRE(lithe_context_unblock(&x->ctx) == LITHE_OK);
    size_t m2 = mark();
    CHECK(on_hart(m1, m2, hart_of(m1)) ==
          Strings{"context_unblock P ctx=X cur=P in=ctx"});
    CHECK(lithe_sched_current() == &c->sched);
    REQUIRE(lithe_sched_exit() == LITHE_OK);
    lithe_fj_sched_join_all(p);  // X runs under P and finishes
    REQUIRE(lithe_sched_exit() == LITHE_OK);
    lithe_fj_sched_destroy(c);
    lithe_fj_sched_destroy(p);
}

namespace {
std::atomic<size_t> g_m_before{SIZE_MAX};
void yield_once(void *) {
    g_m_before = mark(1);
    lithe_context_yield();
    mark(2);
}
void exit_explicitly(void *) {
    g_m_before = mark(3);
    lithe_context_exit();
}
void just_return(void *) { g_m_before = mark(4); }
}  // namespace

TEST_CASE("context_yield: owner.context_yield(ctx), then owner.hart_enter "
          "on the same hart") {
    lithe_fj_sched_t *s = make("S");
    REQUIRE(lithe_sched_enter(&s->sched) == LITHE_OK);
    lithe_fj_context_t *x = lithe_fj_context_create(s, 0, yield_once, nullptr);
    name(&x->ctx, "X");
    lithe_fj_sched_join_all(s);
    size_t m = g_m_before.load();
    CHECK(next_on_hart_wait(m, hart_of(m), 2) ==
          Strings{"context_yield S ctx=X cur=S in=hart",
                  "hart_enter S cur=S in=hart"});
    REQUIRE(lithe_sched_exit() == LITHE_OK);
    lithe_fj_sched_destroy(s);
}

TEST_CASE("context_exit (explicit, or by returning): owner.context_exit(ctx), "
          "then owner.hart_enter on the same hart") {
    for (auto fn : {exit_explicitly, just_return}) {
        lithe_fj_sched_t *s = make("S");
        REQUIRE(lithe_sched_enter(&s->sched) == LITHE_OK);
        g_m_before = SIZE_MAX;
        lithe_fj_context_t *x = lithe_fj_context_create(s, 0, fn, nullptr);
        name(&x->ctx, "X");
        // Not join_all: X's exit would wake the joiner from inside its
        // context_exit callback, adding a nested context_unblock.
        ForeignWaker w;
        block_until([] { return g_m_before.load() != SIZE_MAX; }, w);
        size_t m = g_m_before.load();
        lithe_fj_sched_join_all(s);
        CHECK(next_on_hart_wait(m, hart_of(m), 2) ==
              Strings{"context_exit S ctx=X cur=S in=hart",
                      "hart_enter S cur=S in=hart"});
        REQUIRE(lithe_sched_exit() == LITHE_OK);
        lithe_fj_sched_destroy(s);
    }
}

namespace {
thread_local int tl_value = 0;
struct Probe {
    uint64_t id = 0;
    int tl = -1;
    lithe_sched_t *cur = nullptr;
    std::atomic<bool> done{false};
};
void set_tl(void *p) {
    auto *pr = static_cast<Probe *>(p);
    tl_value = 42;
    pr->id = lithe_context_self()->id;
    pr->done = true;
}
void read_tl(void *p) {
    auto *pr = static_cast<Probe *>(p);
    pr->tl = tl_value;
    pr->id = lithe_context_self()->id;
    pr->cur = lithe_sched_current();
    pr->done = true;
}
bool exited(lithe_context_t *c) {
    return __atomic_load_n(&c->u->state, __ATOMIC_ACQUIRE) == UTH_ST_EXITED;
}
// Base contexts run FIFO, so yielding the main context lets them run even
// on a single hart.
template <class Pred>
bool yield_until(Pred pred) {
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!pred()) {
        if (std::chrono::steady_clock::now() > end) return false;
        lithe_context_yield();
    }
    return true;
}
}  // namespace

TEST_CASE("context_recycle keeps the context id and its TLS") {
    Probe a, b, fresh;
    lithe_context_t x, y;
    REQUIRE(lithe_context_init(&x, set_tl, &a) == LITHE_OK);
    uint64_t id = x.id;
    REQUIRE(lithe_context_unblock(&x) == LITHE_OK);  // base runs it
    REQUIRE(yield_until([&] { return a.done.load() && exited(&x); }));
    REQUIRE(a.id == id);

    REQUIRE(lithe_context_recycle(&x, read_tl, &b) == LITHE_OK);
    REQUIRE(x.id == id);
    REQUIRE(lithe_context_unblock(&x) == LITHE_OK);
    REQUIRE(yield_until([&] { return b.done.load() && exited(&x); }));
    CHECK(b.id == id);
    CHECK(b.tl == 42);

    // A fresh context starts with fresh TLS: the check above means something.
    REQUIRE(lithe_context_init(&y, read_tl, &fresh) == LITHE_OK);
    CHECK(y.id != id);
    REQUIRE(lithe_context_unblock(&y) == LITHE_OK);
    REQUIRE(yield_until([&] { return fresh.done.load() && exited(&y); }));
    CHECK(fresh.tl == 0);
    REQUIRE(lithe_context_cleanup(&x) == LITHE_OK);
    REQUIRE(lithe_context_cleanup(&y) == LITHE_OK);
}

namespace {
void plain_exit(lithe_sched_t *, lithe_context_t *) {
    // Not a fork-join context: nothing of the scheduler's to update.
}
void block_then_probe(void *p) {
    lithe_context_block(publish_self, nullptr);
    read_tl(p);
}
}  // namespace

TEST_CASE("context_reassociate moves a blocked context to another "
          "scheduler: its unblock and its later callbacks go to the new owner") {
    Probe pr;
    lithe_context_t x;
    name(&x, "X");
    g_blocked = nullptr;
    REQUIRE(lithe_context_init(&x, block_then_probe, &pr) == LITHE_OK);
    REQUIRE(lithe_context_unblock(&x) == LITHE_OK);  // runs under the base
    REQUIRE(yield_until([] { return g_blocked.load() != nullptr; }));
    uint64_t base_ctxs = stats(lithe_sched_base()).contexts;

    Hooks h;
    h.context_exit = plain_exit;
    lithe_fj_sched_t *s = make("S", &h);
    REQUIRE(lithe_sched_enter(&s->sched) == LITHE_OK);
    REQUIRE(lithe_context_reassociate(&x, &s->sched) == LITHE_OK);
    CHECK(stats(&s->sched).contexts == 1);
    CHECK(stats(lithe_sched_base()).contexts == base_ctxs - 1);

    size_t m1 = mark();
    REQUIRE(lithe_context_unblock(&x) == LITHE_OK);
    size_t m2 = mark();
    CHECK(on_hart(m1, m2, hart_of(m1)) ==
          Strings{"context_unblock S ctx=X cur=S in=ctx"});
    ForeignWaker w;
    block_until([&] { return pr.done.load() && exited(&x); }, w);
    REQUIRE_FALSE(w.timed_out);
    CHECK(pr.cur == &s->sched);
    CHECK(spin_until([&] {
        // From m1: X may run and exit on another hart before m2.
        return find_after(m1, "context_exit S ctx=X cur=S in=hart") != SIZE_MAX;
    }));
    REQUIRE(lithe_context_cleanup(&x) == LITHE_OK);
    CHECK(stats(&s->sched).contexts == 0);
    REQUIRE(lithe_sched_exit() == LITHE_OK);
    lithe_fj_sched_destroy(s);
}

namespace {
struct ParlibBlock {
    ForeignWaker *w;
    int how;  // 0 = has_blocked (sync primitive), 1 = blockon_io, 2 = paused
};
void parlib_block_cb(uthread *u, void *p) {
    auto *b = static_cast<ParlibBlock *>(p);
    if (b->how == 0) uthread_has_blocked(u, UTH_BLK_MUTEX);
    if (b->how == 1) uthread_sched_ops()->thread_blockon_io(u, 0);
    if (b->how == 2) {
        uthread_paused(u);
        return;
    }
    b->w->blocked.store(u, std::memory_order_release);
}
}  // namespace

TEST_CASE("parlib-level blocking (sync primitive, I/O) shows as "
          "context_block / context_unblock, a paused uthread as context_yield") {
    lithe_fj_sched_t *s = make("S");
    REQUIRE(lithe_sched_enter(&s->sched) == LITHE_OK);
    for (int how = 0; how < 2; ++how) {
        CAPTURE(how);
        ForeignWaker w;
        w.start([] { return true; }, [](void *u) {
            uthread_runnable(static_cast<uthread *>(u));
            return 0;
        });
        ParlibBlock b{&w, how};
        size_t m1 = mark();
        uthread_yield(true, parlib_block_cb, &b);
        w.finish();
        size_t m2 = mark();
        CHECK(next_on_hart_wait(m1, hart_of(m1), 2) ==
              Strings{"context_block S ctx=S.main cur=S in=hart",
                      "hart_enter S cur=S in=hart"});
        CHECK(on_hart(m1, m2, -1) ==
              Strings{"context_unblock S ctx=S.main cur=S in=foreign"});
    }
    ParlibBlock b{nullptr, 2};
    size_t m1 = mark();
    uthread_yield(true, parlib_block_cb, &b);
    CHECK(next_on_hart_wait(m1, hart_of(m1), 2) ==
          Strings{"context_yield S ctx=S.main cur=S in=hart",
                  "hart_enter S cur=S in=hart"});
    REQUIRE(lithe_sched_exit() == LITHE_OK);
    lithe_fj_sched_destroy(s);
}

namespace {
// P's hart_request, for the first positive delta, keeps the request in
// flight (on the unblocking thread) for a while and notes whether the
// unblocked context managed to run meanwhile.
std::atomic<bool> g_watch_arm{false}, g_in_request{false}, g_x_ran{false};
std::atomic<bool> g_ran_during_request{false};
void watching_hart_request(lithe_sched_t *self, lithe_sched_t *c, int d) {
    if (d > 0 && g_watch_arm.exchange(false)) {
        g_in_request = true;
        auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
        while (!g_x_ran.load() && std::chrono::steady_clock::now() < end)
            __builtin_ia32_pause();
        g_ran_during_request = g_x_ran.load();
    }
    lithe_fj_hart_request(self, c, d);
}
void block_then_mark_ran(void *) {
    lithe_context_block(publish_self, nullptr);
    g_x_ran = true;
}
}  // namespace

TEST_CASE("an unblock from a foreign thread delivers the owner's demand to "
          "its ancestors before the context can run (so the owner cannot "
          "exit under the unblocker)") {
    Hooks ph;
    ph.hart_request = watching_hart_request;
    lithe_fj_sched_t *p = make("P", &ph);
    REQUIRE(lithe_sched_enter(&p->sched) == LITHE_OK);
    lithe_fj_sched_t *s = make("S");
    REQUIRE(lithe_sched_enter(&s->sched) == LITHE_OK);
    g_blocked = nullptr;
    g_x_ran = false;
    g_in_request = false;
    lithe_fj_context_t *x = lithe_fj_context_create(s, 0, block_then_mark_ran, nullptr);
    REQUIRE(x);
    ForeignWaker w;
    block_until([] { return g_blocked.load() != nullptr; }, w);

    g_watch_arm = true;
    std::thread unblocker([&] { lithe_context_unblock(&x->ctx); });
    REQUIRE(spin_until([] { return g_in_request.load(); }));
    // This hart now looks for work in S: had X been queued before its
    // request went up, it would run here while the request is in flight.
    lithe_fj_sched_join_all(s);
    unblocker.join();
    CHECK(g_x_ran.load());
    CHECK_FALSE(g_ran_during_request.load());
    exit_both(s, p);
}
