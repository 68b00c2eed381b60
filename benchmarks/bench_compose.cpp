// bench_compose.cpp: one measured run of a TBB/OpenMP composition, for
// benchmarks/bench_compose.sh (which builds nothing: bench_compose.cmake
// builds this file as a stock program, libtbb's own workers + libgomp or
// LLVM's libomp, and as a lithe program, liblithe_omp + liblithe_tbb, per
// compiler; the harness's in-process interleaving cannot compare them, since
// the variants are different libraries, so the driver interleaves
// processes instead).
//
// `bench_compose a|b|seq_a|seq_b`:
//   a      tbb::parallel_for over kTasks tasks, each an omp parallel for
//   b      an omp parallel region whose members each run tbb::parallel_for
//          over their share of the tasks
//   seq_*  the same work in plain loops on one thread (the ideal's basis)
// One untimed warm-up run, then one timed run; prints one line
//   wall_s cpu_s threads nvcsw nivcsw checksum
// where cpu is user+system of the whole process (getrusage), threads the
// kernel threads at the end (none exit during the run in any setup, so
// this is the peak), and the context switches are the timed run's.
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <omp.h>

#include <dirent.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace {

constexpr int kTasks = 64;        // outer tasks
constexpr long kInner = 400;      // inner iterations per task
constexpr long kWork = 2000;      // flops per inner iteration

double unit(long t, long i) {
    double x = static_cast<double>(t * kInner + i) * 1e-6;
    for (long k = 0; k < kWork; ++k) x = x * 0.999999 + std::sin(x) * 1e-3;
    return x;
}

double omp_task(int t) {
    double s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static)
    for (long i = 0; i < kInner; ++i) s += unit(t, i);
    return s;
}

double tbb_task(int t) {
    std::atomic<double> s{0};
    tbb::parallel_for(tbb::blocked_range<long>(0, kInner, 25),
                      [&](const tbb::blocked_range<long> &r) {
                          double a = 0;
                          for (long i = r.begin(); i < r.end(); ++i) a += unit(t, i);
                          double cur = s.load();
                          while (!s.compare_exchange_weak(cur, cur + a)) {
                          }
                      });
    return s.load();
}

double run_a() {
    std::atomic<double> total{0};
    tbb::parallel_for(0, kTasks, [&](int t) {
        double v = omp_task(t), cur = total.load();
        while (!total.compare_exchange_weak(cur, cur + v)) {
        }
    });
    return total.load();
}

double run_b() {
    double total = 0;
#pragma omp parallel for reduction(+ : total) schedule(dynamic, 1)
    for (int t = 0; t < kTasks; ++t) total += tbb_task(t);
    return total;
}

double run_seq() {
    double total = 0;
    for (int t = 0; t < kTasks; ++t)
        for (long i = 0; i < kInner; ++i) total += unit(t, i);
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

double secs(const timeval &tv) { return tv.tv_sec + tv.tv_usec * 1e-6; }

}  // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s a|b|seq_a|seq_b\n", argv[0]);
        return 2;
    }
    double (*fn)() = nullptr;
    if (!std::strcmp(argv[1], "a")) fn = run_a;
    if (!std::strcmp(argv[1], "b")) fn = run_b;
    if (!std::strncmp(argv[1], "seq", 3)) fn = run_seq;
    if (!fn) return 2;
    fn();  // warm-up: thread pools, hot teams, worker contexts
    rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    auto t0 = std::chrono::steady_clock::now();
    double sum = fn();
    auto t1 = std::chrono::steady_clock::now();
    getrusage(RUSAGE_SELF, &r1);
    double wall = std::chrono::duration<double>(t1 - t0).count();
    double cpu = secs(r1.ru_utime) - secs(r0.ru_utime) + secs(r1.ru_stime) -
                 secs(r0.ru_stime);
    std::printf("%.4f %.4f %d %ld %ld %.6e\n", wall, cpu, threads_now(),
                r1.ru_nvcsw - r0.ru_nvcsw, r1.ru_nivcsw - r0.ru_nivcsw, sum);
    return 0;
}
