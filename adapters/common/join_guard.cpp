// join_guard.cpp: pthread_join() called from a lithe context waits without
// holding its hart.
//
// Why: glibc's pthread_join sleeps in the kernel on the target's thread-id
// futex. In a lithe context that sleep blocks the vcore's kernel thread,
// so the hart it holds is lost to every runtime until the target exits.
// The typical TBB program that hangs on it (oneTBB's conformance test
// global_control, "cross thread 1"; tests/tbb `finalize_on_std_thread`):
// main joins a std::thread that runs TBB work and then tbb::finalize. With
// one hart, TBB's worker contexts, made for the thread's arena and still
// inside process(), need that hart to leave the arena; finalize spins until
// every arena is gone, so the thread never ends and main never returns from
// the join. With more harts the same happens once every hart is joining.
//
// So in a lithe context that may switch (may_switch.hpp),
// pthread_join polls pthread_tryjoin_np and sleeps between polls with
// uth_sleep_us, which blocks only the context (its hart runs others
// meanwhile); the sleep grows from 20 us to 1 ms, so a join returns at
// most about 1 ms after the target ended. Everything else (foreign
// threads, vcore context, a context that must not switch) makes the real,
// kernel-blocking call. Results are pthread_join's: the target's value, or
// tryjoin's error (ESRCH, EINVAL, EDEADLK) at once; EINVAL at once for a
// detached thread (pthread_getattr_np), which tryjoin would call busy.
//
// Compiled into every adapter library, not libparlib, for the reason
// sched_yield_guard.cpp gives: the definition must precede libc's in
// symbol lookup, which an adapter does (linked before libc, or preloaded)
// and libparlib under LD_PRELOAD of an adapter does not. liblithe_omp
// exports it under glibc's default node GLIBC_2.34 (abi/interpose.syms):
// binaries linked against an older glibc reference pthread_join@GLIBC_2.2.5
// and keep libc's. Runs in the caller's context; no state.
//
// A thread made by liblithe_pthread is a lithe context whose pthread_t
// names a parked backing thread that only that adapter can join: whichever
// adapter's pthread_join the program binds to first asks it
// (lithe_pthread_join_np, a weak reference: absent without that adapter).
#include <parlib/alarm.h>

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

#include "may_switch.hpp"
#include "next_symbol.hpp"

extern "C" int lithe_pthread_join_np(pthread_t th, void **ret, int *rc)
    __attribute__((weak, visibility("default")));

namespace {

std::atomic<void *> g_next_join{nullptr};

int real_join(pthread_t th, void **ret) {
    return lithe_adapters::next_symbol<int (*)(pthread_t, void **)>(
        g_next_join, "pthread_join")(th, ret);
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int
pthread_join(pthread_t th, void **ret) {
    int rc;
    if (lithe_pthread_join_np && lithe_pthread_join_np(th, ret, &rc)) return rc;
    if (!lithe_adapters::may_switch_context()) return real_join(th, ret);
    // glibc's tryjoin answers EBUSY for a running detached thread (its
    // join answers EINVAL at once): ask first, or the poll would wait for
    // the thread to end.
    pthread_attr_t a;
    if (pthread_getattr_np(th, &a) == 0) {
        int detach = PTHREAD_CREATE_JOINABLE;
        pthread_attr_getdetachstate(&a, &detach);
        pthread_attr_destroy(&a);
        if (detach == PTHREAD_CREATE_DETACHED) return EINVAL;
    }
    uint64_t sleep_us = 20;
    for (;;) {
        rc = pthread_tryjoin_np(th, ret);
        if (rc != EBUSY) return rc;
        uth_sleep_us(sleep_us);
        sleep_us = std::min<uint64_t>(sleep_us * 2, 1000);
    }
}
