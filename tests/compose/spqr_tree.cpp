// spqr_tree.cpp: the SPQR-like composition (benchmarks/spqr_tree.hpp: a TBB
// task tree whose nodes call Debian's OpenMP OpenBLAS) on lithe: TBB on
// liblithe_tbb, OpenBLAS's libgomp.so.1 the drop-in liblithe_omp
// (LD_LIBRARY_PATH, set by tests/compose/CMakeLists.txt). Checks:
//   - the configuration is the one meant: OpenBLAS's OpenMP calls bind to
//     the drop-in library (a libgomp.so.1 in a directory named "dropin"),
//     so a stock run cannot pass for a lithe one;
//   - every tree's checksum equals the depth-first run's on the main
//     thread (spqr::same_checksum: equal up to rounding);
//   - while the trees run, a RunningSampler (tests/support/
//     running_sampler.hpp) never sees more kernel threads running at once
//     than there are harts;
//   - it finishes: a watchdog (tests/support/watchdog.hpp) fails the test
//     after SPQR_TREE_TIMEOUT_S seconds (default 60) instead of letting it
//     hang (docs/tbb.md, "Liveness").
// Runs the tiny shape: one warm-up tree, then trees until the sampler has
// 200 samples (at least 1, at most 50 trees).
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "running_sampler.hpp"
#include "spqr_tree.hpp"
#include "watchdog.hpp"

extern "C" int lithe_num_harts(void);

namespace {

// The file that the process's omp_get_max_threads (what OpenBLAS asks for
// its team size) comes from.
std::string omp_library() {
    void *sym = dlsym(RTLD_DEFAULT, "omp_get_max_threads");
    Dl_info info{};
    if (!sym || !dladdr(sym, &info) || !info.dli_fname) return "(none)";
    return info.dli_fname;
}

}  // namespace

int main() {
    const char *timeout_env = std::getenv("SPQR_TREE_TIMEOUT_S");
    testwd::Watchdog watchdog(timeout_env ? std::atoi(timeout_env) : 60, "spqr_tree");
    std::string lib = omp_library();
    if (lib.find("/dropin/libgomp.so.1") == std::string::npos) {
        std::fprintf(stderr, "FAIL: OpenMP is %s, not the drop-in liblithe_omp\n", lib.c_str());
        return 1;
    }
    const spqr::Shape &shape = *spqr::find_shape("tiny");
    const double expected = spqr::Tree(shape).factor_sequential();
    const int harts = lithe_num_harts();
    if (!spqr::same_checksum(spqr::Tree(shape).factor_tree(), expected)) {  // warm-up
        std::fprintf(stderr, "FAIL: warm-up tree's checksum differs\n");
        return 1;
    }
    running_sampler::RunningSampler sampler;
    sampler.start();
    int trees = 0;
    for (; trees < 50 && (trees == 0 || sampler.samples() < 200); ++trees) {
        double sum = spqr::Tree(shape).factor_tree();
        if (!spqr::same_checksum(sum, expected)) {
            sampler.stop();
            std::fprintf(stderr, "FAIL: tree %d: checksum %.12e, depth-first %.12e\n", trees,
                         sum, expected);
            return 1;
        }
    }
    int peak = sampler.stop();
    std::printf("spqr_tree: %d trees of %d fronts, checksum %.12e, harts %d, peak running "
                "threads %d, %ld samples (%ld with a parlib helper running), OpenMP from %s\n",
                trees, spqr::Tree(shape).nodes(), expected, harts, peak, sampler.samples(),
                sampler.helper_samples(), lib.c_str());
    if (peak > harts) {
        std::fprintf(stderr, "FAIL: %d kernel threads running at once, only %d harts: %s\n",
                     peak, harts, sampler.peak_who().c_str());
        return 1;
    }
    return 0;
}
