// abi_gomp.cpp: the GOMP_* entry points gcc emits (GNU libgomp ABI,
// libgomp_g.h), mapped onto region.cpp, barrier.cpp, loops.cpp and
// sync.cpp. Loop bounds here are [start, end) with a signed step; the
// `ull` forms take `up` and unsigned bounds. Entry points not defined here
// abort through the generated stubs (docs/omp.md lists them).
#include <cstring>

#include "task.hpp"

using namespace lomp;

namespace {

struct GompBody {
    void (*fn)(void *);
    void *data;
    // Parallel-loop/sections combined forms start the worksharing
    // construct in every member before running fn.
    bool loop = false;
    SchedKind kind = kStatic;
    uint64_t chunk = 0, trip = 0, base = 0, step = 0;
};

void run_gomp(void *p) {
    auto *b = static_cast<GompBody *>(p);
    if (b->loop) {
        loop_start(b->kind, b->chunk, b->trip);
        self()->base = b->base;
        self()->step = b->step;
    }
    b->fn(b->data);
}

uint64_t trip_long(long start, long end, long incr) {
    if (incr > 0)
        return start < end ? (static_cast<uint64_t>(end) - start + incr - 1) /
                                 static_cast<uint64_t>(incr)
                           : 0;
    return start > end ? (static_cast<uint64_t>(start) - end - incr - 1) /
                             static_cast<uint64_t>(-incr)
                       : 0;
}

uint64_t trip_ull(bool up, uint64_t start, uint64_t end, uint64_t incr) {
    if (up) return start < end ? (end - start + incr - 1) / incr : 0;
    return start > end ? (start - end - incr - 1) / -incr : 0;
}

template <typename T>
bool next(T *istart, T *iend) {
    uint64_t first, cnt;
    bool last;
    if (!loop_next(&first, &cnt, &last)) return false;
    Member *m = self();
    *istart = static_cast<T>(m->base + first * m->step);
    *iend = static_cast<T>(m->base + (first + cnt) * m->step);
    return true;
}

bool start_long(SchedKind k, long start, long end, long incr, long chunk,
                long *istart, long *iend, bool ordered = false) {
    loop_start(k, chunk > 0 ? chunk : 0, trip_long(start, end, incr), ordered);
    self()->base = static_cast<uint64_t>(start);
    self()->step = static_cast<uint64_t>(incr);
    return next(istart, iend);
}

bool start_ull(SchedKind k, bool up, uint64_t start, uint64_t end,
               uint64_t incr, uint64_t chunk, uint64_t *istart,
               uint64_t *iend, bool ordered = false) {
    loop_start(k, chunk, trip_ull(up, start, end, incr), ordered);
    self()->base = start;
    self()->step = incr;
    return next(istart, iend);
}

// A combined parallel loop's body: fn after starting the loop.
GompBody loop_body(void (*fn)(void *), void *data, SchedKind k, long start,
                   long end, long incr, long chunk) {
    GompBody b{fn, data};
    b.loop = true;
    b.kind = k;
    b.chunk = chunk > 0 ? static_cast<uint64_t>(chunk) : 0;
    b.trip = trip_long(start, end, incr);
    b.base = static_cast<uint64_t>(start);
    b.step = static_cast<uint64_t>(incr);
    return b;
}

void parallel_loop(void (*fn)(void *), void *data, unsigned nthreads,
                   SchedKind k, long start, long end, long incr, long chunk) {
    GompBody b = loop_body(fn, data, k, start, end, incr, chunk);
    region_fork(run_gomp, &b, static_cast<int>(nthreads),
                reinterpret_cast<const void *>(fn));
}

template <typename T>
void doacross_start(unsigned ncounts, const T *counts) {
    std::vector<uint64_t> c(counts, counts + ncounts);
    doacross_init(static_cast<int>(ncounts), c.data(), nullptr, nullptr);
}

// A gcc doacross loop ends with its GOMP_loop_end*.
void doacross_loop_end() {
    Member *m = self();
    if (m->dx && m->dx_loop == m->loops) doacross_fini();
}

// ---- the generic (GOMP 5.0) forms ----
// `sched` is libgomp's gomp_schedule_type: 0 runtime, 1 static, 2 dynamic,
// 3 guided, 4 runtime with the nonmonotonic modifier (auto is static);
// bit 31 = monotonic (our dynamic/guided schedules are monotonic anyway).
SchedKind generic_sched(long sched, uint64_t *chunk) {
    switch (static_cast<unsigned long>(sched) & 0x7fffffffUL) {
    case 1: return kStatic;
    case 2: return kDynamic;
    case 3: return kGuided;
    case 0:
    case 4: return resolve_runtime(chunk);
    default: fatal("GOMP loop: unknown schedule %ld", sched);
    }
}

// reduction(task, ...) on a worksharing construct: the member's own
// taskgroup holds the registration until
// GOMP_workshare_task_reduction_unregister.
void ws_taskgroup_begin(uintptr_t *reductions) {
    if (reductions) taskgroup_begin(new TaskGroup);
}

// Shares the construct's per-construct data (after loop_start): the
// first member to get here registers the task reductions and sets up the
// zeroed `mem` block (*mem = its size on entry, its address on return);
// the others share both (under the slot's lock: they wait for it).
void ws_share(uintptr_t *reductions, void **mem) {
    if (!reductions && !mem) return;
    LoopSlot &sl = *self()->loop;
    std::lock_guard<Spin> g(sl.s);
    if (sl.ws_seq != sl.seq) {
        sl.ws_seq = sl.seq;
        sl.ws_red = nullptr;
        sl.ws_mem_ready = false;
    }
    if (reductions) {
        gomp_workshare_reduction_register(reductions, sl.ws_red);
        if (!sl.ws_red) sl.ws_red = reductions;
    }
    if (mem) {
        if (!sl.ws_mem_ready) {
            size_t size = reinterpret_cast<uintptr_t>(*mem);
            if (size > sl.ws_mem_size) {
                sl.ws_mem.reset(new char[size]);
                sl.ws_mem_size = size;
            }
            std::memset(sl.ws_mem.get(), 0, size);
            sl.ws_mem_ready = true;
        }
        *mem = sl.ws_mem.get();
    }
}

// istart == NULL: gcc computes a static schedule's iterations itself and
// called only to set up the reductions/mem; the member is then done with
// the construct's slot (so it can be reused), as if it took every chunk.
template <typename T>
bool generic_next(T *istart, T *iend) {
    if (istart) return next(istart, iend);
    uint64_t first, cnt;
    bool last;
    while (loop_next(&first, &cnt, &last)) {
    }
    return true;
}

}  // namespace

OMP_API void GOMP_parallel(void (*fn)(void *), void *data, unsigned nthreads,
                           unsigned) {
    GompBody b{fn, data};
    region_fork(run_gomp, &b, static_cast<int>(nthreads),
                reinterpret_cast<const void *>(fn));
}

OMP_API void GOMP_barrier(void) { self()->team->barrier.wait(); }

OMP_API void GOMP_critical_start(void) { global_critical().lock(); }
OMP_API void GOMP_critical_end(void) { global_critical().unlock(); }
OMP_API void GOMP_critical_name_start(void **p) {
    critical_enter(reinterpret_cast<std::atomic<Mutex *> *>(p));
}
OMP_API void GOMP_critical_name_end(void **p) {
    critical_exit(reinterpret_cast<std::atomic<Mutex *> *>(p));
}
OMP_API void GOMP_atomic_start(void) { atomic_mutex().lock(); }
OMP_API void GOMP_atomic_end(void) { atomic_mutex().unlock(); }

OMP_API bool GOMP_single_start(void) { return single_begin(); }
OMP_API void *GOMP_single_copy_start(void) {
    if (single_begin()) return nullptr;
    Team *t = self()->team;
    t->barrier.wait();
    return t->copy_data;
}
OMP_API void GOMP_single_copy_end(void *data) {
    Team *t = self()->team;
    t->copy_data = data;
    t->barrier.wait();
}

// ---- loops, long ----
#define LOOP_LONG(name, kind)                                               \
    OMP_API bool GOMP_loop_##name##_start(long s, long e, long i, long c,   \
                                          long *is, long *ie) {             \
        return start_long(kind, s, e, i, c, is, ie);                        \
    }                                                                       \
    OMP_API bool GOMP_loop_##name##_next(long *is, long *ie) {              \
        return next(is, ie);                                                \
    }                                                                       \
    OMP_API void GOMP_parallel_loop_##name(void (*fn)(void *), void *data,  \
                                           unsigned nt, long s, long e,     \
                                           long i, long c, unsigned) {      \
        parallel_loop(fn, data, nt, kind, s, e, i, c);                      \
    }
LOOP_LONG(static, kStatic)
LOOP_LONG(dynamic, kDynamic)
LOOP_LONG(guided, kGuided)
LOOP_LONG(nonmonotonic_dynamic, kDynamic)
LOOP_LONG(nonmonotonic_guided, kGuided)

#define LOOP_LONG_RUNTIME(name)                                             \
    OMP_API bool GOMP_loop_##name##_start(long s, long e, long i, long *is, \
                                          long *ie) {                       \
        uint64_t c;                                                         \
        SchedKind k = resolve_runtime(&c);                                     \
        return start_long(k, s, e, i, static_cast<long>(c), is, ie);        \
    }                                                                       \
    OMP_API bool GOMP_loop_##name##_next(long *is, long *ie) {              \
        return next(is, ie);                                                \
    }                                                                       \
    OMP_API void GOMP_parallel_loop_##name(void (*fn)(void *), void *data,  \
                                           unsigned nt, long s, long e,     \
                                           long i, unsigned) {              \
        uint64_t c;                                                         \
        SchedKind k = resolve_runtime(&c);                                     \
        parallel_loop(fn, data, nt, k, s, e, i, static_cast<long>(c));      \
    }
LOOP_LONG_RUNTIME(runtime)
LOOP_LONG_RUNTIME(nonmonotonic_runtime)
LOOP_LONG_RUNTIME(maybe_nonmonotonic_runtime)

// ---- loops, unsigned long long ----
#define LOOP_ULL(name, kind)                                                \
    OMP_API bool GOMP_loop_ull_##name##_start(                              \
        bool up, uint64_t s, uint64_t e, uint64_t i, uint64_t c,            \
        uint64_t *is, uint64_t *ie) {                                       \
        return start_ull(kind, up, s, e, i, c, is, ie);                     \
    }                                                                       \
    OMP_API bool GOMP_loop_ull_##name##_next(uint64_t *is, uint64_t *ie) {  \
        return next(is, ie);                                                \
    }
LOOP_ULL(static, kStatic)
LOOP_ULL(dynamic, kDynamic)
LOOP_ULL(guided, kGuided)
LOOP_ULL(nonmonotonic_dynamic, kDynamic)
LOOP_ULL(nonmonotonic_guided, kGuided)

#define LOOP_ULL_RUNTIME(name)                                              \
    OMP_API bool GOMP_loop_ull_##name##_start(bool up, uint64_t s,          \
                                              uint64_t e, uint64_t i,       \
                                              uint64_t *is, uint64_t *ie) { \
        uint64_t c;                                                         \
        SchedKind k = resolve_runtime(&c);                                     \
        return start_ull(k, up, s, e, i, c, is, ie);                        \
    }                                                                       \
    OMP_API bool GOMP_loop_ull_##name##_next(uint64_t *is, uint64_t *ie) {  \
        return next(is, ie);                                                \
    }
LOOP_ULL_RUNTIME(runtime)
LOOP_ULL_RUNTIME(nonmonotonic_runtime)
LOOP_ULL_RUNTIME(maybe_nonmonotonic_runtime)

// ---- ordered loops: the turn passes per chunk (loops.cpp) ----
#define LOOP_ORDERED(name, kind)                                            \
    OMP_API bool GOMP_loop_ordered_##name##_start(                          \
        long s, long e, long i, long c, long *is, long *ie) {               \
        return start_long(kind, s, e, i, c, is, ie, true);                  \
    }                                                                       \
    OMP_API bool GOMP_loop_ordered_##name##_next(long *is, long *ie) {      \
        return next(is, ie);                                                \
    }                                                                       \
    OMP_API bool GOMP_loop_ull_ordered_##name##_start(                      \
        bool up, uint64_t s, uint64_t e, uint64_t i, uint64_t c,            \
        uint64_t *is, uint64_t *ie) {                                       \
        return start_ull(kind, up, s, e, i, c, is, ie, true);               \
    }                                                                       \
    OMP_API bool GOMP_loop_ull_ordered_##name##_next(uint64_t *is,          \
                                                     uint64_t *ie) {        \
        return next(is, ie);                                                \
    }
LOOP_ORDERED(static, kStatic)
LOOP_ORDERED(dynamic, kDynamic)
LOOP_ORDERED(guided, kGuided)

OMP_API bool GOMP_loop_ordered_runtime_start(long s, long e, long i, long *is,
                                             long *ie) {
    uint64_t c;
    SchedKind k = resolve_runtime(&c);
    return start_long(k, s, e, i, static_cast<long>(c), is, ie, true);
}
OMP_API bool GOMP_loop_ordered_runtime_next(long *is, long *ie) {
    return next(is, ie);
}
OMP_API bool GOMP_loop_ull_ordered_runtime_start(bool up, uint64_t s,
                                                 uint64_t e, uint64_t i,
                                                 uint64_t *is, uint64_t *ie) {
    uint64_t c;
    SchedKind k = resolve_runtime(&c);
    return start_ull(k, up, s, e, i, c, is, ie, true);
}
OMP_API bool GOMP_loop_ull_ordered_runtime_next(uint64_t *is, uint64_t *ie) {
    return next(is, ie);
}
OMP_API void GOMP_ordered_start(void) { ordered_enter(); }
OMP_API void GOMP_ordered_end(void) {}

OMP_API void GOMP_loop_end(void) {
    doacross_loop_end();
    self()->team->barrier.wait();
}
OMP_API void GOMP_loop_end_nowait(void) { doacross_loop_end(); }
OMP_API bool GOMP_loop_end_cancel(void) {
    doacross_loop_end();
    return cancel_barrier();
}

// ---- doacross loops: the outer of `ncounts` dimensions (iteration counts
// `counts`) is workshared in logical iterations; doacross.cpp ----
#define LOOP_DOACROSS(name, T, start)                                       \
    OMP_API bool GOMP_loop##name##_start(unsigned ncounts, T *counts,       \
                                         T chunk, T *is, T *ie) {           \
        doacross_start(ncounts, counts);                                    \
        bool r = start;                                                     \
        self()->dx_loop = self()->loops;                                    \
        return r;                                                           \
    }
LOOP_DOACROSS(_doacross_static, long,
              start_long(kStatic, 0, counts[0], 1, chunk, is, ie))
LOOP_DOACROSS(_doacross_dynamic, long,
              start_long(kDynamic, 0, counts[0], 1, chunk, is, ie))
LOOP_DOACROSS(_doacross_guided, long,
              start_long(kGuided, 0, counts[0], 1, chunk, is, ie))
LOOP_DOACROSS(_ull_doacross_static, uint64_t,
              start_ull(kStatic, true, 0, counts[0], 1, chunk, is, ie))
LOOP_DOACROSS(_ull_doacross_dynamic, uint64_t,
              start_ull(kDynamic, true, 0, counts[0], 1, chunk, is, ie))
LOOP_DOACROSS(_ull_doacross_guided, uint64_t,
              start_ull(kGuided, true, 0, counts[0], 1, chunk, is, ie))
OMP_API bool GOMP_loop_doacross_runtime_start(unsigned ncounts, long *counts,
                                              long *is, long *ie) {
    uint64_t c;
    SchedKind k = resolve_runtime(&c);
    doacross_start(ncounts, counts);
    bool r = start_long(k, 0, counts[0], 1, static_cast<long>(c), is, ie);
    self()->dx_loop = self()->loops;
    return r;
}
OMP_API bool GOMP_loop_ull_doacross_runtime_start(unsigned ncounts,
                                                  uint64_t *counts,
                                                  uint64_t *is, uint64_t *ie) {
    uint64_t c;
    SchedKind k = resolve_runtime(&c);
    doacross_start(ncounts, counts);
    bool r = start_ull(k, true, 0, counts[0], 1, c, is, ie);
    self()->dx_loop = self()->loops;
    return r;
}

// ---- sections: a dynamic loop over section numbers 1..count ----
OMP_API unsigned GOMP_sections_next(void) {
    uint64_t first, cnt;
    bool last;
    return loop_next(&first, &cnt, &last) ? static_cast<unsigned>(first + 1)
                                          : 0;
}
OMP_API unsigned GOMP_sections_start(unsigned count) {
    loop_start(kDynamic, 1, count);
    return GOMP_sections_next();
}
OMP_API void GOMP_sections_end(void) { self()->team->barrier.wait(); }
OMP_API void GOMP_sections_end_nowait(void) {}
OMP_API void GOMP_parallel_sections(void (*fn)(void *), void *data,
                                    unsigned nthreads, unsigned count,
                                    unsigned) {
    GompBody b{fn, data};
    b.loop = true;
    b.kind = kDynamic;
    b.chunk = 1;
    b.trip = count;
    region_fork(run_gomp, &b, static_cast<int>(nthreads),
                reinterpret_cast<const void *>(fn));
}

// ---- GOMP 1.0 split regions (gcc < 4.9 binaries): the master starts the
// team, returns and runs fn itself, then calls GOMP_parallel_end. The
// region's frame and body live on the heap; a context's open split
// regions form a stack (nested regions end in reverse order).
namespace {
struct SplitRegion {
    RegionFrame f;
    GompBody b;
};
thread_local std::vector<SplitRegion *> tls_split;

void split_start(const GompBody &b, unsigned nthreads) {
    auto *r = new SplitRegion;
    r->b = b;
    tls_split.push_back(r);
    region_begin(&r->f, run_gomp, &r->b, static_cast<int>(nthreads),
                 reinterpret_cast<const void *>(b.fn));
    if (b.loop) {  // what run_gomp does before fn, for member 0
        loop_start(b.kind, b.chunk, b.trip);
        self()->base = b.base;
        self()->step = b.step;
    }
}

}  // namespace

OMP_API void GOMP_parallel_start(void (*fn)(void *), void *data,
                                 unsigned nthreads) {
    split_start(GompBody{fn, data}, nthreads);
}
OMP_API void GOMP_parallel_end(void) {
    if (tls_split.empty() || self() != &tls_split.back()->f.m)
        fatal("GOMP_parallel_end: not the master of a region opened by "
              "GOMP_parallel_start in this thread");
    SplitRegion *r = tls_split.back();
    tls_split.pop_back();
    region_end(&r->f);
    delete r;
}
#define SPLIT_LOOP(name, kind)                                               \
    OMP_API void GOMP_parallel_loop_##name##_start(                          \
        void (*fn)(void *), void *data, unsigned nt, long s, long e, long i, \
        long c) {                                                            \
        split_start(loop_body(fn, data, kind, s, e, i, c), nt);             \
    }
SPLIT_LOOP(static, kStatic)
SPLIT_LOOP(dynamic, kDynamic)
SPLIT_LOOP(guided, kGuided)
OMP_API void GOMP_parallel_loop_runtime_start(void (*fn)(void *), void *data,
                                              unsigned nt, long s, long e,
                                              long i) {
    uint64_t c;
    SchedKind k = resolve_runtime(&c);
    split_start(loop_body(fn, data, k, s, e, i, static_cast<long>(c)), nt);
}
OMP_API void GOMP_parallel_sections_start(void (*fn)(void *), void *data,
                                          unsigned nthreads, unsigned count) {
    GompBody b{fn, data};
    b.loop = true;
    b.kind = kDynamic;
    b.chunk = 1;
    b.trip = count;
    split_start(b, nthreads);
}

// ---- the generic (GOMP 5.0) forms gcc emits for schedule(runtime) and
// for constructs with task reductions (`reductions`) or shared scratch
// memory (`mem`: lastprivate(conditional), ...). istart == NULL: only
// start the construct (static schedules, whose chunks gcc computes).
OMP_API bool GOMP_loop_start(long s, long e, long i, long sched, long chunk,
                             long *is, long *ie, uintptr_t *reductions,
                             void **mem) {
    ws_taskgroup_begin(reductions);
    uint64_t c = chunk > 0 ? static_cast<uint64_t>(chunk) : 0;
    SchedKind k = generic_sched(sched, &c);
    loop_start(k, c, trip_long(s, e, i));
    self()->base = static_cast<uint64_t>(s);
    self()->step = static_cast<uint64_t>(i);
    ws_share(reductions, mem);
    return generic_next(is, ie);
}
OMP_API bool GOMP_loop_ull_start(bool up, uint64_t s, uint64_t e, uint64_t i,
                                 long sched, uint64_t chunk, uint64_t *is,
                                 uint64_t *ie, uintptr_t *reductions,
                                 void **mem) {
    ws_taskgroup_begin(reductions);
    SchedKind k = generic_sched(sched, &chunk);
    loop_start(k, chunk, trip_ull(up, s, e, i));
    self()->base = s;
    self()->step = i;
    ws_share(reductions, mem);
    return generic_next(is, ie);
}
OMP_API bool GOMP_loop_ordered_start(long s, long e, long i, long sched,
                                     long chunk, long *is, long *ie,
                                     uintptr_t *reductions, void **mem) {
    ws_taskgroup_begin(reductions);
    uint64_t c = chunk > 0 ? static_cast<uint64_t>(chunk) : 0;
    SchedKind k = generic_sched(sched, &c);
    loop_start(k, c, trip_long(s, e, i), true);
    self()->base = static_cast<uint64_t>(s);
    self()->step = static_cast<uint64_t>(i);
    ws_share(reductions, mem);
    return next(is, ie);
}
OMP_API bool GOMP_loop_ull_ordered_start(bool up, uint64_t s, uint64_t e,
                                         uint64_t i, long sched,
                                         uint64_t chunk, uint64_t *is,
                                         uint64_t *ie, uintptr_t *reductions,
                                         void **mem) {
    ws_taskgroup_begin(reductions);
    SchedKind k = generic_sched(sched, &chunk);
    loop_start(k, chunk, trip_ull(up, s, e, i), true);
    self()->base = s;
    self()->step = i;
    ws_share(reductions, mem);
    return next(is, ie);
}
OMP_API bool GOMP_loop_doacross_start(unsigned ncounts, long *counts,
                                      long sched, long chunk, long *is,
                                      long *ie, uintptr_t *reductions,
                                      void **mem) {
    ws_taskgroup_begin(reductions);
    uint64_t c = chunk > 0 ? static_cast<uint64_t>(chunk) : 0;
    SchedKind k = generic_sched(sched, &c);
    doacross_start(ncounts, counts);
    loop_start(k, c, trip_long(0, counts[0], 1));
    self()->base = 0;
    self()->step = 1;
    self()->dx_loop = self()->loops;
    ws_share(reductions, mem);
    return next(is, ie);
}
OMP_API bool GOMP_loop_ull_doacross_start(unsigned ncounts, uint64_t *counts,
                                          long sched, uint64_t chunk,
                                          uint64_t *is, uint64_t *ie,
                                          uintptr_t *reductions, void **mem) {
    ws_taskgroup_begin(reductions);
    SchedKind k = generic_sched(sched, &chunk);
    doacross_start(ncounts, counts);
    loop_start(k, chunk, counts[0]);
    self()->base = 0;
    self()->step = 1;
    self()->dx_loop = self()->loops;
    ws_share(reductions, mem);
    return next(is, ie);
}
OMP_API unsigned GOMP_sections2_start(unsigned count, uintptr_t *reductions,
                                      void **mem) {
    ws_taskgroup_begin(reductions);
    loop_start(kDynamic, 1, count);
    ws_share(reductions, mem);
    return GOMP_sections_next();
}
// scope with task reductions: a worksharing construct without iterations.
OMP_API void GOMP_scope_start(uintptr_t *reductions) {
    ws_taskgroup_begin(reductions);
    loop_start(kStatic, 0, 0);
    ws_share(reductions, nullptr);
    uint64_t first, cnt;
    bool last;
    loop_next(&first, &cnt, &last);  // none: the member is done with it
}
