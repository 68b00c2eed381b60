// loops.cpp: worksharing loops, in iteration-index space [0, trip); the
// ABI files map indices to the compilers' bounds.
//
// Each member numbers the dynamic-style loops it starts (Member::loops);
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
#include <sched.h>

#include <algorithm>

#include "internal.hpp"

namespace lomp {
namespace {

bool reusable(const LoopSlot &sl, uint64_t k, int n) {
    return sl.seq < k && (sl.seq == 0 || sl.finished == n);
}

struct SlotWait {
    LoopSlot *sl;
    uint64_t k;
    int n;
    Waiter w;
};

void slot_block_cb(lithe_context_t *self, void *arg) {
    auto *sw = static_cast<SlotWait *>(arg);
    LoopSlot &sl = *sw->sl;
    sl.s.lock();
    bool ready = sl.seq == sw->k || reusable(sl, sw->k, sw->n);
    if (!ready) {
        sw->w = Waiter{self, sl.waiters};
        sl.waiters = &sw->w;
    }
    sl.s.unlock();
    if (ready) lithe_context_unblock(self);
}

}  // namespace

SchedKind resolve_runtime(uint64_t *chunk) {
    const Icv &icv = self()->icv;
    *chunk = icv.run_chunk > 0 ? static_cast<uint64_t>(icv.run_chunk) : 0;
    return icv.run_sched;
}

void loop_start(SchedKind kind, uint64_t chunk, uint64_t trip) {
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
    for (;;) {
        sl.s.lock();
        if (sl.seq == k) break;
        if (reusable(sl, k, n)) {
            sl.seq = k;
            sl.finished = 0;
            sl.kind = kind;
            sl.trip = trip;
            sl.chunk = chunk;
            sl.next.store(0, std::memory_order_relaxed);
            break;
        }
        sl.s.unlock();
        if (lithe_context_self()) {
            SlotWait sw{&sl, k, n, {}};
            lithe_context_block(slot_block_cb, &sw);
        } else {
            sched_yield();
        }
    }
    sl.s.unlock();
    m->loop = &sl;
    m->static_k = 0;
    m->loop_done = false;
}

static bool finish(Member *m) {
    if (m->loop_done) return false;
    m->loop_done = true;
    LoopSlot &sl = *m->loop;
    Waiter *wake = nullptr;
    sl.s.lock();
    if (++sl.finished == (m->team ? m->team->n : 1)) {
        wake = sl.waiters;
        sl.waiters = nullptr;
    }
    sl.s.unlock();
    while (wake) {
        Waiter *next = wake->next;  // read before the waiter runs again
        lithe_context_unblock(wake->ctx);
        wake = next;
    }
    return false;
}

bool loop_next(uint64_t *first, uint64_t *count, bool *last) {
    Member *m = self();
    LoopSlot &sl = *m->loop;
    if (m->loop_done) return false;
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
    *first = lo;
    *count = cnt;
    *last = lo + cnt == trip;
    return true;
}

}  // namespace lomp
