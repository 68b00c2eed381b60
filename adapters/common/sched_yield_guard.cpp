// sched_yield_guard.cpp: sched_yield() and pthread_yield() called from a
// lithe context yield the context to its scheduler instead of the kernel
// thread to the kernel. Compiled into every adapter library (liblithe_omp,
// liblithe_tbb); whichever the dynamic linker finds first serves them all.
//
// Why: runtimes wait by spinning with sched_yield. TBB: a master waiting for
// workers to drain an arena in tbb::finalize, for an enqueued task, for a
// stolen task; a worker inside process() before it gives up. OpenMP
// libraries: OpenBLAS's YIELDING loops between level-3 phases. A lithe
// context is cooperative: a kernel-level yield keeps the hart, so with
// fewer harts than spinners the context being waited for never runs
// (docs/tbb.md "Liveness", docs/omp.md "Busy-waiting teams"). Yielding the
// context lets its scheduler run something else on the hart (a teammate,
// or, through the base scheduler, which serves children's requests before
// it re-runs a context that has just yielded, another runtime's worker).
//
// Why in the adapters and not in parlib: the guard must precede libc in
// symbol lookup. An adapter is either linked into the program (before libc
// in its DT_NEEDED list) or LD_PRELOADed; a definition in libparlib would
// lose to libc's when libparlib is only a dependency of a preloaded
// library. (liblithe_omp's drop-in copies sit behind libc: there the guard
// is not reached, and time slicing takes over: parlib interrupts a uthread
// inside libc's sched_yield.) Being first, it also catches every other caller's
// sched_yield (parlib's spin backoff, libstdc++'s this_thread::yield),
// hence the conditions below.
//
// Only a context that may safely switch yields (may_switch.hpp), and not
// when called by the library that provides malloc (libasan's allocator
// spins with sched_yield while holding its locks: switching there
// deadlocks the next allocation). Everything else makes the plain system
// call. pthread_yield is
// glibc's deprecated alias; it calls the internal sched_yield, which this
// definition cannot reach, so it is defined too. thrd_yield is left alone
// (nothing in TBB, OpenBLAS or libstdc++ calls it). Default visibility:
// liblithe_omp compiles with -fvisibility=hidden, and exports sched_yield
// under libc's version node (adapters/omp/abi/interpose.syms) so that
// versioned references bind to it.
#include <dlfcn.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "may_switch.hpp"

namespace {

// The load address of the object that provides the malloc in use.
const void *malloc_object() {
    static const void *base = [] {
        Dl_info i{};
        void *m = dlsym(RTLD_DEFAULT, "malloc");
        return m && dladdr(m, &i) ? i.dli_fbase : nullptr;
    }();
    return base;
}

// dladdr scans the caller object's symbol table, and a TBB worker's backoff
// yields ~100 times per idle spell (it was 10% of the process's CPU in
// benchmarks/bench_compose (c) at 4 harts), so callers found not to be the
// allocator are remembered: there are few call sites. Races only cost a
// repeated lookup.
bool called_by_allocator(const void *caller) {
    constexpr unsigned kSites = 8;
    static const void *plain[kSites];  // __atomic: <atomic> declares
    static unsigned next;              // sched_yield, defined here
    for (const void *&p : plain)
        if (__atomic_load_n(&p, __ATOMIC_RELAXED) == caller) return false;
    Dl_info i{};
    if (dladdr(caller, &i) && i.dli_fbase == malloc_object()) return true;
    __atomic_store_n(&plain[__atomic_fetch_add(&next, 1, __ATOMIC_RELAXED) % kSites],
                     caller, __ATOMIC_RELAXED);
    return false;
}

bool may_yield_context(const void *caller) {
    return lithe_adapters::may_switch_context() && !called_by_allocator(caller);
}

int yield_now(const void *caller) {
    if (may_yield_context(caller)) return lithe_context_yield() == LITHE_OK ? 0 : -1;
    return static_cast<int>(syscall(SYS_sched_yield));
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int sched_yield(void) noexcept {
    return yield_now(__builtin_return_address(0));
}

__attribute__((visibility("default"))) int pthread_yield(void) noexcept {
    return yield_now(__builtin_return_address(0));
}

}  // extern "C"
