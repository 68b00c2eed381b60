// loops.cpp: worksharing loops, in iteration-index space [0, trip); the
// ABI files map indices to the compilers' bounds.
//
// Each member numbers the worksharing loops it starts (Member::loops);
// loop number k uses the team's slot k % kLoopSlots. The first member to
// start loop k initialises the slot, once every member has finished loop
// k - kLoopSlots there (so `nowait` loops may run ahead by up to
// kLoopSlots - 1 loops; a member further ahead blocks on the slot until
// the last member finishes the old loop there. Blocking, not yielding: the
// fork-join run queues are LIFO per hart, so a yielding waiter would run
// again at once and could starve the laggard it waits for).
// Slot fields other than `next` are written only under `s` by the
// initialiser, before any member reads them (members read after seeing
// seq == k under `s`).
//
// Schedules: static (one block per member, or chunks round-robin),
// dynamic (fetch-add of `chunk`), guided (CAS: max(chunk, remaining/2n)),
// auto = guided with chunk 1. runtime resolves run-sched-var first.
//
// Ordered loops: iterations of a chunk run in order on one member, so the
// turn to run ordered regions passes chunk by chunk: `ord_next` is the first
// iteration of the chunk whose member may enter ordered regions; a member
// passes the turn on (ord_next = its chunk's end), after waiting for it,
// when it takes its next chunk or finishes. The lowest unfinished chunk's
// member never waits, so the loop always progresses. Waits block on the
// slot's waiter list; every change wakes all waiters, who re-check.
#include <sched.h>

#include <algorithm>

#include "internal.hpp"

namespace lomp {
namespace {

bool reusable(const LoopSlot &sl, uint64_t k, int n) {
    return sl.seq < k && (sl.seq == 0 || sl.finished == n);
}

// Blocks the caller (a context; foreign threads spin) until ready(sl)
// holds, checked under sl.s.
template <class P>
void slot_wait(LoopSlot &sl, P ready) {
    struct Arg {
        LoopSlot *sl;
        P *ready;
        Waiter w;
    };
    if (spin_until([&] {
            std::lock_guard<Spin> g(sl.s);
            return ready(sl);
        }))
        return;
    if (!lithe_context_self()) {
        for (;;) {
            {
                std::lock_guard<Spin> g(sl.s);
                if (ready(sl)) return;
            }
            sched_yield();
        }
    }
    Arg a{&sl, &ready, {}};
    for (;;) {
        {
            std::lock_guard<Spin> g(sl.s);
            if (ready(sl)) return;
        }
        lithe_context_block(
            [](lithe_context_t *self, void *p) {
                auto *a = static_cast<Arg *>(p);
                LoopSlot &sl = *a->sl;
                sl.s.lock();
                bool ok = (*a->ready)(sl);
                if (!ok) {
                    a->w = Waiter{self, sl.waiters};
                    sl.waiters = &a->w;
                }
                sl.s.unlock();
                if (ok) lithe_context_unblock(self);
            },
            &a);
    }
}

// Called with sl.s held; the caller wakes the returned list after
// unlocking (a waiter's node lives on its stack: read `next` first).
Waiter *take_waiters(LoopSlot &sl) {
    Waiter *w = sl.waiters;
    sl.waiters = nullptr;
    return w;
}
void wake(Waiter *w) {
    while (w) {
        Waiter *next = w->next;
        lithe_context_unblock(w->ctx);
        w = next;
    }
}

// Ordered: waits for this member's chunk's turn, then passes it on.
void pass_turn(Member *m) {
    if (!m->has_chunk) return;
    m->has_chunk = false;
    LoopSlot &sl = *m->loop;
    uint64_t first = m->chunk_first;
    slot_wait(sl, [first](LoopSlot &s) { return s.ord_next == first; });
    sl.s.lock();
    sl.ord_next = m->chunk_end;
    Waiter *w = take_waiters(sl);
    sl.s.unlock();
    wake(w);
}

}  // namespace

SchedKind resolve_runtime(uint64_t *chunk) {
    const Icv &icv = self()->icv;
    *chunk = icv.run_chunk > 0 ? static_cast<uint64_t>(icv.run_chunk) : 0;
    return icv.run_sched;
}

void loop_start(SchedKind kind, uint64_t chunk, uint64_t trip,
                bool ordered) {
    Member *m = self();
    Team *t = m->team;
    int n = t ? t->n : 1;
    if (kind == kAuto) {
        kind = kGuided;
        chunk = 1;
    }
    if (chunk == 0 && kind != kStatic) chunk = 1;
    uint64_t k = ++m->loops;
    LoopSlot &sl = t->loops[k % kLoopSlots];
    slot_wait(sl, [k, n](LoopSlot &s) { return s.seq == k || reusable(s, k, n); });
    sl.s.lock();
    if (sl.seq != k) {
        sl.seq = k;
        sl.finished = 0;
        sl.kind = kind;
        sl.trip = trip;
        sl.chunk = chunk;
        sl.ordered = ordered;
        sl.ord_next = 0;
        sl.next.store(0, std::memory_order_relaxed);
    }
    sl.s.unlock();
    m->loop = &sl;
    m->static_k = 0;
    m->loop_done = false;
    m->has_chunk = false;
}

void ordered_enter() {
    Member *m = self();
    if (!m->has_chunk) fatal("ordered region outside an ordered loop chunk");
    uint64_t first = m->chunk_first;
    slot_wait(*m->loop, [first](LoopSlot &s) { return s.ord_next == first; });
}

static bool finish(Member *m) {
    if (m->loop_done) return false;
    pass_turn(m);
    m->loop_done = true;
    LoopSlot &sl = *m->loop;
    Waiter *w = nullptr;
    sl.s.lock();
    if (++sl.finished == (m->team ? m->team->n : 1)) w = take_waiters(sl);
    sl.s.unlock();
    wake(w);
    return false;
}

bool loop_next(uint64_t *first, uint64_t *count, bool *last) {
    Member *m = self();
    LoopSlot &sl = *m->loop;
    if (m->loop_done) return false;
    if (sl.ordered) pass_turn(m);
    uint64_t n = m->team ? static_cast<uint64_t>(m->team->n) : 1;
    uint64_t trip = sl.trip, chunk = sl.chunk, tid = m->tid;
    uint64_t lo, cnt;
    switch (sl.kind) {
    case kStatic:
        if (chunk == 0) {  // one balanced block per member
            if (m->static_k++ > 0) return finish(m);
            uint64_t q = trip / n, r = trip % n;
            lo = tid * q + std::min(tid, r);
            cnt = q + (tid < r ? 1 : 0);
        } else {
            uint64_t c = tid + n * m->static_k++;
            if (c >= (trip + chunk - 1) / chunk) return finish(m);
            lo = c * chunk;
            cnt = std::min(chunk, trip - lo);
        }
        if (cnt == 0) return finish(m);
        break;
    case kDynamic:
        lo = sl.next.fetch_add(chunk, std::memory_order_relaxed);
        if (lo >= trip) return finish(m);
        cnt = std::min(chunk, trip - lo);
        break;
    default: {  // guided
        lo = sl.next.load(std::memory_order_relaxed);
        for (;;) {
            if (lo >= trip) return finish(m);
            uint64_t rem = trip - lo;
            cnt = std::min(rem, std::max(chunk, (rem + 2 * n - 1) / (2 * n)));
            if (sl.next.compare_exchange_weak(lo, lo + cnt,
                                              std::memory_order_relaxed))
                break;
        }
    }
    }
    if (sl.ordered) {
        m->has_chunk = true;
        m->chunk_first = lo;
        m->chunk_end = lo + cnt;
    }
    *first = lo;
    *count = cnt;
    *last = lo + cnt == trip;
    return true;
}

}  // namespace lomp
