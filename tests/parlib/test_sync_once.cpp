// uth_once (parlib/once.h): under concurrency from more uthreads than
// vcores and foreign threads, the function runs exactly once and nobody
// returns before it has finished.
#include <catch2/catch.hpp>

#include <parlib/once.h>

#include <deque>
#include <thread>
#include <vector>

#include "support/fifo_sched.hpp"
#include "support/foreign_thread.hpp"
#include "support/watchdog.hpp"

namespace {

uth_once_t g_once = UTH_ONCE_INIT;
std::atomic<int> g_calls{0};
std::atomic<bool> g_finished{false};

void init_fn() {
    g_calls.fetch_add(1);
    // Take a while, blocking this uthread's vcore from nobody: the other
    // callers must wait, not run it again.
    for (int i = 0; i < 50; ++i)
        if (uthread_self()) fifo::yield();
    g_finished.store(true);
}

}  // namespace

TEST_CASE("once: runs exactly once, concurrent callers wait for it") {
    testwd::Watchdog wd(30, "once: runs exactly once; concurrent callers wait for it");
    fifo::init();
    std::atomic<int> early{0};
    auto body = [&] {
        uth_once(&g_once, init_fn);
        if (!g_finished.load()) early.fetch_add(1);
    };
    std::vector<fifo::Thread *> ts;
    for (int i = 0; i < 64; ++i) ts.push_back(fifo::spawn(body, i % 2));
    std::deque<fifo::ForeignThread> fs;
    for (int i = 0; i < 2; ++i) fs.emplace_back(body);
    for (auto *t : ts) fifo::join(t);
    for (auto &f : fs) f.join();
    REQUIRE(g_calls == 1);
    REQUIRE(early == 0);
    uth_once(&g_once, init_fn);  // already done: returns without calling
    REQUIRE(g_calls == 1);
}
