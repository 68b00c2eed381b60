// api.cpp: the omp_* query and setter routines (the lock routines are in
// sync.cpp). Setters change the calling member's ICVs only, as the spec's
// data-environment ICVs require. Devices report the host-only answers
// (device routines: target.cpp; places: affinity.cpp; allocators:
// alloc.cpp; the task and cancellation queries are in task.cpp).
// Pausing (omp_pause_resource*, soft or hard alike) succeeds outside
// parallel regions and releases the calling context's docked hot-team
// members, at every nesting depth (team_release_pools), as libgomp frees
// the calling thread's pool: their stacks, TLS and backing threads are
// gone when it returns, and the next region creates new members with
// fresh threadprivate data. Other contexts' members (another thread that
// runs regions) are left alone. There is no OMPT tool: omp_control_tool
// says so (omp_control_tool_notool).
#include <parlib/uthread.h>
#include <time.h>

#include <algorithm>
#include <climits>

#include "internal.hpp"

using namespace lomp;

namespace {
Member *ancestor(int level) {
    Member *m = self();
    while (m && m->level > level) m = m->outer ? m->outer : m->team->master->outer;
    return m;
}
// A pause: the members go, and their backing threads have exited (their
// TLS destructors run) by the time the caller gets control back.
void release_members() {
    team_release_pools();
    uthread_tls_flush();
}
}  // namespace

OMP_API int omp_get_thread_num(void) { return self()->tid; }
OMP_API int omp_get_num_threads(void) { return self()->team->n; }
OMP_API int omp_get_max_threads(void) { return self()->icv.nthreads; }
OMP_API void omp_set_num_threads(int n) { self()->icv.nthreads = n > 0 ? n : 1; }
OMP_API int omp_get_num_procs(void) { return std::max(1, lithe_num_harts()); }
OMP_API int omp_in_parallel(void) { return self()->active_level > 0; }
OMP_API void omp_set_dynamic(int d) { self()->icv.dynamic = d != 0; }
OMP_API int omp_get_dynamic(void) { return self()->icv.dynamic; }
OMP_API void omp_set_nested(int n) {
    self()->icv.max_active_levels = n ? 255 : 1;
}
OMP_API int omp_get_nested(void) { return self()->icv.max_active_levels > 1; }
OMP_API void omp_set_max_active_levels(int n) {
    if (n >= 0) self()->icv.max_active_levels = std::min(n, 255);
}
OMP_API int omp_get_max_active_levels(void) {
    return self()->icv.max_active_levels;
}
OMP_API int omp_get_supported_active_levels(void) { return 255; }
OMP_API int omp_get_level(void) { return self()->level; }
OMP_API int omp_get_active_level(void) { return self()->active_level; }
OMP_API int omp_get_thread_limit(void) { return self()->icv.thread_limit; }

// A member's ancestor at `level` is found by walking out through the
// masters' Members (a worker's own Member has no `outer`; its team's
// master's Member links to the encountering thread).
OMP_API int omp_get_ancestor_thread_num(int level) {
    Member *m = self();
    if (level < 0 || level > m->level) return -1;
    m = ancestor(level);
    return m ? m->tid : -1;
}
OMP_API int omp_get_team_size(int level) {
    Member *m = self();
    if (level < 0 || level > m->level) return -1;
    m = ancestor(level);
    return m ? m->team->n : -1;
}

// The monotonic modifier (omp_sched_monotonic, the sign bit) is kept and
// given back by omp_get_schedule; schedules honour it anyway (every
// schedule here hands out chunks in increasing order per member).
OMP_API void omp_set_schedule(int kind, int chunk) {
    Icv &icv = self()->icv;
    int k = kind & ~INT_MIN;
    if (k < kStatic || k > kAuto) return;
    icv.run_sched = static_cast<SchedKind>(k);
    icv.run_monotonic = (kind & INT_MIN) != 0;
    icv.run_chunk = chunk > 0 ? chunk : 0;
}
OMP_API void omp_get_schedule(int *kind, int *chunk) {
    const Icv &icv = self()->icv;
    *kind = icv.run_sched | (icv.run_monotonic ? INT_MIN : 0);
    *chunk = static_cast<int>(icv.run_chunk);
}

OMP_API double omp_get_wtime(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}
OMP_API double omp_get_wtick(void) {
    struct timespec ts;
    clock_getres(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

OMP_API int omp_get_default_device(void) { return 0; }
OMP_API void omp_set_default_device(int) {}
OMP_API int omp_get_num_devices(void) { return 0; }
OMP_API int omp_is_initial_device(void) { return 1; }
OMP_API int omp_get_initial_device(void) { return 0; }
OMP_API int omp_get_device_num(void) { return 0; }

// kind: omp_pause_soft 1, omp_pause_hard 2. libgomp's error value (-1) for
// a call inside a parallel region, another device or another kind.
OMP_API int omp_pause_resource(int kind, int device) {
    if (kind != 1 && kind != 2) return -1;
    if (device != omp_get_initial_device()) return -1;
    if (self()->level > 0) return -1;
    release_members();
    return 0;
}
OMP_API int omp_pause_resource_all(int kind) {
    return omp_pause_resource(kind, omp_get_initial_device());
}
// libomp's entry (0 resume: nothing to do, 1 soft, 2 hard).
OMP_API int __kmpc_pause_resource(int level) {
    if (level < 0 || level > 2 || self()->level > 0) return 1;
    if (level > 0) release_members();
    return 0;
}
OMP_API int omp_control_tool(int, int, void *) {
    return -2;  // omp_control_tool_notool
}
