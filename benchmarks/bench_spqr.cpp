// bench_spqr.cpp: one measured run of the SPQR-like tree (spqr_tree.hpp: a
// TBB task tree whose nodes call OpenMP-parallel OpenBLAS dgemm and
// dgeqrf), for benchmarks/bench_spqr.sh. bench_spqr.cmake builds this file
// twice, as bench_spqr_stock (libtbb's own workers) and bench_spqr_lithe
// (plus liblithe_tbb); OpenBLAS's OpenMP runtime is libgomp in both, and
// the driver runs the lithe program with LD_LIBRARY_PATH=<the drop-in
// directory>, where libgomp.so.1 is liblithe_omp (docs/omp.md, "Drop-in").
// The program itself uses no OpenMP: its team size is OMP_NUM_THREADS,
// which OpenBLAS reads per call (omp_get_max_threads) on every thread.
//
// `bench_spqr tree SHAPE [TBB_THREADS]`: the tree with a tbb::task_group
//     per inner node; TBB_THREADS > 0 runs it in a tbb::task_arena of that
//     many slots under a tbb::global_control allowing as many threads (the
//     static partitions, and stock at more threads than CPUs; 0 or absent:
//     TBB's default, the CPUs on stock, the harts on lithe).
// `bench_spqr seq SHAPE`: the tree depth-first on the main thread (no TBB).
// `bench_spqr kernels SHAPE`: the front kernels alone, a leaf's and the
//     root's dgemm and dgeqrf, each the median of 5 timed calls after an
//     untimed one; prints "kernel m n k ms" per line. The driver runs it at
//     OMP_NUM_THREADS=1 and =W to show how far a single call scales.
// `bench_spqr shapes`: the shapes, "name depth fanout npiv cb own inner".
// A measured tree run first factors the tiny shape once untimed (thread
// pools, OpenBLAS's buffers), then the shape once, timed, and prints
//   wall_s cpu_s threads nvcsw nivcsw checksum
// like bench_compose: cpu is user+system of the whole process (getrusage),
// threads the kernel threads at the end (no runtime here ends a thread
// before exit, so the peak), the context switches the timed run's.
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "spqr_tree.hpp"

namespace {

double secs(const timeval &tv) { return tv.tv_sec + tv.tv_usec * 1e-6; }

int threads_in_process() {
    int n = 0;
    for ([[maybe_unused]] const auto &e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
    return n;
}

// Median milliseconds of 5 calls of fn, after one untimed call (the
// machine may be shared: a single call can lose its CPU).
template <class Fn>
double time_ms(Fn fn) {
    fn();
    std::vector<double> ms;
    for (int k = 0; k < 5; ++k) {
        auto t0 = std::chrono::steady_clock::now();
        fn();
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                         .count());
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
}

void kernels(const spqr::Shape &s) {
    const int n = s.npiv + s.cb;
    for (int rows : {s.own, s.own + s.fanout * s.cb}) {  // a leaf's front, the root's
        std::vector<double> x(static_cast<size_t>(s.own) * s.inner, 0.25),
            y(static_cast<size_t>(s.inner) * n, 0.5), f(static_cast<size_t>(rows) * n);
        const double one = 1, zero = 0;
        double ms = time_ms([&] {
            dgemm_("N", "N", &s.own, &n, &s.inner, &one, x.data(), &s.own, y.data(), &s.inner,
                   &zero, f.data(), &rows);
        });
        std::printf("dgemm %d %d %d %.3f\n", s.own, n, s.inner, ms);
        std::vector<double> a(f.size()), tau(n), work(static_cast<size_t>(n) * 64);
        int lwork = static_cast<int>(work.size()), info = 0;
        ms = time_ms([&] {
            for (size_t k = 0; k < a.size(); ++k) a[k] = static_cast<double>((k * 7919) % 1000) - 500;
            dgeqrf_(&rows, &n, a.data(), &rows, tau.data(), work.data(), &lwork, &info);
        });
        std::printf("dgeqrf %d %d 0 %.3f\n", rows, n, ms);
    }
}

int usage(const char *argv0) {
    std::fprintf(stderr,
                 "usage: %s tree SHAPE [TBB_THREADS] | seq SHAPE | kernels SHAPE | shapes\n",
                 argv0);
    return 2;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc == 2 && !std::strcmp(argv[1], "shapes")) {
        for (const spqr::Shape &s : spqr::kShapes)
            std::printf("%s %d %d %d %d %d %d\n", s.name, s.depth, s.fanout, s.npiv, s.cb,
                        s.own, s.inner);
        return 0;
    }
    if (argc < 3 || argc > 4) return usage(argv[0]);
    const spqr::Shape *shape = spqr::find_shape(argv[2]);
    bool tree = !std::strcmp(argv[1], "tree");
    if (!shape || (!tree && argc != 3)) return usage(argv[0]);
    if (!std::strcmp(argv[1], "kernels")) {
        kernels(*shape);
        return 0;
    }
    if (!tree && std::strcmp(argv[1], "seq") != 0) return usage(argv[0]);
    int tbb_threads = argc == 4 ? std::atoi(argv[3]) : 0;
    // A partition's TBB share: an arena of that many slots (so it can also
    // exceed the CPUs, emulating a wider machine), and a global cap that
    // lets TBB start that many workers.
    std::unique_ptr<tbb::global_control> cap;
    std::unique_ptr<tbb::task_arena> arena;
    if (tbb_threads > 0) {
        cap = std::make_unique<tbb::global_control>(
            tbb::global_control::max_allowed_parallelism, tbb_threads);
        arena = std::make_unique<tbb::task_arena>(tbb_threads);
    }
    auto factor = [tree, &arena](const spqr::Shape &s) {
        spqr::Tree t(s);
        if (!tree) return t.factor_sequential();
        return arena ? arena->execute([&t] { return t.factor_tree(); }) : t.factor_tree();
    };
    factor(*spqr::find_shape("tiny"));  // warm-up
    rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    auto t0 = std::chrono::steady_clock::now();
    double sum = factor(*shape);
    auto t1 = std::chrono::steady_clock::now();
    getrusage(RUSAGE_SELF, &r1);
    double wall = std::chrono::duration<double>(t1 - t0).count();
    double cpu = secs(r1.ru_utime) - secs(r0.ru_utime) + secs(r1.ru_stime) - secs(r0.ru_stime);
    std::printf("%.4f %.4f %d %ld %ld %.12e\n", wall, cpu, threads_in_process(),
                r1.ru_nvcsw - r0.ru_nvcsw, r1.ru_nivcsw - r0.ru_nivcsw, sum);
    return 0;
}
