// doacross.cpp: ordered(n) loops with depend(sink: ...) / depend(source).
//
// Each member numbers the doacross loops it starts (Member::dx_seq); loop
// k uses the team's slot k % kDoacrossSlots, set up by the first member to
// start it once every member finished loop k - kDoacrossSlots there (the
// loops.cpp scheme). The outer dimension is the workshared one: an outer
// iteration runs on one member, its inner iterations in lexicographic
// order, so a slot keeps one counter per outer iteration: done[i] =
// 1 + the flattened index of its last posted inner iteration vector.
// post stores it (monotonic) and wakes waiters; wait(v) blocks until
// done[v0] > flat(v1..). A sink vector outside the iteration space names
// no iteration and does not wait (as in libomp and libgomp).
//
// Vectors are logical iteration numbers here; the gcc entry points pass
// them so, the kmpc ones pass loop values, converted with the kmp_dim
// bounds kept in the slot.
#include <cstdarg>

#include "internal.hpp"

namespace lomp {
namespace {

bool reusable(const DoacrossSlot &s, uint64_t k, int n) {
    uint64_t seq = s.seq.load(std::memory_order_acquire);
    return seq == k ||
           (seq < k && (seq == 0 || s.finished.load(std::memory_order_acquire) == n));
}

// flat index + 1 of the inner dimensions of `iter`.
uint64_t flat_inner(const DoacrossSlot &s, const uint64_t *iter) {
    uint64_t f = 0;
    for (int d = 1; d < s.ndims; ++d) f = f * s.count[d] + iter[d];
    return f + 1;
}

}  // namespace

void doacross_init(int ndims, const uint64_t *count, const int64_t *lo,
                   const int64_t *st) {
    if (ndims < 1 || ndims > 8)
        fatal("doacross loop with %d ordered dimensions (1..8 supported)", ndims);
    Member *m = self();
    Team *t = m->team;
    uint64_t k = ++m->dx_seq;
    DoacrossSlot &s = t->dx[k % kDoacrossSlots];
    s.waitq.wait([&] { return reusable(s, k, t->n); });
    s.s.lock();
    if (s.seq.load(std::memory_order_relaxed) != k) {
        s.ndims = ndims;
        for (int d = 0; d < ndims; ++d) {
            s.count[d] = count[d];
            s.lo[d] = lo ? lo[d] : 0;
            s.st[d] = st ? st[d] : 1;
        }
        s.done.reset(new std::atomic<uint64_t>[count[0] ? count[0] : 1]());
        s.finished.store(0, std::memory_order_relaxed);
        s.seq.store(k, std::memory_order_release);
    }
    s.s.unlock();
    m->dx = &s;
}

void doacross_post(const uint64_t *iter) {
    DoacrossSlot &s = *self()->dx;
    if (iter[0] >= s.count[0]) return;
    s.done[iter[0]].store(flat_inner(s, iter), std::memory_order_seq_cst);
    s.waitq.notify_all();
}

void doacross_wait(const uint64_t *iter) {
    DoacrossSlot &s = *self()->dx;
    for (int d = 0; d < s.ndims; ++d)
        if (iter[d] >= s.count[d]) return;
    uint64_t want = flat_inner(s, iter);
    std::atomic<uint64_t> &c = s.done[iter[0]];
    s.waitq.wait([&] { return c.load(std::memory_order_seq_cst) >= want; });
}

void doacross_fini() {
    Member *m = self();
    if (!m->dx) return;
    m->dx->finished.fetch_add(1, std::memory_order_acq_rel);
    m->dx->waitq.notify_all();
    m->dx = nullptr;
}

}  // namespace lomp

using namespace lomp;

namespace {

struct KmpDim {
    int64_t lo, up, st;
};

// Loop value -> logical iteration; UINT64_MAX if outside the loop.
uint64_t logical(const DoacrossSlot &s, int d, int64_t v) {
    int64_t lo = s.lo[d], st = s.st[d];
    int64_t off = st > 0 ? v - lo : lo - v;
    if (off < 0) return UINT64_MAX;
    uint64_t astep = st > 0 ? static_cast<uint64_t>(st) : 0 - static_cast<uint64_t>(st);
    uint64_t i = static_cast<uint64_t>(off) / astep;
    return static_cast<uint64_t>(off) % astep ? UINT64_MAX : i;
}

template <typename T>
void gomp_wait(T first, va_list ap) {
    DoacrossSlot &s = *self()->dx;
    uint64_t iter[8];
    iter[0] = static_cast<uint64_t>(first);
    for (int d = 1; d < s.ndims; ++d) iter[d] = static_cast<uint64_t>(va_arg(ap, T));
    doacross_wait(iter);
}

}  // namespace

OMP_API void __kmpc_doacross_init(void *, int, int ndims, const KmpDim *dims) {
    if (ndims < 1 || ndims > 8)
        fatal("__kmpc_doacross_init: %d ordered dimensions (1..8 supported)", ndims);
    uint64_t count[8];
    int64_t lo[8], st[8];
    for (int d = 0; d < ndims; ++d) {
        lo[d] = dims[d].lo;
        st[d] = dims[d].st ? dims[d].st : 1;
        int64_t span = st[d] > 0 ? dims[d].up - lo[d] : lo[d] - dims[d].up;
        uint64_t astep = st[d] > 0 ? static_cast<uint64_t>(st[d])
                                   : 0 - static_cast<uint64_t>(st[d]);
        count[d] = span < 0 ? 0 : static_cast<uint64_t>(span) / astep + 1;
    }
    doacross_init(ndims, count, lo, st);
}
OMP_API void __kmpc_doacross_wait(void *, int, const int64_t *vec) {
    DoacrossSlot &s = *self()->dx;
    uint64_t iter[8];
    for (int d = 0; d < s.ndims; ++d) iter[d] = logical(s, d, vec[d]);
    doacross_wait(iter);
}
OMP_API void __kmpc_doacross_post(void *, int, const int64_t *vec) {
    DoacrossSlot &s = *self()->dx;
    uint64_t iter[8];
    for (int d = 0; d < s.ndims; ++d) iter[d] = logical(s, d, vec[d]);
    doacross_post(iter);
}
OMP_API void __kmpc_doacross_fini(void *, int) { doacross_fini(); }

OMP_API void GOMP_doacross_post(long *counts) {
    DoacrossSlot &s = *self()->dx;
    uint64_t iter[8];
    for (int d = 0; d < s.ndims; ++d) iter[d] = static_cast<uint64_t>(counts[d]);
    doacross_post(iter);
}
OMP_API void GOMP_doacross_wait(long first, ...) {
    va_list ap;
    va_start(ap, first);
    gomp_wait<long>(first, ap);
    va_end(ap);
}
OMP_API void GOMP_doacross_ull_post(unsigned long long *counts) {
    DoacrossSlot &s = *self()->dx;
    uint64_t iter[8];
    for (int d = 0; d < s.ndims; ++d) iter[d] = counts[d];
    doacross_post(iter);
}
OMP_API void GOMP_doacross_ull_wait(unsigned long long first, ...) {
    va_list ap;
    va_start(ap, first);
    gomp_wait<unsigned long long>(first, ap);
    va_end(ap);
}
