// callback_trace.hpp: a global trace of lithe callbacks, and "traced"
// fork-join schedulers whose every callback records itself before doing
// the default (or a per-scheduler override).
//
// Each record carries the event, the receiving scheduler, the hart
// (vcore_id(), -1 on a foreign thread), whether it ran in hart context, and
// lithe_sched_current() during it. Records are appended lock-free (callbacks
// must not block): a slot is reserved with fetch_add, filled, then published
// with its `ready` flag, so the index order is a linearisation consistent
// with each hart's program order. Readers (the Catch thread only) wait for
// `ready` on every reserved slot they read. Indices are never reset: a test
// remembers where it started.
#pragma once

#include <lithe/fork_join.h>
#include <lithe/lithe.h>
#include <parlib/vcore.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace trace {

enum class Ev : uint8_t {
    HartRequest, ChildEnter, ChildExit, HartReturn, HartEnter, SchedEnter,
    SchedExit, CtxBlock, CtxUnblock, CtxYield, CtxExit, Unlock, BlockFn, Mark,
};

constexpr uint32_t bit(Ev e) { return 1u << static_cast<unsigned>(e); }

struct Rec {
    Ev ev;
    bool in_hart_ctx;
    int hart;
    int delta;
    int tag;
    lithe_sched_t *self;
    lithe_sched_t *child;
    lithe_sched_t *current;
    lithe_context_t *ctx;
};

struct Slot {
    std::atomic<bool> ready{false};
    Rec r;
};

constexpr size_t kCap = size_t{1} << 18;
inline Slot g_slots[kCap];
inline std::atomic<size_t> g_n{0};
inline std::atomic<uint32_t> g_mask{~0u};

inline size_t rec(Ev ev, lithe_sched_t *self, lithe_sched_t *child = nullptr,
                  lithe_context_t *ctx = nullptr, int delta = 0, int tag = 0) {
    if (!(g_mask.load(std::memory_order_relaxed) & bit(ev))) return SIZE_MAX;
    Rec r{ev,    in_vcore_context(), vcore_id(),           delta, tag,
          self,  child,              lithe_sched_current(), ctx};
    size_t i = g_n.fetch_add(1);
    if (i < kCap) {
        g_slots[i].r = r;
        g_slots[i].ready.store(true, std::memory_order_release);
    }
    return i;
}

// A marker from the running context: its index orders it among callbacks.
inline size_t mark(int tag = 0) {
    return rec(Ev::Mark, lithe_sched_current(), nullptr, lithe_context_self(),
               0, tag);
}

inline size_t now() { return g_n.load(); }

// Records [from, now()), waiting for slots still being filled. Returns false
// if the trace overflowed.
inline bool read(size_t from, std::vector<std::pair<size_t, Rec>> &out) {
    size_t n = g_n.load();
    if (n > kCap) return false;
    for (size_t i = from; i < n; ++i) {
        while (!g_slots[i].ready.load(std::memory_order_acquire))
            __builtin_ia32_pause();
        out.emplace_back(i, g_slots[i].r);
    }
    return true;
}

// Record i; a record past the capacity was dropped: that stops the test
// with a message instead of reading past the buffer.
inline Rec at(size_t i) {
    if (i >= kCap) {
        fprintf(stderr, "callback_trace: record %zu is past the trace's capacity (%zu)\n",
                i, kCap);
        abort();
    }
    while (!g_slots[i].ready.load(std::memory_order_acquire))
        __builtin_ia32_pause();
    return g_slots[i].r;
}

// Names for readable failure messages (set and read by the test thread).
inline std::vector<std::pair<const void *, std::string>> g_names;
inline void name(const void *p, std::string n) {
    g_names.emplace_back(p, std::move(n));
}
inline std::string name_of(const void *p) {
    if (!p) return "null";
    if (p == lithe_sched_base()) return "base";
    for (auto it = g_names.rbegin(); it != g_names.rend(); ++it)
        if (it->first == p) return it->second;
    return "?";
}

inline const char *ev_name(Ev e) {
    switch (e) {
    case Ev::HartRequest: return "hart_request";
    case Ev::ChildEnter: return "child_enter";
    case Ev::ChildExit: return "child_exit";
    case Ev::HartReturn: return "hart_return";
    case Ev::HartEnter: return "hart_enter";
    case Ev::SchedEnter: return "sched_enter";
    case Ev::SchedExit: return "sched_exit";
    case Ev::CtxBlock: return "context_block";
    case Ev::CtxUnblock: return "context_unblock";
    case Ev::CtxYield: return "context_yield";
    case Ev::CtxExit: return "context_exit";
    case Ev::Unlock: return "unlock";
    case Ev::BlockFn: return "block_fn";
    case Ev::Mark: return "mark";
    }
    return "corrupt";
}

// "hart_request P child=C delta=2 ctx=C.main cur=P in=ctx"; `in` is where
// it ran: hart (hart context), ctx (a lithe context) or foreign.
inline std::string str(const Rec &r) {
    std::string s = ev_name(r.ev);
    s += " " + name_of(r.self);
    if (r.child) s += " child=" + name_of(r.child);
    if (r.ev == Ev::HartRequest) s += " delta=" + std::to_string(r.delta);
    if (r.ctx) s += " ctx=" + name_of(r.ctx);
    if (r.ev == Ev::Mark) s += " tag=" + std::to_string(r.tag);
    s += " cur=" + name_of(r.current);
    s += r.in_hart_ctx ? " in=hart" : (r.hart < 0 ? " in=foreign" : " in=ctx");
    return s;
}

// Strings of the records with index in (after, before) that ran on `hart`.
inline std::vector<std::string> on_hart(size_t after, size_t before, int hart) {
    std::vector<std::pair<size_t, Rec>> all;
    read(after + 1, all);
    std::vector<std::string> out;
    for (auto &[i, r] : all)
        if (i < before && r.hart == hart) out.push_back(str(r));
    return out;
}

// The first `n` records after index `after` on `hart` (fewer if absent).
inline std::vector<std::string> next_on_hart(size_t after, int hart, size_t n) {
    std::vector<std::pair<size_t, Rec>> all;
    read(after + 1, all);
    std::vector<std::string> out;
    for (auto &[i, r] : all)
        if (r.hart == hart && out.size() < n) out.push_back(str(r));
    return out;
}

// Per-scheduler overrides, run after the record instead of the default.
struct Hooks {
    void (*hart_request)(lithe_sched_t *, lithe_sched_t *, int) = nullptr;
    void (*child_enter)(lithe_sched_t *, lithe_sched_t *) = nullptr;
    void (*child_exit)(lithe_sched_t *, lithe_sched_t *) = nullptr;
    void (*hart_enter)(lithe_sched_t *) = nullptr;
    void (*context_unblock)(lithe_sched_t *, lithe_context_t *) = nullptr;
    void (*context_exit)(lithe_sched_t *, lithe_context_t *) = nullptr;
};

inline Hooks *hooks(lithe_sched_t *s) {
    return static_cast<Hooks *>(reinterpret_cast<lithe_fj_sched_t *>(s)->user);
}

#define TRACE_HOOK(field) \
    (hooks(self) && hooks(self)->field ? hooks(self)->field : nullptr)

inline void t_hart_request(lithe_sched_t *self, lithe_sched_t *c, int d) {
    rec(Ev::HartRequest, self, c, lithe_context_self(), d);
    if (auto f = TRACE_HOOK(hart_request)) return f(self, c, d);
    lithe_fj_hart_request(self, c, d);
}
inline void t_child_enter(lithe_sched_t *self, lithe_sched_t *c) {
    rec(Ev::ChildEnter, self, c);
    if (auto f = TRACE_HOOK(child_enter)) return f(self, c);
    lithe_fj_child_enter(self, c);
}
inline void t_child_exit(lithe_sched_t *self, lithe_sched_t *c) {
    rec(Ev::ChildExit, self, c);
    if (auto f = TRACE_HOOK(child_exit)) return f(self, c);
    lithe_fj_child_exit(self, c);
}
inline void t_hart_return(lithe_sched_t *self, lithe_sched_t *c) {
    rec(Ev::HartReturn, self, c);
    lithe_fj_hart_return(self, c);
}
inline void t_hart_enter(lithe_sched_t *self) {
    rec(Ev::HartEnter, self);
    if (auto f = TRACE_HOOK(hart_enter)) return f(self);
    lithe_fj_hart_enter(self);
}
inline void t_sched_enter(lithe_sched_t *self) {
    rec(Ev::SchedEnter, self);
    lithe_fj_sched_enter(self);
}
inline void t_sched_exit(lithe_sched_t *self) {
    rec(Ev::SchedExit, self);
    lithe_fj_sched_exit(self);
}
inline void t_context_block(lithe_sched_t *self, lithe_context_t *c) {
    rec(Ev::CtxBlock, self, nullptr, c);
    lithe_fj_context_block(self, c);
}
inline void t_context_unblock(lithe_sched_t *self, lithe_context_t *c) {
    rec(Ev::CtxUnblock, self, nullptr, c);
    if (auto f = TRACE_HOOK(context_unblock)) return f(self, c);
    lithe_fj_context_unblock(self, c);
}
inline void t_context_yield(lithe_sched_t *self, lithe_context_t *c) {
    rec(Ev::CtxYield, self, nullptr, c);
    lithe_fj_context_yield(self, c);
}
inline void t_context_exit(lithe_sched_t *self, lithe_context_t *c) {
    rec(Ev::CtxExit, self, nullptr, c);
    if (auto f = TRACE_HOOK(context_exit)) return f(self, c);
    lithe_fj_context_exit(self, c);
}
#undef TRACE_HOOK

inline const lithe_sched_funcs g_traced_funcs = {
    t_hart_request, t_child_enter,     t_child_exit,    t_hart_return,
    t_hart_enter,   t_sched_enter,     t_sched_exit,    t_context_block,
    t_context_unblock, t_context_yield, t_context_exit,
};

// A traced fork-join scheduler named `n` (its main context is "n.main").
inline lithe_fj_sched_t *make(const char *n, Hooks *h = nullptr) {
    lithe_fj_sched_t *s = lithe_fj_sched_create_funcs(&g_traced_funcs);
    s->user = h;
    name(&s->sched, n);
    name(&s->main, std::string(n) + ".main");
    return s;
}

// Spins (the caller keeps its hart) until pred() or a generous deadline.
template <class Pred>
bool spin_until(Pred pred, std::chrono::seconds limit = std::chrono::seconds(10)) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > end) return false;
        __builtin_ia32_pause();
    }
    return true;
}

}  // namespace trace

namespace trace {
// next_on_hart once `n` records are there: a hart records its callbacks
// independently of the context the test thread waited for, so they may
// still be under way (bounded by spin_until's limit).
inline std::vector<std::string> next_on_hart_wait(size_t after, int hart,
                                                  size_t n) {
    spin_until([&] { return next_on_hart(after, hart, n).size() >= n; });
    return next_on_hart(after, hart, n);
}
}  // namespace trace
