// atomic_kmpc.cpp: libomp's __kmpc_atomic_* family, the calls clang emits
// for `#pragma omp atomic` forms no instruction does (long double,
// _Complex, capture with min/max, ...), and that other compilers emit more
// widely. Signatures follow kmp_atomic.h (x86_64 Linux).
//
// Names: __kmpc_atomic_<type>_<op>[_rev][_cpt][_float8|_cmplx8]
//   type  fixed1/2/4/8 (signed), fixed1u..8u, float4/8/10, cmplx4/8/10
//   op    add sub mul div andb orb xor shl shr andl orl eqv neqv max min
//   _rev  x = rhs op x;  _cpt returns the new (flag != 0) or old value;
//   swp / rd / wr exchange, read, write; _float8 / _cmplx8: rhs is double.
// cmplx4's capture and swap forms return through an `out` pointer.
//
// How: every operation is one read-modify-write `rmw(lhs, op)`. A value of
// 1, 2, 4 or 8 bytes at an address aligned to its size is updated by a
// compare-and-swap loop on its bits (floats compared bitwise, so NaNs and
// -0.0 make progress); anything else (long double, 16/32-byte complex,
// misaligned data, the generic __kmpc_atomic_10/16/20/32) under
// atomic_mutex(), which __kmpc_atomic_start/end and GOMP_atomic_start/end
// also take, so every lock-based atomic of either ABI excludes the others.
#include <cstring>

#include "internal.hpp"

namespace lomp {
namespace {

template <size_t N> struct BitsOf;
template <> struct BitsOf<1> { using type = uint8_t; };
template <> struct BitsOf<2> { using type = uint16_t; };
template <> struct BitsOf<4> { using type = uint32_t; };
template <> struct BitsOf<8> { using type = uint64_t; };

template <class T>
constexpr bool kCasSize = sizeof(T) == 1 || sizeof(T) == 2 ||
                          sizeof(T) == 4 || sizeof(T) == 8;

// Atomically replaces *lhs by n where op(old, &n) returns true (false: no
// store, n = old). Stores the old and new values in *oldp / *newp.
template <class T, class Op>
void rmw(T *lhs, Op op, T *oldp = nullptr, T *newp = nullptr) {
    T o, n;
    if constexpr (kCasSize<T>) {
        if (reinterpret_cast<uintptr_t>(lhs) % sizeof(T) == 0) {
            using B = typename BitsOf<sizeof(T)>::type;
            B *p = reinterpret_cast<B *>(lhs);
            B ob = __atomic_load_n(p, __ATOMIC_RELAXED), nb;
            for (;;) {
                memcpy(&o, &ob, sizeof(T));
                if (!op(o, &n)) {
                    n = o;
                    __atomic_thread_fence(__ATOMIC_ACQUIRE);
                    break;
                }
                memcpy(&nb, &n, sizeof(T));
                if (__atomic_compare_exchange_n(p, &ob, nb, false,
                                                __ATOMIC_ACQ_REL,
                                                __ATOMIC_RELAXED))
                    break;
            }
            if (oldp) *oldp = o;
            if (newp) *newp = n;
            return;
        }
    }
    Mutex &m = atomic_mutex();
    m.lock();
    o = *lhs;
    if (op(o, &n))
        *lhs = n;
    else
        n = o;
    m.unlock();
    if (oldp) *oldp = o;
    if (newp) *newp = n;
}

template <class T>
T atomic_read(T *loc) {
    T v;
    rmw(loc, [](T, T *) { return false; }, &v);
    return v;
}

using C4 = __complex__ float;
using C8 = __complex__ double;
using C10 = __complex__ long double;

}  // namespace
}  // namespace lomp

using namespace lomp;

#define OP_add(a, b) ((a) + (b))
#define OP_sub(a, b) ((a) - (b))
#define OP_mul(a, b) ((a) * (b))
#define OP_div(a, b) ((a) / (b))
#define OP_andb(a, b) ((a) & (b))
#define OP_orb(a, b) ((a) | (b))
#define OP_xor(a, b) ((a) ^ (b))
#define OP_shl(a, b) ((a) << (b))
#define OP_shr(a, b) ((a) >> (b))
#define OP_andl(a, b) ((a) && (b))
#define OP_orl(a, b) ((a) || (b))
#define OP_eqv(a, b) (~((a) ^ (b)))
#define OP_neqv(a, b) ((a) ^ (b))

// x = x op rhs (and x = rhs op x), plain and capture.
#define UPDATE(TID, T, OPN)                                                  \
    OMP_API void __kmpc_atomic_##TID##_##OPN(void *, int, T *lhs, T rhs) {   \
        rmw(lhs, [&](T o, T *n) { *n = (T)OP_##OPN(o, rhs); return true; }); \
    }                                                                        \
    OMP_API T __kmpc_atomic_##TID##_##OPN##_cpt(void *, int, T *lhs, T rhs,  \
                                                int flag) {                  \
        T o, n;                                                              \
        rmw(lhs, [&](T x, T *y) { *y = (T)OP_##OPN(x, rhs); return true; }, \
            &o, &n);                                                         \
        return flag ? n : o;                                                 \
    }
#define UPDATE_REV(TID, T, OPN)                                              \
    OMP_API void __kmpc_atomic_##TID##_##OPN##_rev(void *, int, T *lhs,      \
                                                   T rhs) {                  \
        rmw(lhs, [&](T o, T *n) { *n = (T)OP_##OPN(rhs, o); return true; }); \
    }                                                                        \
    OMP_API T __kmpc_atomic_##TID##_##OPN##_cpt_rev(void *, int, T *lhs,     \
                                                    T rhs, int flag) {       \
        T o, n;                                                              \
        rmw(lhs, [&](T x, T *y) { *y = (T)OP_##OPN(rhs, x); return true; }, \
            &o, &n);                                                         \
        return flag ? n : o;                                                 \
    }
// max: if (x < rhs) x = rhs. Capture returns the new value if it stored
// and flag is set, else the value x had (libomp).
#define MINMAX(TID, T, OPN, CMP)                                            \
    OMP_API void __kmpc_atomic_##TID##_##OPN(void *, int, T *lhs, T rhs) {  \
        rmw(lhs, [&](T o, T *n) { *n = rhs; return o CMP rhs; });           \
    }                                                                       \
    OMP_API T __kmpc_atomic_##TID##_##OPN##_cpt(void *, int, T *lhs, T rhs, \
                                                int flag) {                 \
        T o, n;                                                             \
        rmw(lhs, [&](T x, T *y) { *y = rhs; return x CMP rhs; }, &o, &n);   \
        return flag ? n : o;                                                \
    }
#define RD_WR_SWP(TID, T)                                                    \
    OMP_API T __kmpc_atomic_##TID##_rd(void *, int, T *loc) {                \
        return atomic_read(loc);                                             \
    }                                                                        \
    OMP_API void __kmpc_atomic_##TID##_wr(void *, int, T *lhs, T rhs) {      \
        rmw(lhs, [&](T, T *n) { *n = rhs; return true; });                   \
    }                                                                        \
    OMP_API T __kmpc_atomic_##TID##_swp(void *, int, T *lhs, T rhs) {        \
        T o;                                                                 \
        rmw(lhs, [&](T, T *n) { *n = rhs; return true; }, &o);               \
        return o;                                                            \
    }
// x = x op rhs with a wider rhs, converted back to x's type.
#define MIXED(TID, T, OPN, RID, R)                                           \
    OMP_API void __kmpc_atomic_##TID##_##OPN##_##RID(void *, int, T *lhs,    \
                                                     R rhs) {                \
        rmw(lhs, [&](T o, T *n) { *n = (T)OP_##OPN(o, rhs); return true; }); \
    }

#define ARITH(TID, T) \
    UPDATE(TID, T, add) UPDATE(TID, T, sub) UPDATE(TID, T, mul) \
    UPDATE(TID, T, div) UPDATE_REV(TID, T, sub) UPDATE_REV(TID, T, div)
#define FIXED(TID, T, UID, U)                                              \
    ARITH(TID, T)                                                          \
    UPDATE(TID, T, andb) UPDATE(TID, T, orb) UPDATE(TID, T, xor)           \
    UPDATE(TID, T, shl) UPDATE(TID, T, shr) UPDATE(TID, T, andl)           \
    UPDATE(TID, T, orl) UPDATE(TID, T, eqv) UPDATE(TID, T, neqv)           \
    UPDATE_REV(TID, T, shl) UPDATE_REV(TID, T, shr)                        \
    MINMAX(TID, T, max, <) MINMAX(TID, T, min, >) RD_WR_SWP(TID, T)        \
    MIXED(TID, T, mul, float8, double) MIXED(TID, T, div, float8, double)  \
    UPDATE(UID, U, div) UPDATE(UID, U, shr)                                \
    UPDATE_REV(UID, U, div) UPDATE_REV(UID, U, shr)
#define FLOAT(TID, T) \
    ARITH(TID, T) MINMAX(TID, T, max, <) MINMAX(TID, T, min, >) \
    RD_WR_SWP(TID, T)

FIXED(fixed1, char, fixed1u, unsigned char)
FIXED(fixed2, short, fixed2u, unsigned short)
FIXED(fixed4, int32_t, fixed4u, uint32_t)
FIXED(fixed8, int64_t, fixed8u, uint64_t)
FLOAT(float4, float)
FLOAT(float8, double)
FLOAT(float10, long double)
MIXED(float4, float, add, float8, double)
MIXED(float4, float, sub, float8, double)
MIXED(float4, float, mul, float8, double)
MIXED(float4, float, div, float8, double)

// Complex: arithmetic, no min/max. cmplx4's capture and swap forms return
// through `out` (kmp_atomic.h's workaround), the wider ones by value.
#define CMPLX_OUT(TID, T, OPN, A, B)                                         \
    OMP_API void __kmpc_atomic_##TID##_##OPN(void *, int, T *lhs, T rhs,     \
                                             T *out, int flag) {             \
        T o, n;                                                              \
        rmw(lhs, [&](T x, T *y) { *y = OP_##A(B); return true; }, &o, &n);   \
        *out = flag ? n : o;                                                 \
    }
#define FWD(o, r) o, r
#define REV(o, r) r, o
#define CMPLX4_CPT(OPN) CMPLX_OUT(cmplx4, C4, OPN##_cpt, OPN, FWD(x, rhs))
#define CMPLX4_CPT_REV(OPN) \
    CMPLX_OUT(cmplx4, C4, OPN##_cpt_rev, OPN, REV(x, rhs))

#define CMPLX_PLAIN(TID, T, OPN)                                             \
    OMP_API void __kmpc_atomic_##TID##_##OPN(void *, int, T *lhs, T rhs) {   \
        rmw(lhs, [&](T o, T *n) { *n = OP_##OPN(o, rhs); return true; });    \
    }
#define CMPLX_REV(TID, T, OPN)                                               \
    OMP_API void __kmpc_atomic_##TID##_##OPN##_rev(void *, int, T *lhs,      \
                                                   T rhs) {                  \
        rmw(lhs, [&](T o, T *n) { *n = OP_##OPN(rhs, o); return true; });    \
    }
CMPLX_PLAIN(cmplx4, C4, add) CMPLX_PLAIN(cmplx4, C4, sub)
CMPLX_PLAIN(cmplx4, C4, mul) CMPLX_PLAIN(cmplx4, C4, div)
CMPLX_REV(cmplx4, C4, sub) CMPLX_REV(cmplx4, C4, div)
CMPLX4_CPT(add) CMPLX4_CPT(sub) CMPLX4_CPT(mul) CMPLX4_CPT(div)
CMPLX4_CPT_REV(sub) CMPLX4_CPT_REV(div)
MIXED(cmplx4, C4, add, cmplx8, C8)
MIXED(cmplx4, C4, sub, cmplx8, C8)
MIXED(cmplx4, C4, mul, cmplx8, C8)
MIXED(cmplx4, C4, div, cmplx8, C8)
OMP_API C4 __kmpc_atomic_cmplx4_rd(void *, int, C4 *loc) {
    return atomic_read(loc);
}
OMP_API void __kmpc_atomic_cmplx4_wr(void *, int, C4 *lhs, C4 rhs) {
    rmw(lhs, [&](C4, C4 *n) { *n = rhs; return true; });
}
OMP_API void __kmpc_atomic_cmplx4_swp(void *, int, C4 *lhs, C4 rhs,
                                      C4 *out) {
    rmw(lhs, [&](C4, C4 *n) { *n = rhs; return true; }, out);
}
ARITH(cmplx8, C8)
RD_WR_SWP(cmplx8, C8)
ARITH(cmplx10, C10)
RD_WR_SWP(cmplx10, C10)

// OpenMP 5.1 compare: { if (x == e) x = d; } with bool / old-value
// results; the _cpt forms also capture v (bool: the old value, only when
// the comparison failed; val: the value x has afterwards).
#define CAS(N, T)                                                            \
    OMP_API bool __kmpc_atomic_bool_##N##_cas(void *, int, T *x, T e, T d) { \
        return __atomic_compare_exchange_n(x, &e, d, false,                  \
                                           __ATOMIC_ACQ_REL,                 \
                                           __ATOMIC_ACQUIRE);                \
    }                                                                        \
    OMP_API T __kmpc_atomic_val_##N##_cas(void *, int, T *x, T e, T d) {     \
        __atomic_compare_exchange_n(x, &e, d, false, __ATOMIC_ACQ_REL,       \
                                    __ATOMIC_ACQUIRE);                       \
        return e;                                                            \
    }                                                                        \
    OMP_API bool __kmpc_atomic_bool_##N##_cas_cpt(void *, int, T *x, T e,    \
                                                  T d, T *pv) {              \
        if (__atomic_compare_exchange_n(x, &e, d, false, __ATOMIC_ACQ_REL,   \
                                        __ATOMIC_ACQUIRE))                   \
            return true;                                                     \
        *pv = e;                                                             \
        return false;                                                        \
    }                                                                        \
    OMP_API T __kmpc_atomic_val_##N##_cas_cpt(void *, int, T *x, T e, T d,   \
                                              T *pv) {                       \
        bool ok = __atomic_compare_exchange_n(x, &e, d, false,               \
                                              __ATOMIC_ACQ_REL,              \
                                              __ATOMIC_ACQUIRE);             \
        *pv = ok ? d : e;                                                    \
        return e;                                                            \
    }
CAS(1, char)
CAS(2, short)
CAS(4, int32_t)
CAS(8, int64_t)

// Generic forms: f(&result, &x, rhs) computes result = x op rhs.
using GenericOp = void (*)(void *, void *, void *);
#define GENERIC_CAS(N)                                                       \
    OMP_API void __kmpc_atomic_##N(void *, int, void *lhs, void *rhs,        \
                                   GenericOp f) {                            \
        using B = BitsOf<N>::type;                                           \
        rmw(static_cast<B *>(lhs), [&](B o, B *n) {                          \
            f(n, &o, rhs);                                                   \
            return true;                                                     \
        });                                                                  \
    }
GENERIC_CAS(1)
GENERIC_CAS(2)
GENERIC_CAS(4)
GENERIC_CAS(8)
#define GENERIC_LOCKED(N)                                                    \
    OMP_API void __kmpc_atomic_##N(void *, int, void *lhs, void *rhs,        \
                                   GenericOp f) {                            \
        atomic_mutex().lock();                                               \
        f(lhs, lhs, rhs);                                                    \
        atomic_mutex().unlock();                                             \
    }
GENERIC_LOCKED(10)
GENERIC_LOCKED(16)
GENERIC_LOCKED(20)
GENERIC_LOCKED(32)

OMP_API void __kmpc_atomic_start(void) { atomic_mutex().lock(); }
OMP_API void __kmpc_atomic_end(void) { atomic_mutex().unlock(); }
