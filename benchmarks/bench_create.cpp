// bench_create: create + run + join of a thread whose body does nothing, on
// one vcore (PARLIB_VCORES=1, forced), from the main uthread:
//  - full-TLS uthread from the warm TLS pool: each round is a batch of
//    PARLIB_TLS_POOL/2 creations (default pool 16 -> 8), i.e. fewer than
//    the pool holds and too few to wake the keeper, and before each round
//    (untimed) the released TLS are flushed and the keeper is given time to
//    refill the pool. This is the number the warm pool is designed for.
//  - full-TLS uthread, sustained: 400 in a row with no pause, so the pool
//    drains, later creations make their backing thread synchronously, and
//    the keeper's batch releases and refills run meanwhile. This is what a
//    program creating threads continuously gets.
//  - uthread_recycle of an exited full-TLS uthread (stack and TLS kept);
//  - lightweight uthread (no TLS of its own; pooled mmap'd stack);
//  - reference: pthread_create + pthread_join (default attributes; the new
//    thread inherits the vcore's CPU pinning).
// One op = init/recycle + uthread_runnable + join (+ uthread_cleanup).
#include <pthread.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "bench_sched.hpp"
#include "harness.hpp"

namespace {

void nothing(void *) {}

void create_run_join(bsched::Thread *t, bool own_tls) {
    bsched::arm(t, nothing, nullptr, own_tls);
    uthread_runnable(&t->u);
    bsched::join(t);
    bsched::cleanup(t);
}

void recycle_run_join(bsched::Thread *t) {
    bsched::arm(t, nothing, nullptr, true);  // armed after the first round
    uthread_runnable(&t->u);
    bsched::join(t);
}

void *pthread_nothing(void *) { return nullptr; }

// Untimed, before every round of every variant: the TLS released so far are
// released now (their backing threads exit and are joined), then the keeper
// (which wakes every 10 ms) gets time to refill the pool. Without this, the
// keeper's backlog from the sustained variant (it is pinned to this vcore's
// CPU, like every thread created from a vcore) lands on whichever variant
// runs next.
void settle() {
    uthread_tls_flush();
    usleep(30000);
}

int env_int(const char *name, int dflt) {
    const char *s = getenv(name);
    return s && *s ? atoi(s) : dflt;
}

}  // namespace

int main() {
    setenv("PARLIB_VCORES", "1", 1);  // the benchmark is defined on one vcore
    setenv("PARLIB_TLS_POOL", "16", 0);
    const int pool = env_int("PARLIB_TLS_POOL", 16);
    const int batch = pool / 2 > 0 ? pool / 2 : 1;
    bsched::init();

    static bsched::Thread th, recycled;
    const char *kWarm = "full-TLS uthread, warm pool";
    const char *kSustained = "full-TLS uthread, sustained (pool drained)";
    const char *kRecycle = "full-TLS uthread_recycle (TLS kept)";
    const char *kLight = "lightweight uthread";
    const char *kPthread = "pthread_create + pthread_join";

    bench::Suite s("create+run+join");
    s.add_timed(
        kWarm, batch,
        [](int64_t n) {
            for (int64_t i = 0; i < n; ++i) create_run_join(&th, true);
        },
        settle);
    s.add_timed(
        kSustained, 400,
        [](int64_t n) {
            for (int64_t i = 0; i < n; ++i) create_run_join(&th, true);
        },
        settle);
    s.add_timed(
        kRecycle, 20000,
        [](int64_t n) {
            for (int64_t i = 0; i < n; ++i) recycle_run_join(&recycled);
        },
        settle);
    s.add_timed(
        kLight, 20000,
        [](int64_t n) {
            for (int64_t i = 0; i < n; ++i) create_run_join(&th, false);
        },
        settle);
    s.add_timed(
        kPthread, 400,
        [](int64_t n) {
            for (int64_t i = 0; i < n; ++i) {
                pthread_t t;
                if (int rc =
                        pthread_create(&t, nullptr, pthread_nothing, nullptr))
                    bsched::die("pthread_create", rc);
                pthread_join(t, nullptr);
            }
        },
        settle);
    s.target_speedup(kWarm, kPthread, 5, "≥ 5x faster than pthread");
    s.target_speedup(kSustained, kPthread, 5,
                     "≥ 5x faster than pthread (the warm-pool target, "
                     "applied to the sustained rate)");
    s.compare(kRecycle, kPthread);
    s.target_at_most(kLight, 300, "≤ 300 ns");
    s.compare(kLight, kPthread);
    s.run();

    char desc[1024];
    snprintf(desc, sizeof desc,
             "One op = create (uthread_init from the warm pool / "
             "uthread_recycle / pthread_create) + run a function that "
             "returns at once + join (+ uthread_cleanup), from the main "
             "uthread on one vcore (PARLIB_VCORES=1). Warm pool: rounds of "
             "%d creations (PARLIB_TLS_POOL=%d), with the pool refilled, "
             "untimed, before each round. Sustained: 400 in a row, no pause, "
             "so the pool runs dry and the keeper works concurrently.",
             batch, pool);
    s.print("Create + run + join", desc);
    return 0;
}
