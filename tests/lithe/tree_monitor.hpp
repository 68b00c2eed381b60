// tree_monitor.hpp: the live schedulers of a test's scheduler tree, the
// hart-accounting invariants over them, a foreign monitor thread that
// checks them throughout and doubles as a watchdog, and a printable dump.
//
// Registry: a test adds a scheduler (with its parent) before entering it
// and removes it after lithe_sched_exit returned, so every scheduler that
// can be current on a hart is registered. Writers (lithe contexts) and
// readers (the monitor, the test thread) take a spinlock for a few copies
// only; `version` changes on every write, and a snapshot whose version did
// not change while hart owners and stats were read is consistent: every
// owner it saw was registered at that time.
//
// Only the Catch thread asserts. Contexts, callbacks and the monitor report
// a broken invariant with violate(), which keeps the first message; the
// test checks violations() at its end.
#pragma once

#include <dirent.h>
#include <lithe/fork_join.h>
#include <lithe/lithe.h>

#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace tree {

struct Node {
    lithe_sched_t *s;
    lithe_sched_t *parent;
    const char *name;
};

inline std::atomic<int> g_violations{0};
inline char g_first_violation[1024];

inline void violate(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
inline void violate(const char *fmt, ...) {
    if (g_violations.fetch_add(1) != 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_first_violation, sizeof g_first_violation, fmt, ap);
    va_end(ap);
}
inline int violations() { return g_violations.load(); }
inline std::string first_violation() { return g_first_violation; }

class Registry {
  public:
    void add(lithe_sched_t *s, lithe_sched_t *parent, const char *name) {
        lock();
        if (n_ == kMax) violate("registry full");
        else nodes_[n_++] = Node{s, parent, name};
        version_.fetch_add(1);
        unlock();
    }
    void remove(lithe_sched_t *s) {
        lock();
        int i = 0;
        while (i < n_ && nodes_[i].s != s) ++i;
        if (i == n_) violate("registry: removing an unknown scheduler %p", (void *)s);
        else nodes_[i] = nodes_[--n_];
        version_.fetch_add(1);
        unlock();
    }
    uint64_t copy(std::vector<Node> &out) {
        lock();
        out.assign(nodes_, nodes_ + n_);
        uint64_t v = version_.load();
        unlock();
        return v;
    }
    uint64_t version() const { return version_.load(); }

  private:
    static constexpr int kMax = 8192;
    void lock() {
        while (lock_.exchange(true, std::memory_order_acquire))
            __builtin_ia32_pause();
    }
    void unlock() { lock_.store(false, std::memory_order_release); }
    std::atomic<bool> lock_{false};
    std::atomic<uint64_t> version_{0};
    Node nodes_[kMax];
    int n_ = 0;
};

inline Registry g_registry;

struct Snapshot {
    std::vector<Node> nodes;
    std::vector<struct lithe_sched_stats> stats;  // parallel to nodes
    struct lithe_sched_stats base{};
    std::vector<lithe_sched_t *> owners;   // per hart
    bool consistent = false;

    const struct lithe_sched_stats *stats_of(lithe_sched_t *s) const {
        if (s == lithe_sched_base()) return &base;
        for (size_t i = 0; i < nodes.size(); ++i)
            if (nodes[i].s == s) return &stats[i];
        return nullptr;
    }
    const char *name_of(lithe_sched_t *s) const {
        if (!s) return "-";
        if (s == lithe_sched_base()) return "base";
        for (auto &n : nodes)
            if (n.s == s) return n.name;
        return "UNREGISTERED";
    }
    int owned() const {
        int k = 0;
        for (auto *o : owners) k += o != nullptr;
        return k;
    }
    int64_t sum_harts() const {
        int64_t k = base.harts;
        for (auto &st : stats) k += st.harts;
        return k;
    }
};

inline Snapshot take() {
    Snapshot s;
    uint64_t v1 = g_registry.copy(s.nodes);
    int n = lithe_num_harts();
    for (int h = 0; h < n; ++h) s.owners.push_back(lithe_hart_owner(h));
    s.stats.resize(s.nodes.size());
    for (size_t i = 0; i < s.nodes.size(); ++i)
        lithe_sched_stats(s.nodes[i].s, &s.stats[i]);
    lithe_sched_stats(lithe_sched_base(), &s.base);
    s.consistent = g_registry.version() == v1;
    return s;
}

inline std::string dump(const Snapshot &s) {
    std::string out;
    char line[256];
    auto stat_line = [&](const char *name, lithe_sched_t *p,
                         const struct lithe_sched_stats &st, int depth) {
        snprintf(line, sizeof line,
                 "%*s%s %p: harts=%d subtree=%d requested=%lld children=%d "
                 "contexts=%llu grants_in=%llu grants_out=%llu yields=%llu\n",
                 2 * depth, "", name, (void *)p, st.harts, st.subtree_harts,
                 (long long)st.requested, st.children,
                 (unsigned long long)st.contexts,
                 (unsigned long long)st.grants_received,
                 (unsigned long long)st.grants_made,
                 (unsigned long long)st.yields);
        out += line;
    };
    // Depth-first from the base along registered parents.
    struct Frame { lithe_sched_t *s; int depth; };
    std::vector<Frame> stack{{lithe_sched_base(), 0}};
    std::vector<bool> shown(s.nodes.size(), false);
    while (!stack.empty()) {
        Frame f = stack.back();
        stack.pop_back();
        if (f.s == lithe_sched_base()) {
            stat_line("base", f.s, s.base, 0);
        } else {
            for (size_t i = 0; i < s.nodes.size(); ++i)
                if (s.nodes[i].s == f.s) {
                    shown[i] = true;
                    stat_line(s.nodes[i].name, f.s, s.stats[i], f.depth);
                }
        }
        for (size_t i = 0; i < s.nodes.size(); ++i)
            if (s.nodes[i].parent == f.s && !shown[i])
                stack.push_back({s.nodes[i].s, f.depth + 1});
    }
    for (size_t i = 0; i < s.nodes.size(); ++i)
        if (!shown[i]) stat_line(s.nodes[i].name, s.nodes[i].s, s.stats[i], 0);
    out += "hart owners:";
    for (size_t h = 0; h < s.owners.size(); ++h) {
        snprintf(line, sizeof line, " %zu=%s", h, s.name_of(s.owners[h]));
        out += line;
    }
    out += s.consistent ? "\n" : " (snapshot raced with the registry)\n";
    return out;
}

// Invariants that hold at every instant (checked on consistent snapshots):
// every hart owner is a live scheduler; every count is in range. Returns an
// empty string or what is wrong.
inline std::string check_always(const Snapshot &s) {
    int n = lithe_num_harts();
    char buf[256];
    for (size_t h = 0; h < s.owners.size(); ++h)
        if (s.owners[h] && !s.stats_of(s.owners[h])) {
            snprintf(buf, sizeof buf, "hart %zu is owned by %p, not a live scheduler",
                     h, (void *)s.owners[h]);
            return buf;
        }
    auto range = [&](const char *name, const struct lithe_sched_stats &st) -> std::string {
        if (st.harts < 0 || st.harts > n || st.children < 0) {
            snprintf(buf, sizeof buf, "%s: harts=%d children=%d out of range",
                     name, st.harts, st.children);
            return buf;
        }
        return "";
    };
    if (auto e = range("base", s.base); !e.empty()) return e;
    for (size_t i = 0; i < s.nodes.size(); ++i)
        if (auto e = range(s.nodes[i].name, s.stats[i]); !e.empty()) return e;
    return "";
}

// Each registered scheduler's `children` equals the registered schedulers
// whose parent it is (only meaningful while nobody enters or exits).
inline bool children_match(const Snapshot &s) {
    auto kids = [&](lithe_sched_t *p) {
        int k = 0;
        for (auto &n : s.nodes) k += n.parent == p;
        return k;
    };
    if (s.base.children != kids(lithe_sched_base())) return false;
    for (size_t i = 0; i < s.nodes.size(); ++i)
        if (s.stats[i].children != kids(s.nodes[i].s)) return false;
    return true;
}

// Each scheduler's subtree_harts is its own harts plus its registered
// children's subtree_harts (only meaningful while no hart moves).
inline bool subtrees_match(const Snapshot &s) {
    auto below = [&](lithe_sched_t *p) {
        int64_t k = 0;
        for (size_t i = 0; i < s.nodes.size(); ++i)
            if (s.nodes[i].parent == p) k += s.stats[i].subtree_harts;
        return k;
    };
    if (s.base.subtree_harts != s.base.harts + below(lithe_sched_base()))
        return false;
    for (size_t i = 0; i < s.nodes.size(); ++i)
        if (s.stats[i].subtree_harts != s.stats[i].harts + below(s.nodes[i].s))
            return false;
    return true;
}

// Quiescent accounting: the harts counted by the schedulers are exactly the
// harts that have an owner, and every subtree count adds up.
inline bool harts_balance(const Snapshot &s) {
    return s.consistent && check_always(s).empty() &&
           s.sum_harts() == s.owned() && subtrees_match(s);
}

// Polls snapshots until pred holds on a consistent one (or the deadline);
// `last` gets the final snapshot either way.
template <class Pred>
bool wait_for(Pred pred, Snapshot &last,
              std::chrono::seconds limit = std::chrono::seconds(10)) {
    auto end = std::chrono::steady_clock::now() + limit;
    for (;;) {
        last = take();
        if (last.consistent && pred(last)) return true;
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
}

// Foreign thread: checks check_always() about every half millisecond and
// aborts the process, after dumping the tree, if `progress` has not moved
// for `stall`. Start and stop it from the test thread.
class Monitor {
  public:
    // `extra` (optional) adds the test's own state to the watchdog's
    // report (e.g. how many contexts wait in its blocked pool), so that a
    // hang that does not reproduce still tells where the contexts are.
    Monitor(std::atomic<uint64_t> &progress, std::string label,
            std::chrono::seconds stall = std::chrono::seconds(15),
            std::function<std::string()> extra = {})
        : progress_(progress), label_(std::move(label)), stall_(stall),
          extra_(std::move(extra)) {
        t_ = std::thread([this] { run(); });
    }
    ~Monitor() { stop(); }
    void stop() {
        if (!t_.joinable()) return;
        stop_.store(true);
        t_.join();
    }
    uint64_t checks() const { return checks_.load(); }

  private:
    void run() {
        uint64_t last = progress_.load();
        auto since = std::chrono::steady_clock::now();
        // At least one pass, even if stopped before this thread first ran
        // (a short test on a loaded machine): the last pass, at the end of
        // the run, sees a quiet tree, so checks() > 0 means it checked.
        do {
            Snapshot s = take();
            if (s.consistent) {
                checks_.fetch_add(1);
                if (auto e = check_always(s); !e.empty())
                    violate("%s [%s]\n%s", e.c_str(), label_.c_str(),
                            dump(s).c_str());
            }
            uint64_t p = progress_.load();
            auto now = std::chrono::steady_clock::now();
            if (p != last) {
                last = p;
                since = now;
            } else if (now - since > stall_) {
                fprintf(stderr,
                        "watchdog: no progress for %llds [%s]; tree:\n%s",
                        (long long)std::chrono::duration_cast<std::chrono::seconds>(stall_).count(),
                        label_.c_str(), dump(take()).c_str());
                fflush(stderr);  // before extra_, which may take test locks
                if (extra_) fprintf(stderr, "%s", extra_().c_str());
                fflush(stderr);
                abort();
            }
            std::this_thread::sleep_for(std::chrono::microseconds(500));
        } while (!stop_.load());
    }
    std::atomic<uint64_t> &progress_;
    std::string label_;
    std::chrono::seconds stall_;
    std::function<std::string()> extra_;
    std::atomic<bool> stop_{false};
    std::atomic<uint64_t> checks_{0};
    std::thread t_;
};

// Once every scheduler has exited and only the calling context (the base's
// main) runs: the base holds exactly the caller's hart, no other hart has
// an owner, and no demand is left.
inline bool only_main_left(const Snapshot &s) {
    return s.nodes.empty() && s.base.children == 0 && s.base.harts == 1 &&
           s.owned() == 1 && s.base.requested == 0 && harts_balance(s);
}

// Every thread of the process: tid, kernel state (R runnable, S sleeping),
// CPU last run on, and the time it spent runnable but waiting for a CPU
// (schedstat run_delay): tells a hart that lithe never handed out from one
// whose kernel thread the kernel does not run.
inline std::string kernel_threads() {
    std::string out;
    DIR *d = opendir("/proc/self/task");
    if (!d) return "  (no /proc/self/task)\n";
    while (struct dirent *e = readdir(d)) {
        int tid = atoi(e->d_name);
        if (tid <= 0) continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        char buf[1024] = "";
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        // Fields after the ")" of comm: 3 state ... 39 processor.
        const char *p = strrchr(buf, ')');
        char state = '?';
        int cpu = -1, field = 2;
        for (const char *q = p ? p + 1 : buf; *q; ++q)
            if (*q == ' ') {
                ++field;
                if (field == 3) state = q[1];
                if (field == 39) cpu = atoi(q + 1);
            }
        snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", tid);
        long long run = 0, wait = 0;
        if (FILE *g = fopen(path, "r")) {
            if (fscanf(g, "%lld %lld", &run, &wait) != 2) run = wait = 0;
            fclose(g);
        }
        char line[160];
        snprintf(line, sizeof line,
                 "  tid %d state %c cpu %d ran %.1f ms waited-runnable %.1f ms\n",
                 tid, state, cpu, run / 1e6, wait / 1e6);
        out += line;
    }
    closedir(d);
    return out;
}

inline std::string g_all_harts_diagnosis;  // set when all_harts_usable fails

// No hart was lost: a fork-join scheduler gets every hart at once, with
// one spinning context per hart that waits (without yielding) for all the
// others, so the last arrival proves they all run on distinct harts. On
// failure, g_all_harts_diagnosis holds the tree (who owns each hart) and
// the kernel threads' states, taken by the first context that gave up.
inline bool all_harts_usable() {
    struct Shared {
        std::atomic<int> arrived{0};
        std::atomic<bool> gave_up{false};
        int n;
    } sh;
    sh.n = lithe_num_harts();
    lithe_fj_sched_t *s = lithe_fj_sched_create();
    g_registry.add(&s->sched, lithe_sched_current(), "all-harts");
    lithe_sched_enter(&s->sched);
    auto spin = [](void *p) {
        auto *sh = static_cast<Shared *>(p);
        sh->arrived.fetch_add(1);
        auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (sh->arrived.load() < sh->n)
            if (std::chrono::steady_clock::now() > end) {
                if (!sh->gave_up.exchange(true))
                    g_all_harts_diagnosis =
                        "arrived " + std::to_string(sh->arrived.load()) +
                        " of " + std::to_string(sh->n) + "\n" +
                        dump(take()) + kernel_threads();
                return;
            }
    };
    for (int i = 0; i < sh.n; ++i) lithe_fj_context_create(s, 0, spin, &sh);
    lithe_fj_sched_join_all(s);
    lithe_sched_exit();
    g_registry.remove(&s->sched);
    lithe_fj_sched_destroy(s);
    return !sh.gave_up.load();
}

}  // namespace tree
