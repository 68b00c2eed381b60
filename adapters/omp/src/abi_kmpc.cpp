// abi_kmpc.cpp: the __kmpc_* entry points clang emits (LLVM libomp ABI,
// kmp.h / kmp_csupport.cpp / kmp_dispatch.cpp), mapped onto region.cpp,
// barrier.cpp, loops.cpp and sync.cpp. Loop bounds are inclusive here.
// Entry points not defined in this file or reduction.cpp abort through
// the generated stubs (docs/omp.md lists them).
#include <algorithm>
#include <cstdarg>
#include <type_traits>

#include "internal.hpp"

using namespace lomp;

extern "C" void lithe_omp_invoke(void (*fn)(), int *gtid, int *btid,
                                 int argc, void **argv);

namespace {

struct Microtask {
    void (*fn)();
    int argc;
    void **argv;
};

void run_microtask(void *p) {
    auto *mt = static_cast<Microtask *>(p);
    int g = gtid(), tid = self()->tid;
    lithe_omp_invoke(mt->fn, &g, &tid, mt->argc, mt->argv);
}

// Schedule codes (kmp.h enum sched_type); bits 29/30 are the
// monotonic/nonmonotonic modifiers.
constexpr int kModifiers = (1 << 29) | (1 << 30);
enum {
    kSchStaticChunked = 33, kSchStatic = 34, kSchDynamic = 35,
    kSchGuided = 36, kSchRuntime = 37, kSchAuto = 38, kSchTrapezoidal = 39,
    kSchStaticGreedy = 40, kSchStaticBalanced = 41, kSchGuidedIter = 42,
    kSchGuidedAnalytic = 43, kSchStaticSteal = 44, kSchGuidedSimd = 46,
    kSchRuntimeSimd = 47,
    kSchDistChunked = 91, kSchDist = 92,  // distribute: over the league
};

template <typename T, typename ST>
uint64_t trip_count(T lb, T ub, ST incr) {
    using UT = std::make_unsigned_t<T>;
    if (incr == 0) fatal("loop with a zero increment");
    if (incr > 0) {
        if (lb > ub) return 0;
        return static_cast<UT>(ub - lb) / static_cast<UT>(incr) + 1;
    }
    if (lb < ub) return 0;
    return static_cast<UT>(lb - ub) / static_cast<UT>(-incr) + 1;
}

template <typename T, typename ST>
void static_init(int sched, int *plast, T *plower, T *pupper, ST *pstride,
                 ST incr, ST chunk) {
    Member *m = self();
    uint64_t n = static_cast<uint64_t>(m->team->n);
    uint64_t tid = static_cast<uint64_t>(m->tid);
    sched &= ~kModifiers;
    if (sched == kSchDist || sched == kSchDistChunked) {  // teams.cpp
        n = static_cast<uint64_t>(m->icv.num_teams > 0 ? m->icv.num_teams : 1);
        tid = static_cast<uint64_t>(m->icv.team_num);
        sched = sched == kSchDist ? kSchStatic : kSchStaticChunked;
    }
    T lb = *plower;
    uint64_t trip = trip_count(lb, *pupper, incr);
    auto at = [&](uint64_t i) {
        return static_cast<T>(static_cast<uint64_t>(lb) +
                              i * static_cast<uint64_t>(incr));
    };
    if (trip == 0) {
        if (plast) *plast = 0;
        *pstride = incr;
        return;
    }
    if (sched == kSchStaticChunked) {
        uint64_t c = chunk > 0 ? static_cast<uint64_t>(chunk) : 1;
        *plower = at(tid * c);
        *pupper = at(tid * c + c - 1);
        *pstride = static_cast<ST>(n * c * static_cast<uint64_t>(incr));
        if (plast) *plast = tid == ((trip - 1) / c) % n;
        return;
    }
    if (sched != kSchStatic && sched != kSchStaticGreedy &&
        sched != kSchStaticBalanced)
        lithe_omp_unimplemented("__kmpc_for_static_init with this schedule");
    uint64_t q = trip / n, r = trip % n;
    uint64_t first = tid * q + (tid < r ? tid : r);
    uint64_t cnt = q + (tid < r ? 1 : 0);
    if (cnt == 0) {  // more members than iterations: an empty range
        *plower = at(trip);
        *pupper = at(trip - 1);
        if (plast) *plast = 0;
    } else {
        *plower = at(first);
        *pupper = at(first + cnt - 1);
        if (plast) *plast = first + cnt == trip;
    }
    *pstride = static_cast<ST>(trip * static_cast<uint64_t>(incr));
}

// Ordered variants are the plain codes + 32 (kmp_ord_static_chunked = 65
// ... kmp_ord_auto = 70).
constexpr int kOrderedOffset = 32;

// simd schedules (46 guided_simd, 47 runtime_simd; `chunk` is the simd
// width): every chunk but the loop's last is a multiple of the width
// (runtime: of width * run-sched chunk), as libomp hands out. They run as
// ordinary loops over "wide" iterations of that many iterations each;
// dispatch_next turns a wide chunk back into iterations, cutting the last
// one at the loop's end. runtime_simd with an unchunked static or auto
// run-sched gives each member one balanced block, as libomp's
// static_balanced_chunked; static,n gives chunks of width * n.
template <typename T, typename ST>
void dispatch_init(int sched, T lb, T ub, ST st, ST chunk) {
    sched &= ~kModifiers;
    bool ordered = sched >= kSchStaticChunked + kOrderedOffset &&
                   sched <= kSchAuto + kOrderedOffset;
    if (ordered) sched -= kOrderedOffset;
    uint64_t c = chunk > 0 ? static_cast<uint64_t>(chunk) : 0;
    uint64_t width = 1;
    SchedKind k;
    switch (sched) {
    case kSchStatic: case kSchStaticGreedy: case kSchStaticBalanced:
        k = kStatic; c = 0; break;
    case kSchStaticChunked: k = kStatic; if (!c) c = 1; break;
    case kSchDynamic: case kSchStaticSteal: k = kDynamic; break;
    case kSchGuided: case kSchTrapezoidal: case kSchGuidedIter:
    case kSchGuidedAnalytic: k = kGuided; break;
    case kSchRuntime: k = resolve_runtime(&c); break;
    case kSchAuto: k = kAuto; break;
    case kSchGuidedSimd:
        k = kGuided;
        width = c ? c : 1;
        c = 1;
        break;
    case kSchRuntimeSimd: {
        uint64_t rc;
        k = resolve_runtime(&rc);
        width = c ? c : 1;
        if ((k == kStatic && rc == 0) || k == kAuto) {
            k = kStatic;
            c = 0;
        } else {
            width *= rc ? rc : 1;
            c = 1;
        }
        break;
    }
    default:
        lithe_omp_unimplemented("__kmpc_dispatch_init with this schedule");
    }
    Member *m = self();
    uint64_t trip = trip_count(lb, ub, st);
    loop_start(k, c, (trip + width - 1) / width, ordered);
    m->base = static_cast<uint64_t>(lb);
    m->step = static_cast<uint64_t>(static_cast<int64_t>(st));
    m->simd_width = width;
    m->simd_trip = trip;
}

template <typename T, typename ST>
int dispatch_next(int *plast, T *plb, T *pub, ST *pst) {
    uint64_t first, cnt;
    bool last;
    if (!loop_next(&first, &cnt, &last)) return 0;
    Member *m = self();
    if (m->simd_width > 1) {
        first *= m->simd_width;
        cnt = std::min(cnt * m->simd_width, m->simd_trip - first);
    }
    *plb = static_cast<T>(m->base + first * m->step);
    *pub = static_cast<T>(m->base + (first + cnt - 1) * m->step);
    if (pst) *pst = static_cast<ST>(m->step);
    if (plast) *plast = last;
    return 1;
}

}  // namespace

OMP_API void __kmpc_fork_call(void *, int argc, void (*microtask)(), ...) {
    va_list ap;
    va_start(ap, microtask);
    MicrotaskArgs args(argc, ap);
    va_end(ap);
    Microtask mt{microtask, argc, args.argv()};
    region_fork(run_microtask, &mt, 0,
                reinterpret_cast<const void *>(microtask));
}

OMP_API void __kmpc_serialized_parallel(void *, int) { serialized_push(); }
OMP_API void __kmpc_end_serialized_parallel(void *, int) { serialized_pop(); }
OMP_API void __kmpc_push_num_threads(void *, int, int n) {
    self()->push_nthreads = n;
}
// Places are not modelled: proc_bind has no effect (docs/omp.md).
OMP_API void __kmpc_push_proc_bind(void *, int, int) {}
OMP_API int __kmpc_global_thread_num(void *) { return gtid(); }
OMP_API int __kmpc_global_num_threads(void *) { return self()->team->n; }
OMP_API int __kmpc_bound_thread_num(void *) { return self()->tid; }
OMP_API int __kmpc_bound_num_threads(void *) { return self()->team->n; }
OMP_API int __kmpc_in_parallel(void *) { return self()->active_level > 0; }
OMP_API int __kmpc_ok_to_fork(void *) { return 1; }
OMP_API void __kmpc_begin(void *, int) {}
OMP_API void __kmpc_end(void *) {}

OMP_API void __kmpc_for_static_init_4(void *, int, int sched, int *plast,
                                      int32_t *lo, int32_t *up, int32_t *st,
                                      int32_t incr, int32_t chunk) {
    static_init(sched, plast, lo, up, st, incr, chunk);
}
OMP_API void __kmpc_for_static_init_4u(void *, int, int sched, int *plast,
                                       uint32_t *lo, uint32_t *up,
                                       int32_t *st, int32_t incr,
                                       int32_t chunk) {
    static_init(sched, plast, lo, up, st, incr, chunk);
}
OMP_API void __kmpc_for_static_init_8(void *, int, int sched, int *plast,
                                      int64_t *lo, int64_t *up, int64_t *st,
                                      int64_t incr, int64_t chunk) {
    static_init(sched, plast, lo, up, st, incr, chunk);
}
OMP_API void __kmpc_for_static_init_8u(void *, int, int sched, int *plast,
                                       uint64_t *lo, uint64_t *up,
                                       int64_t *st, int64_t incr,
                                       int64_t chunk) {
    static_init(sched, plast, lo, up, st, incr, chunk);
}
OMP_API void __kmpc_for_static_fini(void *, int) {}

OMP_API void __kmpc_dispatch_init_4(void *, int, int sched, int32_t lb,
                                    int32_t ub, int32_t st, int32_t chunk) {
    dispatch_init(sched, lb, ub, st, chunk);
}
OMP_API void __kmpc_dispatch_init_4u(void *, int, int sched, uint32_t lb,
                                     uint32_t ub, int32_t st, int32_t chunk) {
    dispatch_init(sched, lb, ub, st, chunk);
}
OMP_API void __kmpc_dispatch_init_8(void *, int, int sched, int64_t lb,
                                    int64_t ub, int64_t st, int64_t chunk) {
    dispatch_init(sched, lb, ub, st, chunk);
}
OMP_API void __kmpc_dispatch_init_8u(void *, int, int sched, uint64_t lb,
                                     uint64_t ub, int64_t st, int64_t chunk) {
    dispatch_init(sched, lb, ub, st, chunk);
}
OMP_API int __kmpc_dispatch_next_4(void *, int, int *plast, int32_t *lb,
                                   int32_t *ub, int32_t *st) {
    return dispatch_next(plast, lb, ub, st);
}
OMP_API int __kmpc_dispatch_next_4u(void *, int, int *plast, uint32_t *lb,
                                    uint32_t *ub, int32_t *st) {
    return dispatch_next(plast, lb, ub, st);
}
OMP_API int __kmpc_dispatch_next_8(void *, int, int *plast, int64_t *lb,
                                   int64_t *ub, int64_t *st) {
    return dispatch_next(plast, lb, ub, st);
}
OMP_API int __kmpc_dispatch_next_8u(void *, int, int *plast, uint64_t *lb,
                                    uint64_t *ub, int64_t *st) {
    return dispatch_next(plast, lb, ub, st);
}
// clang calls fini after each iteration of an ordered loop; the ordered
// turn passes per chunk instead (loops.cpp), so there is nothing to do.
OMP_API void __kmpc_dispatch_fini_4(void *, int) {}
OMP_API void __kmpc_dispatch_fini_4u(void *, int) {}
OMP_API void __kmpc_dispatch_fini_8(void *, int) {}
OMP_API void __kmpc_dispatch_fini_8u(void *, int) {}

OMP_API void __kmpc_ordered(void *, int) { ordered_enter(); }
OMP_API void __kmpc_end_ordered(void *, int) {}

OMP_API void __kmpc_barrier(void *, int) { self()->team->barrier.wait(); }
OMP_API void __kmpc_flush(void *) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

// kmp_critical_name is 32 bytes of compiler-zeroed storage per name; its
// first 8 hold the lazily created Mutex.
OMP_API void __kmpc_critical(void *, int, void *crit) {
    critical_enter(static_cast<std::atomic<Mutex *> *>(crit));
}
OMP_API void __kmpc_critical_with_hint(void *, int, void *crit, uint32_t) {
    critical_enter(static_cast<std::atomic<Mutex *> *>(crit));
}
OMP_API void __kmpc_end_critical(void *, int, void *crit) {
    critical_exit(static_cast<std::atomic<Mutex *> *>(crit));
}

OMP_API int __kmpc_single(void *, int) { return single_begin() ? 1 : 0; }
OMP_API void __kmpc_end_single(void *, int) {}
OMP_API int __kmpc_master(void *, int) { return self()->tid == 0; }
OMP_API void __kmpc_end_master(void *, int) {}
OMP_API int __kmpc_masked(void *, int, int filter) {
    return self()->tid == filter;
}
OMP_API void __kmpc_end_masked(void *, int) {}

// The single's winner publishes its data; after a barrier the others copy
// from it; a second barrier keeps the winner's data alive until all copied.
OMP_API void __kmpc_copyprivate(void *, int, size_t, void *data,
                                void (*copy)(void *, void *), int didit) {
    Team *t = self()->team;
    if (didit) t->copy_data = data;
    t->barrier.wait();
    if (!didit) copy(data, t->copy_data);
    t->barrier.wait();
}
