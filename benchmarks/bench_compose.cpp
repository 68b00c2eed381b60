// bench_compose.cpp: one measured run of a TBB/OpenMP composition, for
// benchmarks/bench_compose.sh (which builds nothing: bench_compose.cmake
// builds this file as a stock program, libtbb's own workers + libgomp or
// LLVM's libomp, and as a lithe program, liblithe_omp + liblithe_tbb, per
// compiler; the harness's in-process interleaving cannot compare them, since
// the variants are different libraries, so the driver interleaves
// processes instead).
//
// `bench_compose a|b|c|seq GRAIN [TBB_THREADS]`:
//   a    tbb::parallel_for over the tasks; each task is one omp parallel
//        region running `loops` worksharing loops (omp for, each ending in
//        a barrier) over `iters` iterations
//   b    an omp parallel for over the tasks (schedule(dynamic, 1)); each
//        iteration runs `loops` tbb::parallel_for over `iters` iterations
//        (each ending in a join)
//   c    b in phases: one omp parallel region; for each group of kPhase
//        tasks, an omp for (schedule(dynamic, 1), ending in a barrier)
//        whose iterations are b's; a member that finds no iteration left
//        waits at the barrier while its siblings still run TBB work
//   seq  the same iterations in plain loops on one thread (the ideal's
//        basis; no warm-up: there is nothing to warm)
// GRAIN (kGrains) splits one fixed amount of work (tasks x loops x iters x
// work = kTotal steps of `step`) into coarse or fine pieces: what changes
// between grains is only how often a team meets at a barrier or join, the
// cost a descheduled member imposes on the others.
// TBB_THREADS (optional) caps TBB at that many threads, the caller included
// (tbb::global_control's max_allowed_parallelism, for the whole run): with
// 1, and OMP_NUM_THREADS=W, the stock runtimes split the CPUs by hand the
// way a user tuning a composition would, all to OpenMP; bench_compose.sh's
// partitions (tbb1, and omp1 = OMP_NUM_THREADS=1 without a cap) are the
// baselines lithe is compared with besides the stock defaults.
// `bench_compose grains` lists the grains, one per line:
//   name tasks loops iters work
// A measured run does one untimed warm-up over the first eighth of the
// tasks (thread pools, hot teams, worker contexts), then one timed run, and
// prints one line
//   wall_s cpu_s threads nvcsw nivcsw checksum
// where cpu is user+system of the whole process (getrusage), threads the
// kernel threads at the end (none exit during the run in any setup, so
// this is the peak), and the context switches are the timed run's. The
// checksum is the sum of every iteration's result: it keeps the work from
// being optimised away, and bench_compose.sh checks that every program and
// scenario of a grain agree on it.
// BENCH_COMPOSE_THREADS=1 also prints, to stderr, one line per kernel
// thread with its share of the timed run: CPU ms, voluntary and
// involuntary context switches (/proc/self/task/*/stat and status, read
// just before and after the timed run, like the getrusage totals), its
// name and whether it is the main thread, and its switches since it
// started (start-up and warm-up included): where a runtime's switches
// come from (docs/perf.md). Not printed by default: reading /proc costs little,
// but the line format of stdout is what bench_compose.sh parses.
// BENCH_COMPOSE_PHASES=1 prints, to stderr, one line with the
// CLOCK_MONOTONIC times (seconds) at which the process entered main, the
// warm-up ended and the timed run began and ended: to place kernel events
// recorded with that clock (`perf record -k CLOCK_MONOTONIC`,
// bench_compose_preempt.sh) in the run's phases.
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_for.h>
#include <omp.h>

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>

namespace {

struct Grain {
    const char *name;
    long tasks;  // outer tasks (a: TBB tasks; b: omp iterations)
    long loops;  // inner parallel loops per task (barriers / joins)
    long iters;  // iterations per inner loop
    long work;   // steps per iteration
};

// ~0.5 CPU s in total (gcc; ~10 ns per step). coarse: 8 ms regions with
// one barrier each (the first version of this benchmark); medium: 1 ms
// regions, 2 loops; fine: 125 us regions of 4 loops of ~31 us each (a
// team of 2 meets at a barrier every ~15 us), like the small dense
// kernels of a sparse factorisation's task tree.
constexpr long kTotal = 64L * 400 * 2000;
constexpr Grain kGrains[] = {
    {"coarse", 64, 1, 400, 2000},
    {"medium", 512, 2, 50, 1000},
    {"fine", 4096, 4, 25, 125},
};
static_assert(std::all_of(std::begin(kGrains), std::end(kGrains), [](const Grain &g) {
    return g.tasks * g.loops * g.iters * g.work == kTotal;
}));

// x stays near its start (sin(x) ~ x), so every step takes the same path
// through sin whatever the grain: glibc's sin takes different paths for
// different magnitudes, and with inputs that grew with the iteration index
// and the step count, the same number of steps cost ~20% more CPU in the
// fine grain than in the coarse one.
double step(double x) { return x * 0.999 + std::sin(x) * 1e-3; }

// One iteration: `work` dependent steps from a start in [0, 0.1) that
// differs per iteration (so no two iterations compute the same thing),
// spread over the same range in every grain. Not inlined, so that the
// sequential baseline and every parallel variant of a compiler's object
// run the same machine code: inlined, clang-14 compiled the loop
// differently per caller, and the TBB scenario cost ~50% more CPU than the
// sequential loop for that reason alone.
[[gnu::noinline]] double unit(const Grain &g, long t, long l, long i) {
    double x = 0.1 * static_cast<double>((t * g.loops + l) * g.iters + i) /
               static_cast<double>(g.tasks * g.loops * g.iters);
    for (long k = 0; k < g.work; ++k) x = step(x);
    return x;
}

void add(std::atomic<double> &to, double v) {
    double cur = to.load();
    while (!to.compare_exchange_weak(cur, cur + v)) {
    }
}

double omp_task(const Grain &g, long t) {
    double s = 0;
#pragma omp parallel
    for (long l = 0; l < g.loops; ++l) {
#pragma omp for reduction(+ : s) schedule(static)
        for (long i = 0; i < g.iters; ++i) s += unit(g, t, l, i);
    }
    return s;
}

double tbb_task(const Grain &g, long t) {
    std::atomic<double> s{0};
    // About 16 chunks per loop, as many as the iterations allow.
    long chunk = std::max(1L, g.iters / 16);
    for (long l = 0; l < g.loops; ++l)
        tbb::parallel_for(tbb::blocked_range<long>(0, g.iters, chunk),
                          [&](const tbb::blocked_range<long> &r) {
                              double a = 0;
                              for (long i = r.begin(); i < r.end(); ++i) a += unit(g, t, l, i);
                              add(s, a);
                          });
    return s.load();
}

double run_a(const Grain &g, long tasks) {
    std::atomic<double> total{0};
    tbb::parallel_for(0L, tasks, [&](long t) { add(total, omp_task(g, t)); });
    return total.load();
}

double run_b(const Grain &g, long tasks) {
    double total = 0;
#pragma omp parallel for reduction(+ : total) schedule(dynamic, 1)
    for (long t = 0; t < tasks; ++t) total += tbb_task(g, t);
    return total;
}

// Tasks per phase of scenario c: one per member at width 8, so at widths
// 2 and 4 each member takes several per phase and the phase ends with some
// members waiting for the last ones.
constexpr long kPhase = 8;

double run_c(const Grain &g, long tasks) {
    double total = 0;
#pragma omp parallel reduction(+ : total)
    for (long p = 0; p < tasks; p += kPhase) {
        long end = std::min(tasks, p + kPhase);
#pragma omp for schedule(dynamic, 1)
        for (long t = p; t < end; ++t) total += tbb_task(g, t);
    }
    return total;
}

double run_seq(const Grain &g, long tasks) {
    double total = 0;
    for (long t = 0; t < tasks; ++t)
        for (long l = 0; l < g.loops; ++l)
            for (long i = 0; i < g.iters; ++i) total += unit(g, t, l, i);
    return total;
}

int threads_now() {
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    while (dirent *e = readdir(d))
        if (e->d_name[0] != '.') ++n;
    closedir(d);
    return n;
}

// One kernel thread's counters (ThreadSample: what /proc shows for it).
struct ThreadSample {
    std::string name;
    long cpu_ticks = 0;  // utime + stime, clock ticks
    long vcs = 0, ivcs = 0;
};

std::map<int, ThreadSample> sample_threads() {
    std::map<int, ThreadSample> out;
    DIR *d = opendir("/proc/self/task");
    while (dirent *e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        ThreadSample t;
        std::string dir = std::string("/proc/self/task/") + e->d_name;
        char buf[1024];
        if (FILE *f = std::fopen((dir + "/stat").c_str(), "r")) {
            size_t n = std::fread(buf, 1, sizeof buf - 1, f);
            std::fclose(f);
            buf[n] = 0;
            // "tid (comm) state ..." : utime, stime are fields 14, 15.
            char *open = std::strchr(buf, '('), *close = std::strrchr(buf, ')');
            if (open && close) {
                t.name.assign(open + 1, close);
                long ut = 0, st = 0;
                std::sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld",
                            &ut, &st);
                t.cpu_ticks = ut + st;
            }
        }
        if (FILE *f = std::fopen((dir + "/status").c_str(), "r")) {
            while (std::fgets(buf, sizeof buf, f)) {
                std::sscanf(buf, "voluntary_ctxt_switches: %ld", &t.vcs);
                std::sscanf(buf, "nonvoluntary_ctxt_switches: %ld", &t.ivcs);
            }
            std::fclose(f);
        }
        out[std::atoi(e->d_name)] = t;
    }
    closedir(d);
    return out;
}

// The timed run's share per thread, threads with nothing to show omitted.
void print_threads(const std::map<int, ThreadSample> &before,
                   const std::map<int, ThreadSample> &after) {
    double ms_per_tick = 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
    int pid = getpid();
    for (const auto &[tid, a] : after) {
        ThreadSample b;
        if (auto it = before.find(tid); it != before.end()) b = it->second;
        long cpu = a.cpu_ticks - b.cpu_ticks, vcs = a.vcs - b.vcs, ivcs = a.ivcs - b.ivcs;
        if (!cpu && !vcs && !ivcs) continue;
        std::fprintf(stderr,
                     "thread %d%s %-16s cpu %6.0f ms vol %6ld invol %6ld (since start: "
                     "vol %ld invol %ld)\n",
                     tid, tid == pid ? " (main)" : "", a.name.c_str(), cpu * ms_per_tick, vcs,
                     ivcs, a.vcs, a.ivcs);
    }
}

double secs(const timeval &tv) { return tv.tv_sec + tv.tv_usec * 1e-6; }

double monotonic_now() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

bool env_is_1(const char *name) {
    const char *v = std::getenv(name);
    return v && !std::strcmp(v, "1");
}

int usage(const char *argv0) {
    std::fprintf(stderr, "usage: %s a|b|c|seq GRAIN [TBB_THREADS], or %s grains\n", argv0,
                 argv0);
    return 2;
}

}  // namespace

int main(int argc, char **argv) {
    double started = monotonic_now();
    if (argc == 2 && !std::strcmp(argv[1], "grains")) {
        for (const Grain &g : kGrains)
            std::printf("%s %ld %ld %ld %ld\n", g.name, g.tasks, g.loops, g.iters, g.work);
        return 0;
    }
    if (argc != 3 && argc != 4) return usage(argv[0]);
    double (*fn)(const Grain &, long) = nullptr;
    if (!std::strcmp(argv[1], "a")) fn = run_a;
    if (!std::strcmp(argv[1], "b")) fn = run_b;
    if (!std::strcmp(argv[1], "c")) fn = run_c;
    if (!std::strcmp(argv[1], "seq")) fn = run_seq;
    const Grain *g = nullptr;
    for (const Grain &c : kGrains)
        if (!std::strcmp(argv[2], c.name)) g = &c;
    if (!fn || !g) return usage(argv[0]);
    long tbb_threads = 0;
    if (argc == 4) {
        char *end = nullptr;
        tbb_threads = std::strtol(argv[3], &end, 10);
        if (*end || tbb_threads < 1) return usage(argv[0]);
    }
    std::unique_ptr<tbb::global_control> tbb_cap;
    if (tbb_threads)
        tbb_cap = std::make_unique<tbb::global_control>(
            tbb::global_control::max_allowed_parallelism, static_cast<size_t>(tbb_threads));
    if (fn != run_seq) fn(*g, g->tasks / 8);  // warm-up
    double warmed = monotonic_now();
    bool threads = env_is_1("BENCH_COMPOSE_THREADS");
    std::map<int, ThreadSample> before;
    if (threads) before = sample_threads();
    rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    double t0 = monotonic_now();
    double sum = fn(*g, g->tasks);
    double t1 = monotonic_now();
    getrusage(RUSAGE_SELF, &r1);
    if (env_is_1("BENCH_COMPOSE_PHASES"))
        std::fprintf(stderr, "phases: main %.6f warmed %.6f timed %.6f end %.6f\n", started,
                     warmed, t0, t1);
    if (threads) print_threads(before, sample_threads());
    double wall = t1 - t0;
    double cpu = secs(r1.ru_utime) - secs(r0.ru_utime) + secs(r1.ru_stime) -
                 secs(r0.ru_stime);
    std::printf("%.4f %.4f %d %ld %ld %.9e\n", wall, cpu, threads_now(),
                r1.ru_nvcsw - r0.ru_nvcsw, r1.ru_nivcsw - r0.ru_nivcsw, sum);
    return 0;
}
