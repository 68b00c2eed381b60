// The TLS pool's locks (parlib/src/tls_pool.cpp, top): a uthread holds
// them only with its notifications disabled, so that it cannot be paused
// (time-sliced) while other uthreads wait for the lock. This binary
// interposes pthread_mutex_lock, which libparlib's std::mutex calls
// through its PLT (as liblithe_pthread's interposer is reached in
// benchmarks/bench_server.c, where a paused holder livelocked the process),
// and records every lock that parlib's code takes in a uthread whose
// notifications are enabled.
#include <catch2/catch.hpp>

#include <dlfcn.h>
#include <pthread.h>

#include <atomic>
#include <vector>

#include "support/fifo_sched.hpp"

namespace {

std::atomic<long> g_parlib_locks{0}, g_unprotected{0};

const void *parlib_base() {
    static const void *base = [] {
        Dl_info info{};
        dladdr(reinterpret_cast<void *>(&uthread_init), &info);
        return info.dli_fbase;
    }();
    return base;
}

}  // namespace

// Every pthread_mutex_lock of the process, libparlib's included.
extern "C" int pthread_mutex_lock(pthread_mutex_t *m) {
    using Fn = int (*)(pthread_mutex_t *);
    static Fn next = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "pthread_mutex_lock"));
    const struct uthread *u = uthread_self();
    if (u && !in_vcore_context()) {
        Dl_info info{};
        if (dladdr(__builtin_return_address(0), &info) &&
            info.dli_fbase == parlib_base()) {
            g_parlib_locks.fetch_add(1);
            if (u->notif_disabled == 0) g_unprotected.fetch_add(1);
        }
    }
    return next(m);
}

TEST_CASE("TLS pool: uthreads take its locks with notifications disabled") {
    fifo::init();
    // Creations take a slot (the first fills the pool), exits release
    // them, and the keeper refills: the pool's locks from uthreads on
    // every vcore, a few hundred times.
    for (int round = 0; round < 8; ++round) {
        std::vector<fifo::Thread *> ts;
        for (int i = 0; i < 32; ++i)
            ts.push_back(fifo::spawn([] {
                std::vector<fifo::Thread *> inner;
                for (int k = 0; k < 2; ++k) inner.push_back(fifo::spawn([] {}));
                for (auto *t : inner) fifo::join(t);
            }));
        for (auto *t : ts) fifo::join(t);
    }
    INFO("pool locks taken by uthreads: " << g_parlib_locks.load());
    REQUIRE(g_parlib_locks.load() > 100);  // the interposer sees them
    REQUIRE(g_unprotected.load() == 0);
}
