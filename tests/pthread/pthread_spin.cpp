// pthread_spin.cpp: an unmodified pthreads program whose threads busy-wait
// (no blocking call, no sched_yield) for each other, with more busy-waiters
// than harts. Kernel threads finish because the kernel time-slices them;
// on the adapter they finish only through its slicer (slicer.cpp,
// docs/pthread.md "Time slicing"): without it each check hangs (the
// negative control pthread.preload.spin_ring_unsliced runs spin_ring with
// LITHE_PTHREAD_SLICE_US=0 and expects the watchdog).
//
//   spin_main_flag       main busy-waits for a flag a new thread sets
//   spin_ring            2 x harts + 1 threads pass a token around a ring,
//                        each busy-waiting for its turn, 10 rounds
//   spin_wait_for_main   2 x harts threads busy-wait for main's go, main
//                        then busy-waits for all of them to check in
//   spin_wait_for_main_few  the same with as many threads as harts: once
//                        main is paused the threads hold every hart and
//                        none of them waits for another
//
// SPIN_WATCHDOG_S (default 60) bounds each check.
#include <pthread.h>

#include <atomic>
#include <cstdlib>
#include <vector>

#include "named_checks.hpp"
#include "pthread_test_support.hpp"

namespace {

int watchdog_s() {
    const char *e = std::getenv("SPIN_WATCHDOG_S");
    return e ? std::atoi(e) : 60;
}

// Busy-waiters needed to fill every hart and more (2 CPUs without lithe).
int crowd() { return 2 * (lithe_num_harts ? lithe_num_harts() : 2); }

void busy_until(const std::atomic<int> &v, int want) {
    while (v.load(std::memory_order_acquire) != want) {
    }
}

// --- spin_main_flag ---
std::atomic<int> g_flag{0};

bool spin_main_flag() {
    pthread_test::Watchdog wd(watchdog_s(), "spin_main_flag");
    pthread_t t;
    CHECK(pthread_create(&t, nullptr, [](void *) -> void * {
        g_flag.store(1, std::memory_order_release);
        return nullptr;
    }, nullptr) == 0);
    busy_until(g_flag, 1);
    CHECK(pthread_join(t, nullptr) == 0);
    return true;
}

// --- spin_ring ---
constexpr int kRounds = 10;
std::atomic<int> g_token{0};
int g_ring = 0;

void *ring_member(void *arg) {
    int me = static_cast<int>(reinterpret_cast<intptr_t>(arg));
    for (int r = 0; r < kRounds; ++r) {
        busy_until(g_token, r * g_ring + me);
        g_token.store(r * g_ring + me + 1, std::memory_order_release);
    }
    return nullptr;
}

bool spin_ring() {
    pthread_test::Watchdog wd(watchdog_s(), "spin_ring");
    g_ring = crowd() + 1;
    std::vector<pthread_t> ts(g_ring);
    for (int i = 0; i < g_ring; ++i)
        CHECK(pthread_create(&ts[i], nullptr, ring_member,
                             reinterpret_cast<void *>(intptr_t{i})) == 0);
    for (pthread_t t : ts) CHECK(pthread_join(t, nullptr) == 0);
    CHECK(g_token.load() == kRounds * g_ring);
    return true;
}

// --- spin_wait_for_main ---
std::atomic<int> g_go{0}, g_in{0};

bool wait_for_main(int n) {
    g_go.store(0);
    g_in.store(0);
    std::vector<pthread_t> ts(n);
    for (pthread_t &t : ts)
        CHECK(pthread_create(&t, nullptr, [](void *) -> void * {
            busy_until(g_go, 1);
            g_in.fetch_add(1, std::memory_order_acq_rel);
            return nullptr;
        }, nullptr) == 0);
    // Main keeps its hart for 20 slices: the slicer pauses it meanwhile
    // (the waiters have too few harts), and the waiters spin by then.
    long long until = pthread_test::monotonic_ms() + 100;
    while (pthread_test::monotonic_ms() < until) {
    }
    g_go.store(1, std::memory_order_release);
    busy_until(g_in, n);
    for (pthread_t t : ts) CHECK(pthread_join(t, nullptr) == 0);
    return true;
}

bool spin_wait_for_main() {
    pthread_test::Watchdog wd(watchdog_s(), "spin_wait_for_main");
    return wait_for_main(crowd());
}

bool spin_wait_for_main_few() {
    pthread_test::Watchdog wd(watchdog_s(), "spin_wait_for_main_few");
    return wait_for_main(crowd() / 2);
}

const named_checks::Check kChecks[] = {
    {"spin_main_flag", spin_main_flag},
    {"spin_ring", spin_ring},
    {"spin_wait_for_main", spin_wait_for_main},
    {"spin_wait_for_main_few", spin_wait_for_main_few},
};

}  // namespace

int main(int argc, char **argv) {
    return pthread_test::checks_main(kChecks, argc, argv);
}
