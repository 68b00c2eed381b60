// teams.cpp: the teams construct on the host (GOMP_teams_reg,
// __kmpc_push_num_teams / __kmpc_fork_teams) and the distribute schedules
// clang asks __kmpc_for_static_init for (abi_kmpc.cpp calls
// distribute_team()).
//
// The league's teams run one after another on the encountering context,
// as libgomp does on the host: teams cannot synchronise with each other,
// so any order is a valid execution, and a parallel region inside a team
// gets the harts (and nests schedulers) as any region does. While team k
// runs, the encountering Member's team_num / num_teams say so (members of
// regions inside inherit them with the ICVs); thread_limit becomes the
// team's thread-limit-var. num_teams defaults to nteams-var
// (OMP_NUM_TEAMS, omp_set_num_teams), else 1 (libomp's default);
// thread_limit to teams-thread-limit-var (OMP_TEAMS_THREAD_LIMIT,
// omp_set_teams_thread_limit), else none. Both are device-wide ICVs
// (atomics: any thread may set them; 0 = unset, as both runtimes report).
// gcc's teams inside a target region (GOMP_teams4) runs the same way: the
// region's initial thread (target.cpp) loops over the team numbers.
#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <climits>
#include <cstdlib>

#include "internal.hpp"

extern "C" void lithe_omp_invoke(void (*fn)(), int *gtid, int *btid,
                                 int argc, void **argv);

namespace lomp {
namespace {

int env_int(const char *name) {
    const char *v = getenv(name);
    return v && atoi(v) > 0 ? atoi(v) : 0;
}
std::atomic<int> &nteams_var() {
    static std::atomic<int> v{env_int("OMP_NUM_TEAMS")};
    return v;
}
std::atomic<int> &teams_thread_limit_var() {
    static std::atomic<int> v{env_int("OMP_TEAMS_THREAD_LIMIT")};
    return v;
}
int default_teams() {
    int n = nteams_var().load(std::memory_order_relaxed);
    return n > 0 ? n : 1;
}

// Caps the calling member's ICVs for a team of at most `thread_limit`
// members (0: teams-thread-limit-var, if set).
void apply_thread_limit(Icv &icv, int thread_limit) {
    if (thread_limit <= 0)
        thread_limit = teams_thread_limit_var().load(std::memory_order_relaxed);
    if (thread_limit <= 0) return;
    if (thread_limit < icv.thread_limit) icv.thread_limit = thread_limit;
    if (icv.nthreads > icv.thread_limit) icv.nthreads = icv.thread_limit;
}

template <class F>
void run_league(int num_teams, int thread_limit, F body) {
    Member *m = self();
    if (m->icv.num_teams > 0)
        fatal("a teams construct nested in a teams region");
    Icv saved = m->icv;
    int n = num_teams > 0 ? num_teams : default_teams();
    m->icv.num_teams = n;
    apply_thread_limit(m->icv, thread_limit);
    for (int k = 0; k < n; ++k) {
        m->icv.team_num = k;
        body();
    }
    m->icv = saved;
}

}  // namespace
}  // namespace lomp

using namespace lomp;

OMP_API int omp_get_num_teams(void) {
    int n = self()->icv.num_teams;
    return n > 0 ? n : 1;
}
OMP_API int omp_get_team_num(void) { return self()->icv.team_num; }

OMP_API void GOMP_teams_reg(void (*fn)(void *), void *data,
                            unsigned num_teams, unsigned thread_limit,
                            unsigned) {
    run_league(static_cast<int>(num_teams), static_cast<int>(thread_limit),
               [&] { fn(data); });
}

// gcc's teams construct in a target region: `while (GOMP_teams4(lo, hi,
// limit, first)) body;` on the target region's initial thread, whose ICVs
// die with the region (so nothing is restored after the last team).
OMP_API bool GOMP_teams4(unsigned num_teams_lo, unsigned num_teams_hi,
                         unsigned thread_limit, bool first) {
    (void)num_teams_hi;  // the lower bound suffices
    Member *m = self();
    if (first) {
        if (m->icv.num_teams > 0)
            fatal("a teams construct nested in a teams region");
        int n = num_teams_lo > 0 ? static_cast<int>(std::min<unsigned>(
                                       num_teams_lo, INT_MAX))
                                 : default_teams();
        m->icv.num_teams = n;
        m->icv.team_num = 0;
        apply_thread_limit(m->icv, static_cast<int>(
                                       std::min<unsigned>(thread_limit, INT_MAX)));
        return true;
    }
    if (m->icv.team_num + 1 >= m->icv.num_teams) {
        m->icv.num_teams = 0;  // the teams region is over
        m->icv.team_num = 0;
        return false;
    }
    ++m->icv.team_num;
    return true;
}
// The GOMP 4.0 form (in a target region): only thread_limit matters on
// the host, where the league is one team.
OMP_API void GOMP_teams(unsigned, unsigned thread_limit) {
    apply_thread_limit(self()->icv,
                       static_cast<int>(std::min<unsigned>(thread_limit, INT_MAX)));
}

OMP_API void omp_set_num_teams(int n) {
    if (n > 0) nteams_var().store(n, std::memory_order_relaxed);
}
OMP_API int omp_get_max_teams(void) {
    return nteams_var().load(std::memory_order_relaxed);
}
OMP_API void omp_set_teams_thread_limit(int n) {
    if (n > 0) teams_thread_limit_var().store(n, std::memory_order_relaxed);
}
OMP_API int omp_get_teams_thread_limit(void) {
    return teams_thread_limit_var().load(std::memory_order_relaxed);
}

OMP_API void __kmpc_push_num_teams(void *, int, int num_teams,
                                   int num_threads) {
    Member *m = self();
    m->push_teams = num_teams;
    m->push_teams_threads = num_threads;
}

// OpenMP 5.1 num_teams(lb : ub): any count in [lb, ub] is valid; the
// league runs one team after another here, so the smallest (lb; ub alone
// when lb is 0, as num_teams(ub)).
OMP_API void __kmpc_push_num_teams_51(void *loc, int gtid, int lb, int ub,
                                      int num_threads) {
    __kmpc_push_num_teams(loc, gtid, lb > 0 ? lb : ub, num_threads);
}

OMP_API void __kmpc_fork_teams(void *, int argc, void (*microtask)(), ...) {
    va_list ap;
    va_start(ap, microtask);
    MicrotaskArgs args(argc, ap);
    va_end(ap);
    Member *m = self();
    int nt = m->push_teams, tl = m->push_teams_threads;
    m->push_teams = m->push_teams_threads = 0;
    run_league(nt, tl, [&] {
        int g = gtid(), tid = 0;
        lithe_omp_invoke(microtask, &g, &tid, argc, args.argv());
    });
}
