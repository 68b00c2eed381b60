// uth_offload (parlib/offload.h) on the FIFO test scheduler: offloaded
// calls block their uthreads, not their vcores; results, errno, idle
// helpers; randomized stress in which the helper often finishes before the
// caller has blocked.
#include <parlib/offload.h>
#include <parlib/vcore.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <cerrno>
#include <dirent.h>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/fifo_sched.hpp"
#include "support/watchdog.hpp"

namespace {

struct PipeRead {
    int fd;
    char got = 0;
};

// A plain read(2): blocks its kernel thread until a byte comes.
long read_byte(void *p) {
    auto *r = static_cast<PipeRead *>(p);
    return read(r->fd, &r->got, 1);
}

uint64_t offloaded() {
    struct uth_offload_stats s;
    uth_offload_stats(&s);
    return s.offloaded;
}

// Threads of this process named parlib-offload.
int helper_threads() {
    int n = 0;
    DIR *d = opendir("/proc/self/task");
    while (dirent *e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::ifstream f(std::string("/proc/self/task/") + e->d_name + "/comm");
        std::string comm;
        std::getline(f, comm);
        n += comm == "parlib-offload";
    }
    closedir(d);
    return n;
}

// n uthreads each in an offloaded read(2) of its own pipe, and one more
// that waits until all n calls are in progress, runs `while_blocked`, then
// writes byte 'a' + i to pipe i; returns once all have finished.
struct OffloadedReads {
    std::vector<int> fds;
    std::vector<PipeRead> reads;
    std::vector<long> rcs;

    void run(int n, const std::function<void()> &while_blocked) {
        fds.assign(2 * n, -1);
        reads.assign(n, PipeRead{});
        rcs.assign(n, -2);
        for (int i = 0; i < n; ++i) {
            REQUIRE(pipe(&fds[2 * i]) == 0);
            reads[i].fd = fds[2 * i];
        }
        uint64_t before = offloaded();
        std::vector<fifo::Thread *> ts;
        for (int i = 0; i < n; ++i)
            ts.push_back(fifo::spawn([this, i] { rcs[i] = uth_offload(read_byte, &reads[i]); }));
        ts.push_back(fifo::spawn([&, n] {
            while (offloaded() < before + n) fifo::yield();
            while_blocked();
            for (int i = 0; i < n; ++i) {
                char c = static_cast<char>('a' + i);
                REQUIRE(write(fds[2 * i + 1], &c, 1) == 1);
            }
        }));
        for (auto *t : ts) fifo::join(t);
    }
    ~OffloadedReads() {
        for (int fd : fds) close(fd);
    }
};

}  // namespace

TEST_CASE("offloaded calls block their uthreads, not their vcores") {
    testwd::Watchdog wd(30, "offloaded reads");
    fifo::init();
    // More blocked readers than vcores: if an offloaded read held its
    // vcore, the writing uthread could never run (at any vcore count).
    const int n = max_vcores() + 2;
    OffloadedReads r;
    r.run(n, [] {});
    for (int i = 0; i < n; ++i) {
        CHECK(r.rcs[i] == 1);
        CHECK(r.reads[i].got == 'a' + i);
    }
}

TEST_CASE("an offloaded call's result and errno reach the caller") {
    fifo::init();
    long rc_fail = 0, rc_ok = 0;
    int err_fail = 0, err_ok = 0;
    pid_t helper_tid = 0, caller_tid = 0;
    auto *t = fifo::spawn([&] {
        rc_fail = uth_offload([](void *) -> long { errno = EXDEV; return -1; }, nullptr);
        err_fail = errno;
        errno = EDOM;
        rc_ok = uth_offload([](void *p) -> long {
            *static_cast<pid_t *>(p) = static_cast<pid_t>(syscall(SYS_gettid));
            return 42;
        }, &helper_tid);
        err_ok = errno;  // untouched by a call that left errno alone
        caller_tid = static_cast<pid_t>(syscall(SYS_gettid));
    });
    fifo::join(t);
    CHECK(rc_fail == -1);
    CHECK(err_fail == EXDEV);
    CHECK(rc_ok == 42);
    CHECK(err_ok == EDOM);
    CHECK(helper_tid != caller_tid);  // it ran on a helper thread
}

TEST_CASE("outside a uthread an offloaded call runs on the caller") {
    pid_t ran_on = 0, caller = 0;
    std::thread th([&] {
        caller = static_cast<pid_t>(syscall(SYS_gettid));
        uth_offload([](void *p) -> long {
            *static_cast<pid_t *>(p) = static_cast<pid_t>(syscall(SYS_gettid));
            return 0;
        }, &ran_on);
    });
    th.join();
    CHECK(ran_on == caller);
}

TEST_CASE("idle helpers are kept up to PARLIB_OFFLOAD_IDLE (default 4)") {
    testwd::Watchdog wd(30, "idle helpers");
    fifo::init();
    // 12 calls in progress at once need 12 helpers; once they return, at
    // most 4 stay.
    const int n = 12;
    OffloadedReads r;
    r.run(n, [&] { CHECK(helper_threads() >= n); });
    // Helpers beyond the limit exit once their call has returned.
    int left = 0;
    for (int k = 0; k < 2000; ++k) {
        left = helper_threads();
        if (left <= 4) break;
        usleep(1000);
    }
    CHECK(left <= 4);
    struct uth_offload_stats s;
    uth_offload_stats(&s);
    CHECK(s.helpers_idle <= 4);
    CHECK(s.helpers_idle >= 1);
}

TEST_CASE("offload stress: short and sleeping calls from many uthreads") {
    testwd::Watchdog wd(60, "offload stress");
    fifo::init();
    const int threads = 64, calls = 40;
    std::atomic<long> sum{0};
    std::atomic<int> wrong{0};
    std::vector<fifo::Thread *> ts;
    for (int t = 0; t < threads; ++t)
        ts.push_back(fifo::spawn([&, t] {
            std::mt19937 rng(t);
            for (int c = 0; c < calls; ++c) {
                long v = t * 1000 + c;
                // Mostly immediate returns (the helper often finishes
                // before the caller has blocked), some 0.2 ms sleeps.
                bool sleep = rng() % 8 == 0;
                long r = uth_offload(
                    sleep ? +[](void *p) -> long {
                        struct timespec ts = {0, 200000};
                        nanosleep(&ts, nullptr);
                        return *static_cast<long *>(p);
                    }
                          : +[](void *p) -> long { return *static_cast<long *>(p); },
                    &v);
                if (r != v) wrong.fetch_add(1);
                sum.fetch_add(r);
                if (rng() % 4 == 0) fifo::yield();
            }
        }));
    for (auto *t : ts) fifo::join(t);
    long expect = 0;
    for (int t = 0; t < threads; ++t)
        for (int c = 0; c < calls; ++c) expect += t * 1000 + c;
    CHECK(wrong.load() == 0);
    CHECK(sum.load() == expect);
}
