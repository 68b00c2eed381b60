// Notifications never pause a uthread while it runs parlib's own code, even
// when that code is an inline C++ function that the program also has a copy
// of (std::atomic's members in an unoptimised build). If libparlib called
// the program's copy, a notification landing there would look like one in
// user code: the uthread would be paused in the middle of its yield, resume
// on another vcore, and finish the yield with the first vcore's pointer,
// switching onto that vcore's stack while the vcore itself runs there
// ("assertion failed: v && v->current == u", "run_uthread: ... is
// running", or a crash). libparlib is therefore linked with
// -Bsymbolic-functions (parlib/CMakeLists.txt).
//
// Storm: preemptible uthreads yield in a loop on two vcores while a foreign
// thread interrupts both vcores continuously; the handler pauses whatever
// it interrupted, so paused uthreads migrate between the vcores. This file
// uses the std::atomic<uint32_t> members that parlib's yield path uses, so
// an unoptimised build of this program has its own copies of them, which
// is what the dynamic linker bound parlib's calls to. The storm runs in a
// child with PARLIB_VCORES=2, so that an abort is a failed test.
#include <catch2/catch.hpp>

#include <time.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include <parlib/event.h>

#include "support/fifo_sched.hpp"
#include "support/self_exec.hpp"

namespace {

constexpr unsigned kInterrupt = EV_USER + 1;
constexpr int kVcores = 2;
constexpr int kMsgsPerVcore = 16;
constexpr int kYielders = 4;

uint64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + ts.tv_nsec;
}

// Uthreads paused by the handler (std::atomic<uint32_t>: see the top).
std::atomic<uint32_t> g_paused{0};
event_msg g_msgs[kVcores][kMsgsPerVcore];  // outlive the storm: may be queued

}  // namespace

TEST_CASE("child: interrupt storm against uthreads yielding on two vcores",
          "[.]") {
    fifo::init();
    REQUIRE(max_vcores() == kVcores);
    register_ev_handler(
        kInterrupt,
        [](event_msg *, unsigned, void *) {
            if (uthread *c = current_uthread()) {
                g_paused.fetch_add(1, std::memory_order_relaxed);
                uthread_paused(c);
            }
        },
        nullptr);
    std::atomic<uint32_t> stop{0};
    std::atomic<uint32_t> yields{0};
    std::vector<fifo::Thread *> yielders;
    for (int i = 0; i < kYielders; ++i)
        yielders.push_back(fifo::spawn([&] {
            uthread_set_preemptible(uthread_self(), true);
            while (!stop.load(std::memory_order_acquire)) {
                fifo::yield();
                yields.fetch_add(1, std::memory_order_relaxed);
            }
        }));
    std::thread sender([&] {
        while (!stop.load(std::memory_order_acquire)) {
            for (int v = 0; v < kVcores; ++v)
                for (event_msg &m : g_msgs[v])
                    if (!__atomic_load_n(&m.queued, __ATOMIC_ACQUIRE)) {
                        send_event(&m, kInterrupt, v, EVENT_INTERRUPT);
                        break;
                    }
            timespec ts{0, 20000};
            nanosleep(&ts, nullptr);
        }
    });
    // Main is not preemptible: it yields too, until enough pauses happened
    // (or for at most 3 s; before the fix the child aborted within 0.5 s).
    uint64_t deadline = now_ns() + 3'000'000'000ull;
    while (g_paused.load(std::memory_order_relaxed) < 2000 &&
           now_ns() < deadline)
        fifo::yield();
    stop.store(1, std::memory_order_release);
    for (fifo::Thread *t : yielders) fifo::join(t);
    sender.join();
    INFO("pauses: " << g_paused.load() << ", yields: " << yields.load());
    REQUIRE(g_paused.load() >= 50);  // the storm did preempt the yielders
    REQUIRE(yields.load() > 0);
}

// Forked from this (plain) thread, not from a vcore: the child inherits its
// CPU affinity, and a vcore's is one CPU.
TEST_CASE("no notification pauses a uthread inside parlib's own code") {
    auto r = selfexec::run(
        "child: interrupt storm against uthreads yielding on two vcores",
        {"PARLIB_VCORES=2"}, 60000);
    INFO(r.output);
    REQUIRE_FALSE(r.timed_out);
    REQUIRE(r.exited);
    REQUIRE(r.exit_code == 0);
}
