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
// team's thread-limit-var. num_teams defaults to OMP_NUM_TEAMS, else 1
// (libomp's default).
#include <cstdarg>
#include <cstdlib>

#include "internal.hpp"

extern "C" void lithe_omp_invoke(void (*fn)(), int *gtid, int *btid,
                                 int argc, void **argv);

namespace lomp {
namespace {

int default_teams() {
    static const int n = [] {
        const char *v = getenv("OMP_NUM_TEAMS");
        return v && atoi(v) > 0 ? atoi(v) : 1;
    }();
    return n;
}

template <class F>
void run_league(int num_teams, int thread_limit, F body) {
    Member *m = self();
    if (m->icv.num_teams > 0)
        fatal("a teams construct nested in a teams region");
    Icv saved = m->icv;
    int n = num_teams > 0 ? num_teams : default_teams();
    m->icv.num_teams = n;
    if (thread_limit > 0) {
        if (thread_limit < m->icv.thread_limit)
            m->icv.thread_limit = thread_limit;
        if (m->icv.nthreads > m->icv.thread_limit)
            m->icv.nthreads = m->icv.thread_limit;
    }
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

OMP_API void __kmpc_push_num_teams(void *, int, int num_teams,
                                   int num_threads) {
    Member *m = self();
    m->push_teams = num_teams;
    m->push_teams_threads = num_threads;
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
