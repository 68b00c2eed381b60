// display_env.cpp: omp_display_env and OMP_DISPLAY_ENV. Both print
// libgomp's format (a "name = 'value'" line per ICV between the BEGIN and
// END banners, on stderr); `verbose` adds the lithe-specific settings.
// The data-environment ICVs shown are the caller's (the initial ones at
// start-up); the device-wide ones are read where they live (teams.cpp,
// task.cpp, affinity.cpp).
#include <strings.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "internal.hpp"

extern "C" {
int omp_get_max_teams(void);
int omp_get_teams_thread_limit(void);
size_t omp_get_affinity_format(char *, size_t);
int __kmpc_get_target_offload(void);
}

namespace lomp {
namespace {

bool env_true(const char *name) {
    const char *v = getenv(name);
    return v && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

const char *allocator_name(uintptr_t h) {
    static const char *names[] = {
        "omp_default_mem_alloc", "omp_default_mem_alloc",
        "omp_large_cap_mem_alloc", "omp_const_mem_alloc",
        "omp_high_bw_mem_alloc", "omp_low_lat_mem_alloc",
        "omp_cgroup_mem_alloc", "omp_pteam_mem_alloc",
        "omp_thread_mem_alloc"};
    return h < sizeof names / sizeof *names ? names[h] : "(user allocator)";
}

}  // namespace

void display_env(const Globals &g, const Icv &icv, bool verbose) {
    static const char *kinds[] = {"", "STATIC", "DYNAMIC", "GUIDED", "AUTO"};
    static const char *offload[] = {"DISABLED", "DEFAULT", "MANDATORY"};
    char fmt[256];
    omp_get_affinity_format(fmt, sizeof fmt);
    FILE *f = stderr;
    flockfile(f);
    fputs("\nOPENMP DISPLAY ENVIRONMENT BEGIN\n  _OPENMP = '201511'\n", f);
    fprintf(f, "  OMP_DYNAMIC = '%s'\n", icv.dynamic ? "TRUE" : "FALSE");
    fprintf(f, "  OMP_NESTED = '%s'\n",
            icv.max_active_levels > 1 ? "TRUE" : "FALSE");
    fprintf(f, "  OMP_NUM_THREADS = '%d", icv.nthreads);
    for (size_t k = 1; k < g.nthreads_list.size(); ++k)
        fprintf(f, ",%d", g.nthreads_list[k]);
    fprintf(f, "'\n  OMP_SCHEDULE = '%s%s", icv.run_monotonic ? "MONOTONIC:" : "",
            kinds[icv.run_sched]);
    if (icv.run_chunk > 0)
        fprintf(f, ",%lld", static_cast<long long>(icv.run_chunk));
    fputs("'\n  OMP_PROC_BIND = 'FALSE'\n  OMP_PLACES = ''\n", f);
    fprintf(f, "  OMP_STACKSIZE = '%zu'\n", g.stack_size);
    const char *wp = getenv("OMP_WAIT_POLICY");
    fprintf(f, "  OMP_WAIT_POLICY = '%s'\n",
            wp && strcasecmp(wp, "active") == 0 ? "ACTIVE" : "PASSIVE");
    fprintf(f, "  OMP_THREAD_LIMIT = '%d'\n", icv.thread_limit);
    fprintf(f, "  OMP_MAX_ACTIVE_LEVELS = '%d'\n", icv.max_active_levels);
    fprintf(f, "  OMP_NUM_TEAMS = '%d'\n", omp_get_max_teams());
    fprintf(f, "  OMP_TEAMS_THREAD_LIMIT = '%d'\n", omp_get_teams_thread_limit());
    fprintf(f, "  OMP_CANCELLATION = '%s'\n",
            omp_cancellation_enabled() ? "TRUE" : "FALSE");
    fputs("  OMP_DEFAULT_DEVICE = '0'\n", f);
    fprintf(f, "  OMP_MAX_TASK_PRIORITY = '%d'\n", max_task_priority());
    fprintf(f, "  OMP_DISPLAY_AFFINITY = '%s'\n",
            env_true("OMP_DISPLAY_AFFINITY") ? "TRUE" : "FALSE");
    fprintf(f, "  OMP_AFFINITY_FORMAT = '%s'\n", fmt);
    fprintf(f, "  OMP_ALLOCATOR = '%s'\n", allocator_name(icv.def_allocator));
    fprintf(f, "  OMP_TARGET_OFFLOAD = '%s'\n", offload[__kmpc_get_target_offload()]);
    if (verbose) {
        fprintf(f, "  LITHE_HARTS = '%d'\n", lithe_num_harts());
        const char *s = getenv("LITHE_OMP_SLICE_US");
        fprintf(f, "  LITHE_OMP_SLICE_US = '%s'\n", s ? s : "1000");
        s = getenv("LITHE_OMP_SHORT_NS");
        fprintf(f, "  LITHE_OMP_SHORT_NS = '%s'\n", s ? s : "1000");
        fprintf(f, "  PARLIB_SPIN_US (runtime waits) = '%llu'\n",
                static_cast<unsigned long long>(spin_budget_ns() / 1000));
    }
    fputs("OPENMP DISPLAY ENVIRONMENT END\n", f);
    funlockfile(f);
}

bool display_env_at_start(const Globals &g) {
    const char *d = getenv("OMP_DISPLAY_ENV");
    if (!d) return false;
    bool verbose = strcasecmp(d, "verbose") == 0;
    if (verbose || env_true("OMP_DISPLAY_ENV")) display_env(g, g.initial, verbose);
    return true;
}

}  // namespace lomp

OMP_API void omp_display_env(int verbose) {
    lomp::display_env(lomp::globals(), lomp::self()->icv, verbose != 0);
}
