// sync.cpp: mutual exclusion and single: the blocking Mutex behind
// critical (named or not), locks, nest locks and reductions, and the
// single / master / masked decisions.
//
// Mutex: `held_` and the FIFO of Waiters are guarded by `s_`. A contender
// spins briefly, then blocks its context; the block callback re-checks
// `held_` under `s_` before queueing (no lost wake-up). unlock() hands the
// mutex directly to the first waiter (held_ stays true), so a woken waiter
// owns it without re-competing. Waiter nodes live on the blocked
// context's stack. Foreign pthreads (not contexts) spin with sched_yield.
//
// Locks: omp_lock_t is 4 bytes under gcc's omp.h (16 for nest locks), 8
// under libomp's; both hold a 32-bit handle (first 4 bytes) into a table
// of Lock objects, so the same code serves both ABIs. Table segments are
// allocated on demand and never freed; freed handles are reused.
// A nest lock is owned by a *task* (OpenMP 3.0 on), not by the context
// running it: the implicit task of a `parallel if(0)` region, or an
// explicit task, does not own a lock its encountering task holds
// (libgomp.c/lock-1.c).
#include <sched.h>

#include <cstring>

#include "internal.hpp"

namespace lomp {

struct MutexBlock {
    Mutex *m;
    Waiter *w;
};

void mutex_block_cb(lithe_context_t *self, void *arg) {
    auto *mb = static_cast<MutexBlock *>(arg);
    Mutex *m = mb->m;
    m->s_.lock();
    // `got` is read before s_ is released: once queued, the context may be
    // handed the mutex, resume and return (its stack, and *mb, gone)
    // before this callback finishes.
    bool got = !m->held_;
    if (got) {
        m->held_ = true;
    } else {
        mb->w->ctx = self;
        mb->w->next = nullptr;
        if (m->tail_)
            m->tail_->next = mb->w;
        else
            m->head_ = mb->w;
        m->tail_ = mb->w;
    }
    m->s_.unlock();
    if (got) lithe_context_unblock(self);
}

bool Mutex::try_lock() {
    std::lock_guard<Spin> g(s_);
    if (held_) return false;
    held_ = true;
    return true;
}

void Mutex::lock() {
    if (spin_until([&] { return try_lock(); })) return;
    if (!lithe_context_self()) {
        while (!try_lock()) sched_yield();
        return;
    }
    Waiter w{};
    MutexBlock mb{this, &w};
    lithe_context_block(mutex_block_cb, &mb);
    // Either the callback took it, or unlock() handed it over.
}

void Mutex::unlock() {
    s_.lock();
    Waiter *w = head_;
    if (w) {
        head_ = w->next;
        if (!head_) tail_ = nullptr;
    } else {
        held_ = false;
    }
    s_.unlock();
    if (w) lithe_context_unblock(w->ctx);
}

Mutex &global_critical() {
    static Mutex *m = new Mutex;  // immortal: used until process exit
    return *m;
}

Mutex &atomic_mutex() {
    static Mutex *m = new Mutex;  // immortal
    return *m;
}

static Mutex *slot_mutex(std::atomic<Mutex *> *slot) {
    Mutex *m = slot->load(std::memory_order_acquire);
    if (m) return m;
    Mutex *fresh = new Mutex;
    if (slot->compare_exchange_strong(m, fresh, std::memory_order_acq_rel))
        return fresh;
    delete fresh;
    return m;
}

void critical_enter(std::atomic<Mutex *> *slot) { slot_mutex(slot)->lock(); }
void critical_exit(std::atomic<Mutex *> *slot) { slot_mutex(slot)->unlock(); }

// The n-th single construct a member meets is won by the first member
// that moves the team's counter from n-1 to n.
bool single_begin() {
    Member *m = self();
    Team *t = m->team;
    uint64_t mine = ++m->singles;
    if (!t || t->n == 1) return true;
    uint64_t expect = mine - 1;
    return t->singles.compare_exchange_strong(expect, mine,
                                              std::memory_order_acq_rel);
}

// ---- locks ----
namespace {

struct Lock {
    Mutex m;
    // Nest locks: the owning task; read racily by non-owners, who can
    // only see "not me". `depth` is the owner's.
    std::atomic<const void *> owner{nullptr};
    int depth = 0;
    uint32_t next_free = 0;
};

constexpr uint32_t kSegBits = 12, kSegSize = 1u << kSegBits, kSegs = 4096;
std::atomic<Lock *> g_segs[kSegs];
Spin g_table_lock;
uint32_t g_next_handle = 1;  // 0 = never initialised
uint32_t g_free = 0;

Lock *lock_at(uint32_t h) {
    Lock *seg = g_segs[h >> kSegBits].load(std::memory_order_acquire);
    return &seg[h & (kSegSize - 1)];
}

uint32_t handle_alloc() {
    std::lock_guard<Spin> g(g_table_lock);
    if (g_free) {
        uint32_t h = g_free;
        g_free = lock_at(h)->next_free;
        return h;
    }
    uint32_t h = g_next_handle++;
    if ((h >> kSegBits) >= kSegs) fatal("omp_init_lock: too many locks");
    if (!g_segs[h >> kSegBits].load(std::memory_order_relaxed))
        g_segs[h >> kSegBits].store(new Lock[kSegSize],
                                    std::memory_order_release);
    return h;
}

uint32_t handle_of(void *lk, const char *who) {
    uint32_t h;
    std::memcpy(&h, lk, sizeof h);
    if (h == 0 || h >= g_next_handle)
        fatal("%s: lock %p is not initialised", who, lk);
    return h;
}

// The task running now (each foreign pthread has its own initial task).
const void *me() { return current_task(); }

}  // namespace

}  // namespace lomp

using namespace lomp;

OMP_API void omp_init_lock(void *lk) {
    uint32_t h = handle_alloc();
    Lock *l = lock_at(h);
    l->owner.store(nullptr, std::memory_order_relaxed);
    l->depth = 0;
    std::memcpy(lk, &h, sizeof h);
}
OMP_API void omp_init_lock_with_hint(void *lk, int) { omp_init_lock(lk); }
OMP_API void omp_destroy_lock(void *lk) {
    uint32_t h = handle_of(lk, "omp_destroy_lock");
    std::lock_guard<Spin> g(g_table_lock);
    lock_at(h)->next_free = g_free;
    g_free = h;
    uint32_t zero = 0;
    std::memcpy(lk, &zero, sizeof zero);
}
OMP_API void omp_set_lock(void *lk) {
    lock_at(handle_of(lk, "omp_set_lock"))->m.lock();
}
OMP_API void omp_unset_lock(void *lk) {
    lock_at(handle_of(lk, "omp_unset_lock"))->m.unlock();
}
OMP_API int omp_test_lock(void *lk) {
    return lock_at(handle_of(lk, "omp_test_lock"))->m.try_lock() ? 1 : 0;
}

OMP_API void omp_init_nest_lock(void *lk) { omp_init_lock(lk); }
OMP_API void omp_init_nest_lock_with_hint(void *lk, int) { omp_init_lock(lk); }
OMP_API void omp_destroy_nest_lock(void *lk) { omp_destroy_lock(lk); }
OMP_API void omp_set_nest_lock(void *lk) {
    Lock *l = lock_at(handle_of(lk, "omp_set_nest_lock"));
    if (l->owner.load(std::memory_order_relaxed) == me()) {
        ++l->depth;
        return;
    }
    l->m.lock();
    l->owner.store(me(), std::memory_order_relaxed);
    l->depth = 1;
}
OMP_API void omp_unset_nest_lock(void *lk) {
    Lock *l = lock_at(handle_of(lk, "omp_unset_nest_lock"));
    if (l->owner.load(std::memory_order_relaxed) != me())
        fatal("omp_unset_nest_lock: lock %p not owned by the caller", lk);
    if (--l->depth == 0) {
        l->owner.store(nullptr, std::memory_order_relaxed);
        l->m.unlock();
    }
}
OMP_API int omp_test_nest_lock(void *lk) {
    Lock *l = lock_at(handle_of(lk, "omp_test_nest_lock"));
    if (l->owner.load(std::memory_order_relaxed) == me()) return ++l->depth;
    if (!l->m.try_lock()) return 0;
    l->owner.store(me(), std::memory_order_relaxed);
    l->depth = 1;
    return 1;
}
