// tbb_concurrency.cpp: TBB sizes itself by the harts, not by the CPUs.
//
// oneTBB 2021.8 computes its "hardware concurrency" once, from
// sched_getaffinity(getpid()) capped by sysconf(_SC_NPROCESSORS_ONLN)
// (src/tbb/misc_ex.cpp, initialize_hardware_concurrency_info), and derives
// from it everything a program sees: tbb::info::default_concurrency(), a
// task_arena's default concurrency, global_control's default
// max_allowed_parallelism and the market's worker soft limit (= that - 1).
// The RML server's default_concurrency() is read only for a warning. On
// lithe the parallelism is the harts (PARLIB_VCORES may be larger or
// smaller than the CPUs), so these two calls, when made by libtbb itself,
// report the harts: the process mask gets exactly lithe_num_harts() CPUs
// (CPUs of the real mask first, then ids that are not in it: TBB only counts
// them, and uses the mask as a thread mask only in its private pool, which
// then is not in use), and the online count is at least the harts (TBB caps
// the mask's count by it).
//
// Only when the adapter will serve TBB: TBB's interface version is accepted
// and the caller is a lithe context (TBB computes this at its first use,
// on the thread that then asks for our server, which is refused on a
// foreign thread). Every other caller, and thread masks (pid 0), get the
// real answer. sysconf is defined here, ahead of libc's in symbol lookup
// for the same reason as sched_yield_guard.cpp (the real one is the next
// definition, RTLD_NEXT). sched_getaffinity is every adapter's forward to
// libparlib's guard (common/libc_guard_forwards.cpp), which calls
// lithe_tbb_adjust_process_mask below by name, so TBB gets the harts
// whichever adapter the call bound to. Runs in whatever context calls it;
// no locks, no allocation beyond dladdr/dlsym's.
#include "../../common/next_symbol.hpp"
#include "tbb_version.hpp"

#include <lithe/lithe.h>

#include <dlfcn.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>

namespace lithe_tbb {
namespace {

// The load address of libtbb (NULL while TBB is not loaded; looked up
// again then, since a program may dlopen it later).
const void *libtbb_object() {
    static std::atomic<const void *> base{nullptr};
    const void *b = base.load(std::memory_order_acquire);
    if (!b) {
        Dl_info i{};
        void *f = dlsym(RTLD_DEFAULT, "TBB_runtime_interface_version");
        if (f && dladdr(f, &i)) base.store(b = i.dli_fbase, std::memory_order_release);
    }
    return b;
}

// The harts if a call from `caller` is TBB asking on lithe's behalf, else 0.
int harts_for(const void *caller) {
    if (!lithe_context_self()) return 0;
    Dl_info i{};
    if (!dladdr(caller, &i) || !i.dli_fbase || i.dli_fbase != libtbb_object())
        return 0;
    return tbb_compatible() ? lithe_num_harts() : 0;
}

using lithe_adapters::next_symbol;

std::atomic<void *> g_next_sysconf{nullptr};

// Makes `set` (size bytes, a valid mask) hold exactly n CPUs: keeps the
// lowest n of its own, then adds ids it does not contain, lowest first.
void resize_mask(size_t size, cpu_set_t *set, int n) {
    const int bits = static_cast<int>(size * 8);
    int kept = 0;
    for (int c = 0; c < bits; ++c)
        if (CPU_ISSET_S(c, size, set)) {
            if (kept < n) ++kept;
            else CPU_CLR_S(c, size, set);
        }
    for (int c = 0; c < bits && kept < n; ++c)
        if (!CPU_ISSET_S(c, size, set)) {
            CPU_SET_S(c, size, set);
            ++kept;
        }
}

}  // namespace
}  // namespace lithe_tbb

using namespace lithe_tbb;

extern "C" {

// `set` (size bytes) holds the process's mask that `caller` asked for:
// the harts instead if the caller is libtbb sizing itself for lithe.
__attribute__((visibility("default"))) void
lithe_tbb_adjust_process_mask(const void *caller, size_t size, cpu_set_t *set) {
    if (int n = harts_for(caller); n > 0 && n <= int(size * 8))
        resize_mask(size, set, n);
}

__attribute__((visibility("default"))) long sysconf(int name) noexcept {
    long v = next_symbol<long (*)(int)>(g_next_sysconf, "sysconf")(name);
    if (name != _SC_NPROCESSORS_ONLN) return v;
    int n = harts_for(__builtin_return_address(0));
    return n > v ? n : v;
}

}  // extern "C"
