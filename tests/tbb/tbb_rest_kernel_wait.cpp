// tbb_rest_kernel_wait.cpp: a resting TBB worker (docs/tbb.md "Liveness")
// runs again while the master sleeps in the kernel waiting for it, on
// whatever vcore the master sleeps.
//
// The hang this catches (tbb.preload.concurrent, 2-6 of 40 runs at 4
// vcores with session 6's resting workers): a rest was ended by a parlib
// alarm, i.e. an event queued to the vcore the worker rested on, handled
// only when that vcore next enters vcore context. The TBB master then ran
// on that vcore and slept in TBB's raw futex wait for the workers' tasks:
// the vcore never returned to vcore context, the rests never ended, every
// other vcore parked. Here, per round, an enqueued task (only workers run
// those) spins with std::this_thread::yield until main says go; main first
// sleeps 5 ms (blocking only its context, so the worker rests), then says
// go and sleeps in a raw futex wait (as TBB's) until the task answers. A
// rest lasts at most 1 ms; a round that waits over a second fails (main's
// wait has a timeout, so the broken version fails instead of hanging).
// 40 rounds: with the alarm version main slept on the rest's vcore in
// some of them at 2 and 4 vcores.
//
// With one hart the check is skipped: main's kernel wait then holds the
// only hart, which no rest policy can give to the worker (a documented
// limitation: kernel waits of a context hold its hart). The ref build
// (TBB's own threads) runs it too.
#include <oneapi/tbb/task_arena.h>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "check_or_return.hpp"

#define CHECK CHECK_IN_MAIN

extern "C" int lithe_num_harts(void) __attribute__((weak));

namespace {

// Until *word != old or the timeout; TBB's own futex wait, not interposed.
void futex_wait(std::atomic<int> &word, int old, long timeout_ms) {
    struct timespec ts = {timeout_ms / 1000, (timeout_ms % 1000) * 1000000};
    syscall(SYS_futex, reinterpret_cast<int *>(&word), FUTEX_WAIT_PRIVATE, old,
            &ts, nullptr, 0);
}

void futex_wake(std::atomic<int> &word) {
    syscall(SYS_futex, reinterpret_cast<int *>(&word), FUTEX_WAKE_PRIVATE, 1,
            nullptr, nullptr, 0);
}

}  // namespace

int main() {
    if (lithe_num_harts && lithe_num_harts() < 2) {
        std::printf("skipped: one hart (main's kernel wait holds it)\n");
        return 0;
    }
    constexpr int kRounds = 40;
    tbb::task_arena arena;
    std::atomic<int> go{0}, done{0};
    double worst_ms = 0;
    for (int r = 1; r <= kRounds; ++r) {
        arena.enqueue([&, r] {
            while (go.load() < r) std::this_thread::yield();
            done.store(r);
            futex_wake(done);
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        auto t0 = std::chrono::steady_clock::now();
        go.store(r);
        double ms = 0;
        while (done.load() < r && ms < 1000) {
            futex_wait(done, r - 1, 100);
            ms = std::chrono::duration<double, std::milli>(
                     std::chrono::steady_clock::now() - t0)
                     .count();
        }
        if (ms > worst_ms) worst_ms = ms;
        if (done.load() < r) {
            std::printf("round %d: the task did not run within 1 s while main "
                        "slept in the kernel\n",
                        r);
            break;
        }
    }
    std::printf("%d of %d rounds, longest wait %.1f ms\n", done.load(),
                kRounds, worst_ms);
    CHECK(done.load() == kRounds);
    return 0;
}
