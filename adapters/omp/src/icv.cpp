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
//                    default: the soft RLIMIT_STACK capped at 64 MiB, as
//                    libomp sizes its workers (KMP_DEFAULT_STKSIZE * 16),
//                    and at least parlib's PARLIB_STACK_SIZE; glibc gives
//                    libgomp's threads the same rlimit. Stacks are
//                    mmapped, so untouched stack costs no memory.
//   OMP_ALLOCATOR    def-allocator-var: a predefined allocator's name.
//   OMP_DISPLAY_ENV  true/verbose: print the values to stderr at the first
//                    OpenMP call (display_env.cpp).
// kmp_set_defaults (libomp) applies NAME=VALUE|... settings later.
// Every Member carries a copy of its ICVs (setters change the caller's
// copy; members of a new team inherit the master's).
#include <strings.h>
#include <sys/resource.h>
#include <pthread.h>
#include <time.h>

#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <string>

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
    icv->run_monotonic = colon && strncasecmp(v, "monotonic", 9) == 0;
    if (colon) v = colon + 1;
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

// libomp's worker stack default: the caller's soft RLIMIT_STACK, capped at
// 64 MiB (kmp_settings.cpp, __kmp_check_stksize); 0 (parlib's default) if
// that is smaller than parlib's default.
size_t default_stack_size() {
    constexpr size_t kCap = size_t{64} << 20;
    struct rlimit rl;
    if (getrlimit(RLIMIT_STACK, &rl) != 0) return 0;
    size_t n = rl.rlim_cur == RLIM_INFINITY ? kCap
                                            : static_cast<size_t>(rl.rlim_cur);
    if (n > kCap) n = kCap;
    return n;
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
    g.stack_size = getenv("OMP_STACKSIZE")
                       ? parse_stacksize(getenv("OMP_STACKSIZE"))
                       : default_stack_size();
    Icv &i = g.initial;
    i.nthreads = g.nthreads_list[0];
    i.dynamic = parse_bool(getenv("OMP_DYNAMIC"), false);
    bool nested = g.nthreads_list.size() > 1 ||
                  parse_bool(getenv("OMP_NESTED"), false);
    i.max_active_levels = nested ? 255 : 1;
    if (const char *v = getenv("OMP_MAX_ACTIVE_LEVELS"))
        i.max_active_levels = atoi(v) >= 0 ? atoi(v) : i.max_active_levels;
    i.run_sched = kStatic;
    i.run_monotonic = false;
    i.run_chunk = 0;
    i.def_allocator = 0;
    if (const char *v = getenv("OMP_ALLOCATOR")) i.def_allocator = parse_allocator(v);
    i.thread_limit = g.thread_limit;
    i.team_num = 0;
    i.num_teams = 0;
    parse_schedule(getenv("OMP_SCHEDULE"), &i);
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
    static const bool shown = display_env_at_start(g);
    (void)shown;
    return g;
}

void run_as_initial_thread(void (*fn)(void *), void *data, int thread_limit) {
    Member *outer = self();
    Initial in;
    in.team.barrier.reset(1);
    in.member.team = &in.team;
    in.member.icv = globals().initial;
    if (thread_limit > 0) in.member.icv.thread_limit = thread_limit;
    in.member.pool_base = outer->pool_base + outer->level;
    in.team.master = &in.member;
    tls_member = &in.member;
    fn(data);
    task_member_end(&in.team);
    tls_member = outer;
}

int inherited_nthreads(const Icv &parent, int level) {
    const auto &l = globals().nthreads_list;
    if (l.size() > 1 && level > 0 && static_cast<size_t>(level) <= l.size())
        return l[level - 1];
    return parent.nthreads;
}

// Owns the Initial that self() made for this thread or context and frees
// it with the thread's other thread_local objects (a foreign pthread or a
// TBB worker context that called OpenMP once would leak it otherwise). The
// main thread's stays: atexit handlers and static destructors, which run
// after its thread_local destructors, may still call OpenMP. A call after
// the owner is gone gets a new Initial that is not freed.
// pthread_self() identifies the TLS (a context's own TCB), not the kernel
// thread: the main context keeps the main thread's wherever it runs.
const pthread_t g_main_thread = pthread_self();  // at load, on the main thread
struct InitialOwner {
    Initial *in = nullptr;
    ~InitialOwner() {
        if (!in || pthread_equal(pthread_self(), g_main_thread)) return;
        if (tls_member == &in->member) tls_member = nullptr;
        delete in;
        in = nullptr;
        tls_initial_gone = true;
    }
    static inline thread_local bool tls_initial_gone = false;
};
thread_local InitialOwner tls_initial;

Member *self() {
    Member *m = tls_member;
    if (__builtin_expect(m != nullptr, 1)) return m;
    // First OpenMP call of this context outside any region: it is an
    // initial thread with an implicit one-member team.
    Initial *in = new Initial;
    if (!InitialOwner::tls_initial_gone) tls_initial.in = in;
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

// libomp's kmp_set_defaults("NAME=VALUE|NAME=VALUE..."): the settings an
// OpenMP program can change while running, applied to the caller's ICVs
// (or the device-wide ones) as the matching omp_set_* routine would.
// Other names are reported on stderr and ignored; an entry without '='
// sets nothing.
extern "C" {
void omp_set_num_teams(int);
void omp_set_teams_thread_limit(int);
void omp_set_affinity_format(const char *);
}
OMP_API void kmp_set_defaults(const char *str) {
    using namespace lomp;
    if (!str) return;
    std::string all(str);
    size_t pos = 0;
    while (pos <= all.size()) {
        size_t bar = all.find('|', pos);
        if (bar == std::string::npos) bar = all.size();
        std::string item = all.substr(pos, bar - pos);
        pos = bar + 1;
        size_t eq = item.find('=');
        if (eq == std::string::npos) continue;
        std::string name = item.substr(0, eq);
        const char *v = item.c_str() + eq + 1;
        Icv &icv = self()->icv;
        if (name == "OMP_NUM_THREADS") {
            if (atoi(v) > 0) icv.nthreads = atoi(v);
        } else if (name == "OMP_DYNAMIC") {
            icv.dynamic = parse_bool(v, icv.dynamic);
        } else if (name == "OMP_MAX_ACTIVE_LEVELS") {
            if (atoi(v) >= 0) icv.max_active_levels = std::min(atoi(v), 255);
        } else if (name == "OMP_SCHEDULE") {
            parse_schedule(v, &icv);
        } else if (name == "OMP_ALLOCATOR") {
            icv.def_allocator = parse_allocator(v);
        } else if (name == "OMP_NUM_TEAMS") {
            omp_set_num_teams(atoi(v));
        } else if (name == "OMP_TEAMS_THREAD_LIMIT") {
            omp_set_teams_thread_limit(atoi(v));
        } else if (name == "OMP_AFFINITY_FORMAT") {
            omp_set_affinity_format(v);
        } else if (name == "OMP_TARGET_OFFLOAD") {
            set_target_offload(v);
        } else {
            fprintf(stderr, "lithe-omp: kmp_set_defaults: %s cannot be "
                    "changed at run time here (ignored)\n", name.c_str());
        }
    }
}
OMP_API void kmpc_set_defaults(const char *str) { kmp_set_defaults(str); }
