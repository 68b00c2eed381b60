// icv.cpp: internal control variables, their environment variables, and
// the per-context "current OpenMP thread".
//
// Read once, at the first use (globals() is a function-local static):
//   OMP_NUM_THREADS  n or n1,n2,...  (list: nthreads-var per level)
//                    default: the number of harts (lithe_num_harts()).
//   OMP_DYNAMIC      true/false, default false. True caps a new team at
//                    the harts not running other teams' members
//                    (dynamic_team_limit, team.cpp).
// OMP_WAIT_POLICY and the time slice: wait_policy.cpp.
//   OMP_MAX_ACTIVE_LEVELS  default 1; 255 (the supported maximum, as
//                    libgomp; libomp uses INT_MAX) if OMP_NESTED=true or
//                    OMP_NUM_THREADS is a list of several entries.
//   OMP_SCHEDULE     [modifier:]kind[,chunk], kind = static, dynamic,
//                    guided, auto; default static (libomp's default).
//   OMP_THREAD_LIMIT default unlimited.
//   OMP_STACKSIZE    n[B|K|M|G] (default unit K) for team member contexts;
//                    default: PARLIB_STACK_SIZE.
//   OMP_DISPLAY_ENV  true/verbose: print the values to stderr at startup.
// Every Member carries a copy of its ICVs (setters change the caller's
// copy; members of a new team inherit the master's).
#include <strings.h>
#include <time.h>

#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "internal.hpp"

namespace lomp {
namespace {

bool parse_bool(const char *v, bool dflt) {
    if (!v) return dflt;
    return strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0;
}

void parse_schedule(const char *v, Icv *icv) {
    if (!v) return;
    const char *colon = strchr(v, ':');
    if (colon) v = colon + 1;  // monotonic/nonmonotonic: both allowed here
    while (*v == ' ') ++v;
    struct {
        const char *name;
        SchedKind k;
    } kinds[] = {{"static", kStatic}, {"dynamic", kDynamic},
                 {"guided", kGuided}, {"auto", kAuto}};
    for (auto &k : kinds) {
        size_t len = strlen(k.name);
        if (strncasecmp(v, k.name, len) == 0) {
            icv->run_sched = k.k;
            const char *comma = strchr(v, ',');
            icv->run_chunk = comma ? atol(comma + 1) : 0;
            return;
        }
    }
    fprintf(stderr, "lithe-omp: ignoring invalid OMP_SCHEDULE=%s\n", v);
}

size_t parse_stacksize(const char *v) {
    if (!v) return 0;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    switch (*end) {
    case 'b': case 'B': return n;
    case 'm': case 'M': return n << 20;
    case 'g': case 'G': return n << 30;
    default: return n << 10;
    }
}

Globals load() {
    Globals g;
    int harts = lithe_num_harts() > 0 ? lithe_num_harts() : 1;
    if (const char *v = getenv("OMP_NUM_THREADS")) {
        for (const char *p = v; *p;) {
            char *end;
            long n = strtol(p, &end, 10);
            if (end == p) break;
            g.nthreads_list.push_back(n > 0 ? static_cast<int>(n) : 1);
            p = *end == ',' ? end + 1 : end;
            if (*end != ',') break;
        }
    }
    if (g.nthreads_list.empty()) g.nthreads_list.push_back(harts);
    const char *tl = getenv("OMP_THREAD_LIMIT");
    g.thread_limit = tl && atoi(tl) > 0 ? atoi(tl) : INT_MAX;
    g.stack_size = parse_stacksize(getenv("OMP_STACKSIZE"));
    Icv &i = g.initial;
    i.nthreads = g.nthreads_list[0];
    i.dynamic = parse_bool(getenv("OMP_DYNAMIC"), false);
    bool nested = g.nthreads_list.size() > 1 ||
                  parse_bool(getenv("OMP_NESTED"), false);
    i.max_active_levels = nested ? 255 : 1;
    if (const char *v = getenv("OMP_MAX_ACTIVE_LEVELS"))
        i.max_active_levels = atoi(v) >= 0 ? atoi(v) : i.max_active_levels;
    i.run_sched = kStatic;
    i.run_chunk = 0;
    i.thread_limit = g.thread_limit;
    i.team_num = 0;
    i.num_teams = 0;
    parse_schedule(getenv("OMP_SCHEDULE"), &i);
    const char *d = getenv("OMP_DISPLAY_ENV");
    if (d && (parse_bool(d, false) || strcasecmp(d, "verbose") == 0)) {
        static const char *kn[] = {"", "STATIC", "DYNAMIC", "GUIDED", "AUTO"};
        fprintf(stderr, "\nOPENMP DISPLAY ENVIRONMENT BEGIN\n  _OPENMP = '201511'\n");
        fprintf(stderr, "  OMP_NUM_THREADS = '");
        for (size_t k = 0; k < g.nthreads_list.size(); ++k)
            fprintf(stderr, "%s%d", k ? "," : "", g.nthreads_list[k]);
        fprintf(stderr, "'\n  OMP_DYNAMIC = '%s'\n", i.dynamic ? "TRUE" : "FALSE");
        fprintf(stderr, "  OMP_MAX_ACTIVE_LEVELS = '%d'\n", i.max_active_levels);
        fprintf(stderr, "  OMP_SCHEDULE = '%s,%lld'\n", kn[i.run_sched],
                static_cast<long long>(i.run_chunk));
        fprintf(stderr, "  OMP_THREAD_LIMIT = '%d'\n", g.thread_limit);
        fprintf(stderr, "  OMP_STACKSIZE = '%zuB'\n", g.stack_size);
        fprintf(stderr, "OPENMP DISPLAY ENVIRONMENT END\n");
    }
    return g;
}

struct Initial {
    Team team;
    Member member;
};
thread_local Member *tls_member = nullptr;
thread_local int tls_gtid = -1;
std::atomic<int> g_next_gtid{0};

}  // namespace

const Globals &globals() {
    static const Globals g = load();
    return g;
}

int inherited_nthreads(const Icv &parent, int level) {
    const auto &l = globals().nthreads_list;
    if (l.size() > 1 && level > 0 && static_cast<size_t>(level) <= l.size())
        return l[level - 1];
    return parent.nthreads;
}

Member *self() {
    Member *m = tls_member;
    if (__builtin_expect(m != nullptr, 1)) return m;
    // First OpenMP call of this context outside any region: it is an
    // initial thread with an implicit one-member team. Never freed (the
    // context may call OpenMP until it dies).
    Initial *in = new Initial;
    in->team.barrier.reset(1);
    in->member.team = &in->team;
    in->member.icv = globals().initial;
    in->team.master = &in->member;
    tls_member = &in->member;
    return tls_member;
}

void set_self(Member *m) { tls_member = m; }

int gtid() {
    if (tls_gtid < 0) tls_gtid = g_next_gtid.fetch_add(1);
    return tls_gtid;
}

uint64_t now_ns() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000u +
           static_cast<uint64_t>(ts.tv_nsec);
}

void fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "lithe-omp: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

}  // namespace lomp

extern "C" void lithe_omp_unimplemented(const char *name) {
    lomp::fatal("%s is not implemented yet (see docs/omp.md)", name);
}
