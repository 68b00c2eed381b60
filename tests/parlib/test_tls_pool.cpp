// The TLS pool (parlib/src/tls_pool.hpp): the first full-TLS uthread
// fills the warm pool itself, its backing threads end up with the
// process's affinity, the keeper thread exists only once a refill or a
// release needs it, and creation, exit and release stay correct when many
// uthreads on several vcores make their first full-TLS uthreads at once.
// Each test case runs in its own process (catch_discover_tests), so each
// starts with an untouched pool. Backing threads are counted as the
// process's threads not named "parlib-*" (parlib's helper threads, the
// keeper among them, name themselves); vcores are all created at init.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/fifo_sched.hpp"
#include "support/thread_stats.hpp"
#include "support/tracked_tls.hpp"

namespace {

// PARLIB_TLS_POOL as parlib reads it (default 16).
int warm_target() {
    const char *e = std::getenv("PARLIB_TLS_POOL");
    return e ? std::atoi(e) : 16;
}

// The process's threads not named "parlib-*".
int plain_threads() {
    int n = 0;
    DIR *d = opendir("/proc/self/task");
    while (dirent *e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::ifstream comm(std::string("/proc/self/task/") + e->d_name + "/comm");
        std::string c;
        std::getline(comm, c);
        if (c.rfind("parlib-", 0) != 0) ++n;
    }
    closedir(d);
    return n;
}

int keepers() {
    int n = 0;
    thread_stats::for_each_named("parlib-keeper", [&](const std::string &) { ++n; });
    return n;
}

// Waits up to 10 s (yielding: other uthreads may need this vcore) for
// pred(), and returns its last value.
template <class P>
bool eventually(P pred) {
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!pred()) {
        if (std::chrono::steady_clock::now() > end) return false;
        usleep(1000);
        fifo::yield();
    }
    return true;
}

std::string status_field(const std::string &task_dir, const char *field) {
    std::ifstream f(task_dir + "/status");
    for (std::string line; std::getline(f, line);)
        if (line.rfind(field, 0) == 0) return line.substr(line.find(':') + 1);
    return "";
}

// The process's threads whose affinity differs from the main thread's
// (the process's, as the parked original main thread keeps it).
int threads_not_on_process_cpus() {
    std::string process_mask =
        status_field("/proc/self/task/" + std::to_string(getpid()), "Cpus_allowed:");
    int differ = 0;
    DIR *d = opendir("/proc/self/task");
    while (dirent *e = readdir(d))
        if (e->d_name[0] != '.' &&
            status_field(std::string("/proc/self/task/") + e->d_name, "Cpus_allowed:") !=
                process_mask)
            ++differ;
    closedir(d);
    return differ;
}

}  // namespace

TEST_CASE("TLS pool: the first full-TLS uthread fills the pool, the keeper starts when needed") {
    fifo::init();
    const int warm = warm_target();
    REQUIRE(warm >= 4);  // room for "below half" to differ from "empty"
    const int before = plain_threads();
    REQUIRE(keepers() == 0);

    std::atomic<bool> go{false};
    std::vector<fifo::Thread *> ts;
    auto spawn_waiting = [&] {
        ts.push_back(fifo::spawn([&go] {
            while (!go.load()) fifo::yield();
        }));
    };
    // The first creation made the whole warm pool (one of whose threads
    // backs it) before returning, and started no keeper.
    spawn_waiting();
    INFO("backing threads after the first full-TLS uthread");
    REQUIRE(plain_threads() - before == warm);
    REQUIRE(keepers() == 0);

    // Their affinity: the process's (the main thread's), not the CPU they
    // were created on (only vcores may be pinned, by parlib).
    INFO("threads with another affinity than the process's; vcores " << max_vcores());
    REQUIRE(threads_not_on_process_cpus() <= max_vcores());

    // Taking the pool down to half its target needs no refill yet.
    while (static_cast<int>(ts.size()) < warm / 2) spawn_waiting();
    REQUIRE(plain_threads() - before == warm);
    REQUIRE(keepers() == 0);

    // One more: below half, and the keeper appears and refills the pool.
    spawn_waiting();
    const int live = static_cast<int>(ts.size());
    REQUIRE(eventually([] { return keepers() == 1; }));
    INFO("backing threads: " << live << " live uthreads' and a full pool");
    REQUIRE(eventually([&] { return plain_threads() - before == live + warm; }));
    // The keeper pins itself while it creates them; they unpin themselves.
    REQUIRE(threads_not_on_process_cpus() <= max_vcores());

    // Exits release the live uthreads' backing threads (through the keeper,
    // or now with the flush); the pool stays full.
    go = true;
    for (auto *t : ts) fifo::join(t);
    uthread_tls_flush();
    REQUIRE(eventually([&] { return plain_threads() - before == warm; }));
    REQUIRE(keepers() == 1);
}

TEST_CASE("TLS pool: full-TLS uthreads that fit in the pool and live on start no keeper") {
    fifo::init();
    const int before = plain_threads();
    std::vector<fifo::Thread *> ts;
    std::atomic<bool> go{false};
    for (int i = 0; i < warm_target() / 2; ++i)
        ts.push_back(fifo::spawn([&go] {
            while (!go.load()) fifo::yield();
        }));
    // However long it runs (the keeper used to fill the pool concurrently
    // from the first creation on).
    usleep(50000);
    REQUIRE(keepers() == 0);
    REQUIRE(plain_threads() - before == warm_target());
    go = true;
    for (auto *t : ts) fifo::join(t);  // the releases start the keeper
    REQUIRE(eventually([] { return keepers() == 1; }));
}

// A backing thread's stack goes back to glibc when the thread exits, which
// frees (MADV_DONTNEED) all of it but the 16 KiB below its exit frame, and
// glibc gives it to the next thread it creates. The top of the uthread's
// stack lies inside those 16 KiB (the gap above it is only a signal
// frame's), so a create + join loop whose uthreads use a few KiB of stack
// reuses mapped pages instead of faulting fresh ones in (it took two page
// faults per uthread when the gap was 16 KiB). Not under AddressSanitizer,
// whose interceptors fault shadow pages in for every thread (~17 per pair).
#if defined(__SANITIZE_ADDRESS__)
#define TLS_POOL_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TLS_POOL_UNDER_ASAN 1
#endif
#endif
#ifndef TLS_POOL_UNDER_ASAN
TEST_CASE("TLS pool: a uthread's top stack pages stay mapped for the next uthread") {
    fifo::init();
    auto pairs = [](int n) {
        for (int i = 0; i < n; ++i) {
            fifo::Thread *t = fifo::spawn([] {
                volatile char frame[3000];  // most of a page below the top
                for (size_t k = 0; k < sizeof frame; k += 512) frame[k] = 1;
            });
            fifo::join(t);
            if (i % 8 == 7) uthread_tls_flush();  // stacks back to glibc
        }
    };
    pairs(4 * warm_target());  // stacks made and in glibc's cache
    rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    constexpr int kPairs = 400;
    pairs(kPairs);
    getrusage(RUSAGE_SELF, &after);
    const double per_pair = double(after.ru_minflt - before.ru_minflt) / kPairs;
    INFO("minor page faults per create + join: " << per_pair);
    REQUIRE(per_pair < 0.5);
}
#endif

namespace {

std::atomic<long> g_bad{0};
using tracked_tls::tl_tracked;
thread_local long tl_value = 0;

}  // namespace

// Lightweight uthreads on every vcore make their first full-TLS uthreads
// at the same moment (one of them fills the pool while the others take
// from it or create their own), then keep creating and joining batches of
// random size, some larger than the pool. Every full-TLS uthread must get
// a TLS no live one has (thread_local, pthread_self), keep it across
// yields, and have its thread_local destructor run once after release; in
// the end only the pool's threads remain.
TEST_CASE("TLS pool stress: concurrent first full-TLS uthread creations, bursts, releases") {
    fifo::init();
    const int before = plain_threads();
    constexpr int kCreators = 8, kRounds = 12;
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::atomic<long> next_id{1}, created{0}, id_sum{0};
    std::vector<fifo::Thread *> creators;
    for (int c = 0; c < kCreators; ++c)
        creators.push_back(fifo::spawn(
            [&, c] {
                std::mt19937 rng(1234 + c);
                ready.fetch_add(1);
                while (!go.load()) fifo::yield();
                for (int r = 0; r < kRounds; ++r) {
                    std::vector<fifo::Thread *> batch;
                    int n = 1 + static_cast<int>(rng() % (r % 4 == 3 ? 24 : 6));
                    for (int i = 0; i < n; ++i) {
                        long id = next_id.fetch_add(1);
                        created.fetch_add(1);
                        id_sum.fetch_add(id);
                        batch.push_back(fifo::spawn([id] {
                            if (tl_tracked.id != -1 || tl_value != 0) g_bad.fetch_add(1);
                            tl_tracked.id = id;
                            tl_value = id;
                            pthread_t self = pthread_self();
                            for (int k = 0; k < 5; ++k) {
                                fifo::yield();
                                if (tl_value != id || !pthread_equal(self, pthread_self()))
                                    g_bad.fetch_add(1);
                            }
                        }));
                    }
                    for (auto *t : batch) fifo::join(t);
                    if (r % 5 == 4) uthread_tls_flush();
                }
            },
            /*own_tls=*/false));
    REQUIRE(eventually([&] { return ready.load() == kCreators; }));
    go = true;
    for (auto *t : creators) fifo::join(t);
    uthread_tls_flush();
    REQUIRE(g_bad.load() == 0);
    REQUIRE(tracked_tls::g_dtor_count.load() == created.load());
    REQUIRE(tracked_tls::g_dtor_sum.load() == id_sum.load());
    INFO("backing threads left: the pool's");
    REQUIRE(eventually([&] { return plain_threads() - before == warm_target(); }));
}
