// sched_yield_guard.cpp: sched_yield() and pthread_yield() called from a
// lithe context yield the context to its scheduler instead of the kernel
// thread to the kernel.
//
// Why: TBB waits by spinning with sched_yield (a master waiting for workers
// to drain an arena in tbb::finalize, for an enqueued task, for a stolen
// task; a worker inside process() before it gives up). A lithe context is
// cooperative: a kernel-level yield keeps the hart, so with one hart the
// worker context the master waits for would never run (docs/tbb.md,
// "Liveness"). Yielding the context lets its scheduler run something else
// on the hart, and the base scheduler serves children's requests (the TBB
// scheduler's workers) before it re-runs a context that has just yielded.
//
// Why here and not in parlib: the guard must precede libc in symbol lookup
// for libtbb's calls. liblithe_tbb is either linked into the program (before
// libc in its DT_NEEDED list) or LD_PRELOADed; a definition in libparlib
// would lose to libc's when libparlib is only a dependency of a preloaded
// library. Being first, it also catches every other caller's sched_yield
// (parlib's spin backoff, libstdc++'s this_thread::yield), hence the
// conditions below.
//
// Only a context that may safely switch yields: a lithe context (not a
// foreign pthread), not in hart/vcore context, with notifications enabled
// (a context holding a lithe::SpinLock or a parlib pdr lock has them
// disabled and must not switch). Everything else makes the plain system
// call. pthread_yield is glibc's deprecated alias; it calls the internal
// sched_yield, which this definition cannot reach, so it is defined too.
// thrd_yield is left alone (nothing in TBB or libstdc++ calls it).
#include <lithe/lithe.h>
#include <parlib/uthread.h>
#include <parlib/vcore.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace {

bool may_yield_context() {
    if (in_vcore_context() || !lithe_context_self()) return false;
    const struct uthread *u = uthread_self();
    return u && u->notif_disabled == 0;
}

int yield_now() {
    if (may_yield_context()) return lithe_context_yield() == LITHE_OK ? 0 : -1;
    return static_cast<int>(syscall(SYS_sched_yield));
}

}  // namespace

extern "C" {

int sched_yield(void) noexcept { return yield_now(); }

int pthread_yield(void) noexcept { return yield_now(); }

}  // extern "C"
