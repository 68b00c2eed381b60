// Randomised stress of the scheduler tree: random trees (fan-out, depth)
// of fork-join schedulers entered and exited from random points, whose
// contexts issue random request deltas (+ and -), block, unblock each
// other (from contexts, from hart context, from a foreign thread), yield
// and exit early, for thousands of operations per round.
//
// Invariants: at all times every hart owner is a live scheduler and every
// count is in range (monitor thread, tree_monitor.hpp); every context keeps
// its identity (lithe_context_self, its own TLS, its scheduler) across every
// operation; the current scheduler is the child after enter and the parent
// after exit; join_all returns only after all its contexts completed; every
// context completes exactly once; after each round every scheduler exited,
// the base holds only main's hart, and in the end every hart can still be
// had at once (none lost). A stall of 15 s aborts with a dump of the tree.
//
// The shape of the run (tree, operations) is a function of the seed:
// LITHE_STRESS_SEED=<n> reproduces it; the interleaving is the machine's.
//
// LITHE_STRESS_SPURIOUS_TRYLOCK=1 makes every other spin_trylock in the
// process fail without looking at the lock (this binary's definition comes
// before libparlib's in symbol lookup). A try-lock may always fail, since
// the caller cannot tell contention from bad luck, so nothing may hang
// because of it. It reproduces at once what contention did rarely: a
// fork-join hart whose steal skipped a busy queue gave its hart back with
// contexts queued there, while those contexts' own negative requests kept
// `requested` below the queued work, so no hart was ever granted back
// (every scheduler idle at requested=-1, contexts not completed).
#include <catch2/catch.hpp>
#include <dlfcn.h>
#include <lithe/fork_join.h>
#include <lithe/lithe.h>
#include <parlib/spinlock.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "tree_monitor.hpp"

namespace spurious {

using TryLock = bool (*)(spinlock_t *);
const bool g_on = [] {
    const char *e = getenv("LITHE_STRESS_SPURIOUS_TRYLOCK");
    return e && *e == '1';
}();
std::atomic<uint32_t> g_calls{0};
std::atomic<uint64_t> g_failed{0};

// libparlib's spin_trylock, looked up on first use: a library constructor
// may lock before this file's initialisers ran, and g_resolved does it
// during static initialisation at the latest, before any thread of the
// test exists.
TryLock real() {
    static constinit std::atomic<TryLock> fn{nullptr};
    TryLock f = fn.load(std::memory_order_acquire);
    if (!f) {
        f = reinterpret_cast<TryLock>(dlsym(RTLD_NEXT, "spin_trylock"));
        fn.store(f, std::memory_order_release);
    }
    return f;
}
const TryLock g_resolved = real();  // at the latest during static init

}  // namespace spurious

extern "C" bool spin_trylock(spinlock_t *l) {
    if (spurious::g_on &&
        spurious::g_calls.fetch_add(1, std::memory_order_relaxed) % 2) {
        spurious::g_failed.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    return spurious::real()(l);
}

namespace {

constexpr uint64_t kDefaultSeed = 0x11e5eed;
constexpr int kRounds = 16;
constexpr int kRootTasks = 12;
constexpr int kMaxDepth = 4;
constexpr int kMaxFan = 4;
constexpr int kOps[kMaxDepth + 1] = {40, 24, 14, 8, 5};
constexpr int kMaxContexts = 1 << 16;
const char *const kDepthName[kMaxDepth + 2] = {"d0", "d1", "d2", "d3", "d4", "d5"};

std::atomic<uint64_t> g_progress{0};
std::atomic<uint64_t> g_ops{0};
std::atomic<uint64_t> g_next_id{0};
std::atomic<uint8_t> g_completed[kMaxContexts];

struct Rng {
    uint64_t s;
    uint64_t next() {  // splitmix64
        uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    int below(int n) { return static_cast<int>(next() % static_cast<uint64_t>(n)); }
};

// Blocked contexts waiting for someone to unblock them. Pushed from hart
// context (the block callback, after the context is saved), popped by
// contexts, by block callbacks and by the foreign unblocker.
class BlockedPool {
  public:
    void push(lithe_context_t *c) {
        lock();
        if (n_ == kCap) tree::violate("blocked pool full");
        else v_[n_++] = c;
        unlock();
    }
    lithe_context_t *pop(uint64_t r) {
        lock();
        lithe_context_t *c = nullptr;
        if (n_ > 0) {
            int i = static_cast<int>(r % static_cast<uint64_t>(n_));
            c = v_[i];
            v_[i] = v_[--n_];
        }
        unlock();
        return c;
    }
    int size() {
        lock();
        int n = n_;
        unlock();
        return n;
    }

  private:
    static constexpr int kCap = 1 << 14;
    void lock() {
        while (lock_.exchange(true, std::memory_order_acquire)) __builtin_ia32_pause();
    }
    void unlock() { lock_.store(false, std::memory_order_release); }
    std::atomic<bool> lock_{false};
    lithe_context_t *v_[kCap];
    int n_ = 0;
};
BlockedPool g_pool;

void unblock_checked(lithe_context_t *c) {
    int rc = lithe_context_unblock(c);
    if (rc != LITHE_OK) tree::violate("unblock of a pooled context: %s", lithe_strerror(rc));
}

void park(lithe_context_t *c, void *) { g_pool.push(c); }
// Swap: this context parks and, from hart context, wakes another one.
void park_and_wake(lithe_context_t *c, void *r) {
    lithe_context_t *other = g_pool.pop(*static_cast<uint64_t *>(r));
    g_pool.push(c);
    if (other) unblock_checked(other);
}

thread_local uint64_t tl_id = ~0ull;  // each context's own TLS

struct Task {
    uint64_t id;
    uint64_t seed;
    int depth;
};

void complete(uint64_t id) {
    if (g_completed[id].fetch_add(1) != 0)
        tree::violate("context %llu completed twice", (unsigned long long)id);
}

uint64_t new_id() {
    uint64_t id = g_next_id.fetch_add(1);
    if (id >= kMaxContexts) {
        tree::violate("more than %d contexts", kMaxContexts);
        abort();
    }
    return id;
}

void undo(int &net) {
    if (net != 0 && lithe_hart_request(-net) != LITHE_OK)
        tree::violate("undoing a request failed");
    net = 0;
}

void body(void *p);

// A nested "parallel call": a fork-join scheduler entered from this
// context, with 1..kMaxFan random tasks one level deeper.
void nest(int depth, Rng &r) {
    lithe_sched_t *parent = lithe_sched_current();
    lithe_fj_sched_t *s = lithe_fj_sched_create();
    tree::g_registry.add(&s->sched, parent, kDepthName[depth + 1]);
    if (lithe_sched_enter(&s->sched) != LITHE_OK) tree::violate("enter failed");
    if (lithe_sched_current() != &s->sched)
        tree::violate("child not current after enter");
    int fan = 1 + r.below(kMaxFan);
    Task kids[kMaxFan];
    for (int i = 0; i < fan; ++i) {
        kids[i] = Task{new_id(), r.next(), depth + 1};
        if (!lithe_fj_context_create(s, 0, body, &kids[i]))
            tree::violate("context_create failed");
    }
    // The promoted main context asks for harts too, before joining.
    int net = 0;
    for (int k = r.below(3); k > 0; --k) {
        int d = r.below(5) - 2;
        if (lithe_hart_request(d) != LITHE_OK) tree::violate("request in main failed");
        net += d;
        lithe_context_yield();
    }
    undo(net);
    lithe_fj_sched_join_all(s);
    for (int i = 0; i < fan; ++i)
        if (g_completed[kids[i].id].load() != 1)
            tree::violate("join_all returned before context %llu completed",
                          (unsigned long long)kids[i].id);
    struct lithe_sched_stats st;
    lithe_sched_stats(&s->sched, &st);
    if (st.children != 0 || st.contexts != 0 || st.harts < 1)
        tree::violate("%s after join_all: children=%d contexts=%llu harts=%d",
                      kDepthName[depth + 1], st.children,
                      (unsigned long long)st.contexts, st.harts);
    if (lithe_sched_exit() != LITHE_OK) tree::violate("exit failed");
    if (lithe_sched_current() != parent)
        tree::violate("parent not current after exit");
    tree::g_registry.remove(&s->sched);
    lithe_fj_sched_destroy(s);
}

void body(void *p) {
    const Task t = *static_cast<Task *>(p);
    Rng r{t.seed};
    tl_id = t.id;
    lithe_context_t *me = lithe_context_self();
    lithe_sched_t *mine = lithe_sched_current();
    int net = 0;
    for (int i = 0; i < kOps[t.depth]; ++i) {
        int op = r.below(100);
        if (op < 30) {
            lithe_context_yield();
        } else if (op < 55) {
            int d = r.below(5) - 2;
            int rc = lithe_hart_request(d);
            if (rc != LITHE_OK) tree::violate("request: %s", lithe_strerror(rc));
            net += d;
        } else if (op < 70) {
            undo(net);  // never sit blocked on a negative (or idle) demand
            lithe_context_block(park, nullptr);
        } else if (op < 85) {
            if (lithe_context_t *c = g_pool.pop(r.next())) unblock_checked(c);
        } else if (op < 90) {
            undo(net);
            uint64_t pick = r.next();
            lithe_context_block(park_and_wake, &pick);
        } else if (op < 95) {
            if (t.depth < kMaxDepth) {
                undo(net);
                nest(t.depth, r);
            }
        } else if (op == 95) {
            undo(net);
            complete(t.id);
            g_progress.fetch_add(1);
            lithe_context_exit();  // nothing on this frame needs destroying
        }
        if (lithe_context_self() != me || tl_id != t.id || lithe_sched_current() != mine)
            tree::violate("context %llu lost its identity (self %p/%p, tls %llu, sched %p/%p)",
                          (unsigned long long)t.id, (void *)lithe_context_self(),
                          (void *)me, (unsigned long long)tl_id,
                          (void *)lithe_sched_current(), (void *)mine);
        g_ops.fetch_add(1);
        g_progress.fetch_add(1);
    }
    undo(net);
    complete(t.id);
}

// Foreign thread: keeps the pool draining, so no context waits for ever.
class Unblocker {
  public:
    Unblocker() : t_([this] { run(); }) {}
    ~Unblocker() {
        stop_ = true;
        t_.join();
    }

  private:
    void run() {
        Rng r{42};
        while (!stop_.load()) {
            if (lithe_context_t *c = g_pool.pop(r.next())) unblock_checked(c);
            else std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
    }
    std::atomic<bool> stop_{false};
    std::thread t_;
};

uint64_t seed_from_env() {
    const char *e = getenv("LITHE_STRESS_SEED");
    return e && *e ? strtoull(e, nullptr, 0) : kDefaultSeed;
}

}  // namespace

TEST_CASE("stress: random trees, requests, block/unblock/yield/exit and "
          "nested enter/exit keep the tree and its harts consistent") {
    const uint64_t seed = seed_from_env();
    const std::string label = "LITHE_STRESS_SEED=" + std::to_string(seed) +
                              " PARLIB_VCORES=" + std::to_string(lithe_num_harts());
    INFO("reproduce with " << label);
    // On a hang, where the contexts are: waiting in the blocked pool (the
    // unblocker should drain it) or blocked elsewhere (a join, a lost
    // wake-up), and how many of those created have not completed.
    tree::Monitor monitor(g_progress, label, std::chrono::seconds(15), [] {
        uint64_t made = g_next_id.load(), done = 0;
        for (uint64_t id = 0; id < made && id < kMaxContexts; ++id)
            done += g_completed[id].load() != 0;
        return "blocked pool: " + std::to_string(g_pool.size()) +
               " contexts; created " + std::to_string(made) + ", completed " +
               std::to_string(done) + "\n";
    });
    Unblocker unblocker;
    lithe_sched_t *base = lithe_sched_base();

    for (int round = 0; round < kRounds; ++round) {
        CAPTURE(round);
        uint64_t first = g_next_id.load();
        Rng r{seed + static_cast<uint64_t>(round)};
        lithe_fj_sched_t *root = lithe_fj_sched_create();
        tree::g_registry.add(&root->sched, base, "root");
        REQUIRE(lithe_sched_enter(&root->sched) == LITHE_OK);
        Task tasks[kRootTasks];
        for (auto &t : tasks) {
            t = Task{new_id(), r.next(), 0};
            REQUIRE(lithe_fj_context_create(root, 0, body, &t));
        }
        lithe_fj_sched_join_all(root);
        REQUIRE(lithe_sched_exit() == LITHE_OK);
        tree::g_registry.remove(&root->sched);
        lithe_fj_sched_destroy(root);
        REQUIRE(lithe_sched_current() == base);

        uint64_t last = g_next_id.load();
        int wrong = 0;
        for (uint64_t id = first; id < last; ++id) wrong += g_completed[id].load() != 1;
        INFO(tree::first_violation());
        CHECK(wrong == 0);
        CHECK(g_pool.size() == 0);
        tree::Snapshot s;
        bool drained = tree::wait_for(tree::only_main_left, s);
        INFO(tree::dump(s));
        REQUIRE(drained);
        REQUIRE(tree::violations() == 0);
    }
    bool usable = tree::all_harts_usable();
    INFO(tree::g_all_harts_diagnosis);
    CHECK(usable);
    monitor.stop();
    INFO(tree::first_violation());
    CHECK(tree::violations() == 0);
    CHECK(monitor.checks() > 0);
    // Enough happened to call it a stress test.
    CHECK(g_ops.load() > 5000);
    CHECK(g_next_id.load() > 500);
    // The interposition took effect: the run above saw spurious failures
    // (fork-join's steal is the only trylock on its paths).
    if (spurious::g_on) CHECK(spurious::g_failed.load() > 100);
}
