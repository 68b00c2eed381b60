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
// bounds kept in the slot. There is no limit on the number of dimensions
// (gcc's testsuite uses ordered(61)); a vector is folded component by
// component into a Point, so post and wait never allocate. A loop whose
// inner iteration space does not fit the 64-bit flattened index stops the
// program with a message instead of aliasing iterations.
#include <algorithm>
#include <cstdarg>

#include "internal.hpp"

namespace lomp {
namespace {

bool reusable(const DoacrossSlot &s, uint64_t k, int n) {
    uint64_t seq = s.seq.load(std::memory_order_acquire);
    return seq == k ||
           (seq < k && (seq == 0 || s.finished.load(std::memory_order_acquire) == n));
}

// An iteration vector as the slot compares it: the outer iteration and
// 1 + the flattened index of the inner ones; `inside` is false once a
// component falls outside the iteration space (such a vector names no
// iteration).
struct Point {
    DoacrossSlot &s;
    int d = 0;  // components folded so far
    uint64_t outer = 0, inner = 0;
    bool inside = true;

    explicit Point(DoacrossSlot &slot) : s(slot) {}
    // Folds the next component, a logical iteration number.
    void add(uint64_t i) {
        if (i >= s.count[d]) inside = false;
        else if (d == 0) outer = i;
        else inner = inner * s.count[d] + i;
        ++d;
    }
    uint64_t flat() const { return inner + 1; }
};

void post(const Point &p) {
    if (!p.inside) return;
    p.s.done[p.outer].store(p.flat(), std::memory_order_seq_cst);
    p.s.waitq.notify_all();
}

void wait(const Point &p) {
    if (!p.inside) return;
    uint64_t want = p.flat();
    std::atomic<uint64_t> &c = p.s.done[p.outer];
    p.s.waitq.wait([&] { return c.load(std::memory_order_seq_cst) >= want; });
}

}  // namespace

void doacross_init(int ndims, const uint64_t *count, const int64_t *lo,
                   const int64_t *st) {
    if (ndims < 1) fatal("doacross loop with %d ordered dimensions", ndims);
    // A zero count makes the loop empty (no post or wait can follow), and
    // gcc leaves the counts after it unset (libgomp stops reading there).
    int known = 0;
    while (known < ndims && count[known]) ++known;
    // flat() of the last inner iteration, prod(count[1..]), must fit.
    uint64_t span = 1;
    for (int d = 1; d < known; ++d)
        if (__builtin_mul_overflow(span, count[d], &span))
            fatal("doacross loop: the inner %d ordered dimensions have more "
                  "than 2^64 iterations", ndims - 1);
    Member *m = self();
    Team *t = m->team;
    uint64_t k = ++m->dx_seq;
    DoacrossSlot &s = t->dx[k % kDoacrossSlots];
    s.waitq.wait([&] { return reusable(s, k, t->n); });
    s.s.lock();
    if (s.seq.load(std::memory_order_relaxed) != k) {
        s.ndims = ndims;
        s.count.assign(ndims, 0);
        std::copy(count, count + known, s.count.begin());
        s.lo.assign(ndims, 0);
        s.st.assign(ndims, 1);
        for (int d = 0; d < ndims; ++d) {
            if (lo) s.lo[d] = lo[d];
            if (st) s.st[d] = st[d];
        }
        s.done.reset(new std::atomic<uint64_t>[count[0] ? count[0] : 1]());
        s.finished.store(0, std::memory_order_relaxed);
        s.seq.store(k, std::memory_order_release);
    }
    s.s.unlock();
    m->dx = &s;
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

// The kmpc entry points pass loop values.
Point kmpc_point(const int64_t *vec) {
    Point p(*self()->dx);
    for (int d = 0; d < p.s.ndims; ++d) p.add(logical(p.s, d, vec[d]));
    return p;
}

// The gcc entry points pass logical iteration numbers, as an array (post)
// or as varargs after the first (wait).
template <typename T>
Point gomp_point(const T *counts) {
    Point p(*self()->dx);
    for (int d = 0; d < p.s.ndims; ++d) p.add(static_cast<uint64_t>(counts[d]));
    return p;
}

template <typename T>
Point gomp_point(T first, va_list ap) {
    Point p(*self()->dx);
    p.add(static_cast<uint64_t>(first));
    for (int d = 1; d < p.s.ndims; ++d) p.add(static_cast<uint64_t>(va_arg(ap, T)));
    return p;
}

}  // namespace

OMP_API void __kmpc_doacross_init(void *, int, int ndims, const KmpDim *dims) {
    if (ndims < 1) fatal("__kmpc_doacross_init: %d ordered dimensions", ndims);
    std::vector<uint64_t> count(ndims);
    std::vector<int64_t> lo(ndims), st(ndims);
    for (int d = 0; d < ndims; ++d) {
        lo[d] = dims[d].lo;
        st[d] = dims[d].st ? dims[d].st : 1;
        int64_t span = st[d] > 0 ? dims[d].up - lo[d] : lo[d] - dims[d].up;
        uint64_t astep = st[d] > 0 ? static_cast<uint64_t>(st[d])
                                   : 0 - static_cast<uint64_t>(st[d]);
        count[d] = span < 0 ? 0 : static_cast<uint64_t>(span) / astep + 1;
    }
    doacross_init(ndims, count.data(), lo.data(), st.data());
}
OMP_API void __kmpc_doacross_wait(void *, int, const int64_t *vec) {
    wait(kmpc_point(vec));
}
OMP_API void __kmpc_doacross_post(void *, int, const int64_t *vec) {
    post(kmpc_point(vec));
}
OMP_API void __kmpc_doacross_fini(void *, int) { doacross_fini(); }

OMP_API void GOMP_doacross_post(long *counts) { post(gomp_point(counts)); }
OMP_API void GOMP_doacross_wait(long first, ...) {
    va_list ap;
    va_start(ap, first);
    Point p = gomp_point<long>(first, ap);
    va_end(ap);
    wait(p);
}
OMP_API void GOMP_doacross_ull_post(unsigned long long *counts) {
    post(gomp_point(counts));
}
OMP_API void GOMP_doacross_ull_wait(unsigned long long first, ...) {
    va_list ap;
    va_start(ap, first);
    Point p = gomp_point<unsigned long long>(first, ap);
    va_end(ap);
    wait(p);
}
