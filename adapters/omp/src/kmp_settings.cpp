// kmp_settings.cpp: libomp's kmp_* extension settings (C entry points;
// the Fortran `_` forms stay stubbed like the rest of the Fortran API).
//
// What each means on lithe (docs/omp.md, "kmp_* settings"):
// * stacksize: the stack of team member contexts created from now on
//   (OMP_STACKSIZE's value until set; existing pooled members keep
//   theirs, as libomp's existing threads do). Read by team.cpp.
// * blocktime, library mode, dispatch buffers, warnings: accepted and
//   reported back by the getters, but they change nothing: how long an
//   idle member spins before blocking is wait_policy.cpp's spin window
//   (OMP_WAIT_POLICY / PARLIB_SPIN_US), harts go back to lithe's
//   scheduler tree rather than sleeping threads, and loop slots are a
//   fixed ring (kLoopSlots).
// * num_known_threads: the OpenMP threads the runtime has made: the
//   initial thread plus every team member context created so far.
// Values are atomics: any thread may set or read them at any time.
#include <algorithm>
#include <cstdlib>

#include "internal.hpp"

namespace lomp {
namespace {

std::atomic<size_t> g_stacksize{0};  // 0: globals().stack_size
std::atomic<int> g_blocktime{-1};    // -1: KMP_BLOCKTIME or 200 ms
std::atomic<int> g_library{3};       // libomp's library_throughput

int initial_blocktime() {
    const char *v = getenv("KMP_BLOCKTIME");
    if (v && *v) {
        if (v[0] == 'i' || v[0] == 'I') return 2147483647;  // "infinite"
        return std::max(0, atoi(v));
    }
    return 200;  // libomp's default, milliseconds
}

}  // namespace

size_t member_stack_size() {
    size_t s = g_stacksize.load(std::memory_order_relaxed);
    return s ? s : globals().stack_size;
}

}  // namespace lomp

using namespace lomp;

OMP_API void kmp_set_stacksize(int size) {
    if (size > 0) g_stacksize.store(static_cast<size_t>(size));
}
OMP_API void kmp_set_stacksize_s(size_t size) {
    if (size > 0) g_stacksize.store(size);
}
OMP_API int kmp_get_stacksize(void) {
    return static_cast<int>(member_stack_size());
}
OMP_API size_t kmp_get_stacksize_s(void) { return member_stack_size(); }

OMP_API void kmp_set_blocktime(int ms) { g_blocktime.store(std::max(0, ms)); }
OMP_API int kmp_get_blocktime(void) {
    int b = g_blocktime.load();
    return b >= 0 ? b : initial_blocktime();
}

// libomp's kmp_library_t: 1 serial, 2 turnaround, 3 throughput.
OMP_API void kmp_set_library(int mode) {
    if (mode < 1 || mode > 3)
        fatal("kmp_set_library: unknown library mode %d", mode);
    g_library.store(mode);
}
OMP_API void kmp_set_library_serial(void) { kmp_set_library(1); }
OMP_API void kmp_set_library_turnaround(void) { kmp_set_library(2); }
OMP_API void kmp_set_library_throughput(void) { kmp_set_library(3); }
OMP_API int kmp_get_library(void) { return g_library.load(); }

OMP_API void kmp_set_disp_num_buffers(int) {}
OMP_API void kmp_set_warnings_on(void) {}
OMP_API void kmp_set_warnings_off(void) {}

OMP_API int kmp_get_num_known_threads(void) { return 1 + members_created(); }

// The kmpc_ spellings libomp also exports (what kmp_* call there).
OMP_API void kmpc_set_stacksize(int size) { kmp_set_stacksize(size); }
OMP_API void kmpc_set_stacksize_s(size_t size) { kmp_set_stacksize_s(size); }
OMP_API void kmpc_set_blocktime(int ms) { kmp_set_blocktime(ms); }
OMP_API void kmpc_set_library(int mode) { kmp_set_library(mode); }
OMP_API void kmpc_set_disp_num_buffers(int n) { kmp_set_disp_num_buffers(n); }
