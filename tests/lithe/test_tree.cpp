// Figure 3.4 of the thesis as an executable test: a pthread-like root
// scheduler entered from main runs renderScene and playMusic; renderScene
// calls into Graphics, then AI (which calls Physics) every frame, and
// playMusic calls into Audio every frame. Each library is a fork-join
// scheduler entered from the calling context, and the libraries nest three
// levels deep (graphics > shader > raster > tile, ai > physics > collision
// > solver, audio > mixer > filter).
//
// Checked: all work completes; the hart accounting at quiescent points
// (checkpoints: every leaf of a frame blocks, so all harts must drain back
// to the system, hart counts come back to zero and request sums to -1
// (every main context blocked in a join); then one leaf is
// let go, so its demand must climb the tree and one hart must come down
// to its scheduler and be counted there alone); the tree shape against
// every scheduler's `children`; every hart owner is a live scheduler at all
// times (monitor thread); at the end every child exited, the base holds
// exactly main's hart and every hart can still be used at once.
#include <catch2/catch.hpp>
#include <lithe/fork_join.h>
#include <lithe/lithe.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "tree_monitor.hpp"

namespace {

using namespace std::chrono_literals;

constexpr int kFrames = 3;
std::atomic<uint64_t> g_progress{0};

// What each library call ran, per frame, to check that all work completed.
enum Kind { kDraw, kShade, kRaster, kTile, kDecide, kPhys, kColl, kSolve,
            kVoice, kMix, kFilter, kKinds };
std::atomic<int> g_done[kFrames][kKinds];

void work(Kind k, int frame) {
    volatile uint64_t x = 0;
    for (int i = 0; i < 2000; ++i) x = x + i;
    lithe_context_yield();
    g_done[frame][k].fetch_add(1);
    g_progress.fetch_add(1);
}

// A "parallel function call" into a library (thesis §3.2): enter a new
// fork-join scheduler from the calling context, run n contexts, join, exit.
struct Call {
    int frame;
    int index;
};
void parallel_call(const char *name, int frame, int n, void (*fn)(void *)) {
    lithe_sched_t *parent = lithe_sched_current();
    lithe_fj_sched_t *s = lithe_fj_sched_create();
    tree::g_registry.add(&s->sched, parent, name);
    if (lithe_sched_enter(&s->sched) != LITHE_OK)
        tree::violate("%s: enter failed", name);
    if (lithe_sched_current() != &s->sched)
        tree::violate("%s: not current after enter", name);
    Call calls[8];
    for (int i = 0; i < n; ++i) {
        calls[i] = Call{frame, i};
        lithe_fj_context_create(s, 0, fn, &calls[i]);
    }
    lithe_fj_sched_join_all(s);
    struct lithe_sched_stats st;
    lithe_sched_stats(&s->sched, &st);
    if (st.children != 0 || st.contexts != 0)
        tree::violate("%s: %d children, %llu contexts after join_all", name,
                      st.children, (unsigned long long)st.contexts);
    if (lithe_sched_exit() != LITHE_OK) tree::violate("%s: exit failed", name);
    if (lithe_sched_current() != parent)
        tree::violate("%s: parent not current after exit", name);
    tree::g_registry.remove(&s->sched);
    lithe_fj_sched_destroy(s);
}

// ---- checkpoints: quiescent points in the middle of the run ----

// Leaves of one frame block here. A foreign checker thread waits until all
// are blocked, checks the quiescent accounting, lets one leaf run alone,
// checks again, then releases everyone.
struct Checkpoint {
    int expected = 0;
    int live_schedulers = 0;  // registered while the leaves wait
    std::atomic<bool> lock{false};
    lithe_context_t *waiters[64];
    lithe_sched_t *owners[64];
    int nwait = 0;
    std::atomic<bool> probe_running{false}, probe_release{false};
    std::atomic<lithe_context_t *> probe{nullptr};
    std::atomic<int> failures{0};
    std::string failure;  // written by the checker only
};

void checkpoint_block(lithe_context_t *c, void *p) {
    auto *cp = static_cast<Checkpoint *>(p);
    while (cp->lock.exchange(true)) __builtin_ia32_pause();
    cp->owners[cp->nwait] = lithe_sched_current();
    cp->waiters[cp->nwait++] = c;
    cp->lock.store(false);
}

void arrive(Checkpoint &cp) {
    lithe_context_block(checkpoint_block, &cp);
    if (cp.probe.load() == lithe_context_self()) {
        // Let go first and alone: hold the hart until the checker saw it.
        cp.probe_running = true;
        while (!cp.probe_release.load()) __builtin_ia32_pause();
    }
}

int nwaiting(Checkpoint &cp) {
    while (cp.lock.exchange(true)) __builtin_ia32_pause();
    int n = cp.nwait;
    cp.lock.store(false);
    return n;
}

void fail(Checkpoint &cp, const char *what, const tree::Snapshot &s) {
    if (cp.failures.fetch_add(1) == 0)
        cp.failure = std::string(what) + "\n" + tree::dump(s);
}

void checker(Checkpoint &cp) {
    auto end = std::chrono::steady_clock::now() + 20s;
    while (nwaiting(cp) < cp.expected) {
        if (std::chrono::steady_clock::now() > end) {
            fail(cp, "leaves never all arrived", tree::take());
            break;
        }
        std::this_thread::sleep_for(100us);
    }
    tree::Snapshot s;
    // Everything is blocked: every hart drains back to the system, no
    // scheduler counts a hart, and every scheduler's request sum is -1: its
    // main context is blocked in a join and each of its other contexts is
    // blocked or done, so it wants not even the hart it was entered on
    // (docs/writing-a-scheduler.md, "Request accounting"). The base's sum
    // is its children's (upthread's -1, main being inside upthread).
    bool idle = tree::wait_for([&](const tree::Snapshot &x) {
        if (!tree::harts_balance(x) || x.owned() != 0) return false;
        if (x.base.requested != -1) return false;
        for (auto &st : x.stats)
            if (st.requested != -1) return false;
        return true;
    }, s);
    if (!idle) fail(cp, "harts did not drain with every leaf blocked", s);
    if (!tree::children_match(s)) fail(cp, "children counts do not match the tree", s);
    if ((int)s.nodes.size() != cp.live_schedulers)
        fail(cp, "unexpected number of live schedulers", s);

    // One leaf made runnable from here: its +1 climbs the tree to the base,
    // a hart comes down to its scheduler, and only that one is counted.
    if (cp.nwait > 0) {
        lithe_sched_t *owner = cp.owners[0];
        cp.probe = cp.waiters[0];
        lithe_context_unblock(cp.waiters[0]);
        bool alone = tree::wait_for([&](const tree::Snapshot &x) {
            if (!cp.probe_running.load()) return false;
            if (!tree::harts_balance(x) || x.owned() != 1) return false;
            const struct lithe_sched_stats *st = x.stats_of(owner);
            if (!st || st->harts != 1) return false;
            for (auto *o : x.owners)
                if (o && o != owner) return false;
            return true;
        }, s);
        if (!alone) fail(cp, "one runnable leaf: its scheduler alone should hold one hart", s);
        cp.probe_release = true;
    }
    for (int i = 1; i < cp.nwait; ++i) lithe_context_unblock(cp.waiters[i]);
}

// Frame 0: AI's solvers and Audio's filters; frame 1: Graphics' tiles and
// Audio's filters. Counts follow the shapes below.
constexpr int kTilesPerFrame = 2 * 1 * 3 * 2;    // draw<2, shade==0, raster, tile
constexpr int kSolversPerFrame = 1 * 2 * 1 * 2;  // decide==0, phys<2, coll==0, solve
constexpr int kFiltersPerFrame = 3 * 2 * 2;      // voice, mix, filter
// Live schedulers while they wait: root + the two subtrees' schedulers.
constexpr int kLiveCp0 = 1 + (1 + 1 + 2 + 2) + (1 + 3 + 6);
constexpr int kLiveCp1 = 1 + (1 + 2 + 2 + 6) + (1 + 3 + 6);
Checkpoint g_cp[2];

Checkpoint *checkpoint_for(Kind k, int frame) {
    if (frame == 0 && (k == kSolve || k == kFilter)) return &g_cp[0];
    if (frame == 1 && (k == kTile || k == kFilter)) return &g_cp[1];
    return nullptr;
}

void leaf(Kind k, int frame) {
    if (Checkpoint *cp = checkpoint_for(k, frame)) arrive(*cp);
    work(k, frame);
}

// ---- the libraries ----
void tile(void *p) { leaf(kTile, static_cast<Call *>(p)->frame); }
void raster(void *p) {
    auto *c = static_cast<Call *>(p);
    work(kRaster, c->frame);
    parallel_call("tile", c->frame, 2, tile);
}
void shade(void *p) {
    auto *c = static_cast<Call *>(p);
    work(kShade, c->frame);
    if (c->index == 0) parallel_call("raster", c->frame, 3, raster);
}
void draw(void *p) {
    auto *c = static_cast<Call *>(p);
    work(kDraw, c->frame);
    if (c->index < 2) parallel_call("shader", c->frame, 3, shade);
}

void solve(void *p) { leaf(kSolve, static_cast<Call *>(p)->frame); }
void collide(void *p) {
    auto *c = static_cast<Call *>(p);
    work(kColl, c->frame);
    if (c->index == 0) parallel_call("solver", c->frame, 2, solve);
}
void physics(void *p) {
    auto *c = static_cast<Call *>(p);
    work(kPhys, c->frame);
    if (c->index < 2) parallel_call("collision", c->frame, 3, collide);
}
void decide(void *p) {
    auto *c = static_cast<Call *>(p);
    work(kDecide, c->frame);
    if (c->index == 0) parallel_call("physics", c->frame, 4, physics);
}

void filter(void *p) { leaf(kFilter, static_cast<Call *>(p)->frame); }
void mix(void *p) {
    auto *c = static_cast<Call *>(p);
    work(kMix, c->frame);
    parallel_call("filter", c->frame, 2, filter);
}
void voice(void *p) {
    auto *c = static_cast<Call *>(p);
    work(kVoice, c->frame);
    parallel_call("mixer", c->frame, 2, mix);
}

// renderScene and playMusic: the root's (upthread's) contexts.
void render_scene(void *) {
    for (int f = 0; f < kFrames; ++f) {
        parallel_call("graphics", f, 4, draw);  // Graphics.drawWorld()
        parallel_call("ai", f, 3, decide);      // AI.decideWhereToGo()
    }
}
void play_music(void *) {
    for (int f = 0; f < kFrames; ++f) parallel_call("audio", f, 3, voice);
}

}  // namespace

TEST_CASE("Figure 3.4: a pthread-like root with graphics, AI, physics and "
          "audio schedulers nested below it, work completes and harts are "
          "accounted for") {
    g_cp[0].expected = kSolversPerFrame + kFiltersPerFrame;
    g_cp[0].live_schedulers = kLiveCp0;
    g_cp[1].expected = kTilesPerFrame + kFiltersPerFrame;
    g_cp[1].live_schedulers = kLiveCp1;
    tree::Monitor monitor(g_progress, "figure 3.4 tree");
    std::thread check0([] { checker(g_cp[0]); });
    std::thread check1([] { checker(g_cp[1]); });

    lithe_sched_t *base = lithe_sched_base();
    lithe_fj_sched_t *root = lithe_fj_sched_create();
    tree::g_registry.add(&root->sched, base, "upthread");
    REQUIRE(lithe_sched_enter(&root->sched) == LITHE_OK);
    lithe_fj_context_t *p1 = lithe_fj_context_create(root, 0, render_scene, nullptr);
    lithe_fj_context_t *p2 = lithe_fj_context_create(root, 0, play_music, nullptr);
    REQUIRE(p1);
    REQUIRE(p2);
    lithe_fj_context_join(p1);
    lithe_fj_context_join(p2);
    struct lithe_sched_stats st;
    lithe_sched_stats(&root->sched, &st);
    CHECK(st.children == 0);
    REQUIRE(lithe_sched_exit() == LITHE_OK);
    tree::g_registry.remove(&root->sched);
    lithe_fj_sched_destroy(root);
    check0.join();
    check1.join();

    for (int cp = 0; cp < 2; ++cp) {
        INFO("checkpoint " << cp << ": " << g_cp[cp].failure);
        CHECK(g_cp[cp].failures.load() == 0);
    }
    for (int f = 0; f < kFrames; ++f) {
        CAPTURE(f);
        CHECK(g_done[f][kDraw] == 4);
        CHECK(g_done[f][kShade] == 2 * 3);
        CHECK(g_done[f][kRaster] == 2 * 3);
        CHECK(g_done[f][kTile] == kTilesPerFrame);
        CHECK(g_done[f][kDecide] == 3);
        CHECK(g_done[f][kPhys] == 4);
        CHECK(g_done[f][kColl] == 2 * 3);
        CHECK(g_done[f][kSolve] == kSolversPerFrame);
        CHECK(g_done[f][kVoice] == 3);
        CHECK(g_done[f][kMix] == 3 * 2);
        CHECK(g_done[f][kFilter] == kFiltersPerFrame);
    }

    // Every child exited; the harts drain back: the base holds main's hart
    // only, and all harts can still be had at once.
    REQUIRE(lithe_sched_current() == base);
    tree::Snapshot s;
    bool drained = tree::wait_for(tree::only_main_left, s);
    INFO(tree::dump(s));
    CHECK(drained);
    CHECK(tree::all_harts_usable());
    monitor.stop();
    INFO(tree::first_violation());
    CHECK(tree::violations() == 0);
    CHECK(monitor.checks() > 0);
}
