// pthread_mutex.cpp: contended pthread mutexes, an unmodified pthreads
// program (run ref, linked and preloaded as pthread_checks.cpp). On the
// adapter a locker that finds the mutex held spins while the holder runs
// on another hart, then sleeps (adapters/pthread/src/mutex.cpp); these are
// the checks of that path.
//
//   mutex_stress         2 x harts + 1 threads, many short rounds, mix
//                        lock, trylock, timedlock, recursive and errorcheck
//                        mutexes and a mutex + condition variable barrier
//                        between phases; every count must be exact and no
//                        thread may be left asleep (a lost wake-up hangs a
//                        join: the watchdog names the check). Run also with
//                        spinning forced on at every hart count
//                        (PARLIB_SPIN_US, tests/pthread/CMakeLists.txt).
//   mutex_holder_sleeps  main holds a mutex and sleeps while one locker per
//                        hart waits for it, with slicing off and a 10 s spin
//                        window: lockers that spun on a holder without a
//                        hart would keep every hart for the window and main
//                        could not run to unlock (the livelock of
//                        docs/pthread.md "Limits", made unbounded at one
//                        hart). They must sleep instead: main's unlock comes
//                        soon after its sleep.
//   mutex_timed_spin     a thread holds a mutex and keeps running (on
//                        another hart) for up to 6 s; main's timed lock with
//                        100 ms to go must answer ETIMEDOUT within 3 s. Run
//                        with a 10 s spin window and slicing off: a spin
//                        that ignored the time took the lock at 6 s. (At
//                        one hart the holder yields instead, so that main
//                        gets the hart; nobody spins there.)
//
// MUTEX_WATCHDOG_S (default 60) bounds each check.
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "named_checks.hpp"
#include "pthread_test_support.hpp"

namespace {

using pthread_test::monotonic_ms;
using pthread_test::realtime_in;

int watchdog_s() {
    const char *e = std::getenv("MUTEX_WATCHDOG_S");
    return e ? std::atoi(e) : 60;
}

int harts() { return lithe_num_harts ? lithe_num_harts() : 2; }

// --- mutex_stress ---
constexpr int kRounds = 60, kPhases = 4, kIters = 400;

struct Stress {
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_t rec = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
    pthread_mutex_t chk = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
    pthread_cond_t phase_cv = PTHREAD_COND_INITIALIZER;
    long count = 0;      // under mu
    long rec_count = 0;  // under rec
    long chk_count = 0;  // under chk
    int arrived = 0;     // under mu: the phase barrier
    int phase = 0;
    int threads = 0;
    std::atomic<int> errors{0};
};

void fail(Stress &s) { s.errors.fetch_add(1); }

// One increment of s.count under mu, taken by lock, trylock or timedlock.
void add_one(Stress &s, uint32_t r) {
    switch (r % 4) {
    case 0:
        while (int rc = pthread_mutex_trylock(&s.mu)) {
            if (rc != EBUSY) return fail(s);
            sched_yield();
        }
        break;
    case 1: {
        struct timespec t = realtime_in(50'000);
        int rc = pthread_mutex_timedlock(&s.mu, &t);
        if (rc == ETIMEDOUT) rc = pthread_mutex_lock(&s.mu);
        if (rc != 0) return fail(s);
        break;
    }
    default:
        if (pthread_mutex_lock(&s.mu) != 0) return fail(s);
    }
    long c = s.count;
    if (r % 16 == 5) sched_yield();  // the holder gives its hart away
    s.count = c + 1;
    if (pthread_mutex_unlock(&s.mu) != 0) fail(s);
}

void *stress_worker(void *p) {
    auto &s = *static_cast<Stress *>(p);
    uint32_t r = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(&r));
    for (int ph = 0; ph < kPhases; ++ph) {
        for (int i = 0; i < kIters; ++i) {
            r = r * 1664525u + 1013904223u;
            uint32_t x = r >> 8;
            if (x % 8 == 6) {
                if (pthread_mutex_lock(&s.rec) || pthread_mutex_lock(&s.rec))
                    fail(s);
                ++s.rec_count;
                if (pthread_mutex_unlock(&s.rec) || pthread_mutex_unlock(&s.rec))
                    fail(s);
            } else if (x % 8 == 7) {
                if (pthread_mutex_lock(&s.chk)) fail(s);
                if (pthread_mutex_lock(&s.chk) != EDEADLK) fail(s);
                ++s.chk_count;
                if (pthread_mutex_unlock(&s.chk)) fail(s);
            } else {
                add_one(s, x >> 3);
            }
        }
        // The phase barrier: the last to arrive broadcasts; every waiter
        // retakes mu as it returns, all at once.
        if (pthread_mutex_lock(&s.mu)) fail(s);
        int my_phase = s.phase;
        if (++s.arrived == s.threads) {
            s.arrived = 0;
            ++s.phase;
            pthread_cond_broadcast(&s.phase_cv);
        } else {
            while (s.phase == my_phase)
                if (pthread_cond_wait(&s.phase_cv, &s.mu)) fail(s);
        }
        ++s.count;  // mu must be held again here
        if (pthread_mutex_unlock(&s.mu)) fail(s);
    }
    return nullptr;
}

bool mutex_stress() {
    pthread_test::Watchdog wd(watchdog_s(), "mutex_stress");
    int n = 2 * harts() + 1;
    for (int round = 0; round < kRounds; ++round) {
        Stress s;
        s.threads = n;
        std::vector<pthread_t> t(n);
        for (auto &th : t) CHECK(pthread_create(&th, nullptr, stress_worker, &s) == 0);
        for (auto &th : t) CHECK(pthread_join(th, nullptr) == 0);
        CHECK(s.errors.load() == 0);
        CHECK(s.count + s.rec_count + s.chk_count == long{n} * kPhases * (kIters + 1));
        CHECK(pthread_mutex_destroy(&s.mu) == 0);
        CHECK(pthread_mutex_destroy(&s.rec) == 0);
        CHECK(pthread_mutex_destroy(&s.chk) == 0);
    }
    return true;
}

// --- mutex_holder_sleeps ---
pthread_mutex_t g_slept_on = PTHREAD_MUTEX_INITIALIZER;
std::atomic<int> g_started{0};

void *lock_once(void *) {
    g_started.fetch_add(1);
    if (pthread_mutex_lock(&g_slept_on) != 0) return reinterpret_cast<void *>(1);
    pthread_mutex_unlock(&g_slept_on);
    return nullptr;
}

bool mutex_holder_sleeps() {
    pthread_test::Watchdog wd(watchdog_s(), "mutex_holder_sleeps");
    int n = harts();
    std::vector<pthread_t> t(n);
    CHECK(pthread_mutex_lock(&g_slept_on) == 0);
    long long t0 = monotonic_ms();
    for (auto &th : t) CHECK(pthread_create(&th, nullptr, lock_once, nullptr) == 0);
    // Sleeping blocks main's context on the adapter: the lockers get the
    // harts and find the holder without one.
    while (g_started.load() < n) usleep(1000);
    usleep(20'000);
    // Half the spin window: these few milliseconds of sleeps took seconds
    // only if lockers kept the harts from main (not a speed check).
    CHECK(monotonic_ms() - t0 < 5000);
    CHECK(pthread_mutex_unlock(&g_slept_on) == 0);
    for (auto &th : t) {
        void *r;
        CHECK(pthread_join(th, &r) == 0);
        CHECK(r == nullptr);
    }
    return true;
}

// --- mutex_timed_spin ---
pthread_mutex_t g_timed = PTHREAD_MUTEX_INITIALIZER;
std::atomic<bool> g_timed_held{false}, g_timed_stop{false};

void *hold_running(void *) {
    if (pthread_mutex_lock(&g_timed) != 0) return reinterpret_cast<void *>(1);
    g_timed_held.store(true);
    long long t0 = monotonic_ms();
    while (!g_timed_stop.load() && monotonic_ms() - t0 < 6000)
        if (harts() < 2) sched_yield();
    pthread_mutex_unlock(&g_timed);
    return nullptr;
}

bool mutex_timed_spin() {
    pthread_test::Watchdog wd(watchdog_s(), "mutex_timed_spin");
    pthread_t t;
    CHECK(pthread_create(&t, nullptr, hold_running, nullptr) == 0);
    while (!g_timed_held.load()) usleep(1000);
    long long t0 = monotonic_ms();
    struct timespec until = realtime_in(100'000'000);
    int rc = pthread_mutex_timedlock(&g_timed, &until);
    long long took = monotonic_ms() - t0;
    g_timed_stop.store(true);
    if (rc == 0) pthread_mutex_unlock(&g_timed);
    void *r;
    CHECK(pthread_join(t, &r) == 0);
    CHECK(r == nullptr);
    CHECK(rc == ETIMEDOUT);
    CHECK(took < 3000);
    return true;
}

const named_checks::Check kChecks[] = {
    {"mutex_stress", mutex_stress},
    {"mutex_holder_sleeps", mutex_holder_sleeps},
    {"mutex_timed_spin", mutex_timed_spin},
};

}  // namespace

int main(int argc, char **argv) {
    return pthread_test::checks_main(kChecks, argc, argv);
}
