// Fork-join scheduler: create/join, nesting, accounting after exit.
#include <catch2/catch.hpp>
#include <lithe/fork_join.h>
#include <lithe/lithe.h>

#include <atomic>
#include <chrono>
#include <vector>

namespace {

struct Work {
    std::atomic<int> *count;
    int yields;
};

void work_fn(void *p) {
    auto *w = static_cast<Work *>(p);
    for (int i = 0; i < w->yields; ++i) lithe_context_yield();
    w->count->fetch_add(1);
}

int run_fj(int n, int yields) {
    std::atomic<int> count{0};
    Work w{&count, yields};
    lithe_fj_sched_t *s = lithe_fj_sched_create();
    REQUIRE(lithe_sched_enter(&s->sched) == LITHE_OK);
    REQUIRE(lithe_sched_current() == &s->sched);
    for (int i = 0; i < n; ++i)
        REQUIRE(lithe_fj_context_create(s, 0, work_fn, &w) != nullptr);
    lithe_fj_sched_join_all(s);
    REQUIRE(lithe_sched_exit() == LITHE_OK);
    lithe_fj_sched_destroy(s);
    return count.load();
}

}  // namespace

TEST_CASE("fork-join: create, run and join contexts") {
    lithe_sched_t *base = lithe_sched_base();
    REQUIRE(run_fj(100, 3) == 100);
    REQUIRE(lithe_sched_current() == base);
    REQUIRE(run_fj(1000, 0) == 1000);
    struct lithe_sched_stats st;
    lithe_sched_stats(base, &st);
    REQUIRE(st.children == 0);
}

namespace {
std::atomic<int> g_leaves{0};
void nested_fn(void *p) {
    int depth = static_cast<int>(reinterpret_cast<intptr_t>(p));
    if (depth == 0) {
        g_leaves.fetch_add(1);
        return;
    }
    lithe_fj_sched_t *s = lithe_fj_sched_create();
    lithe_sched_enter(&s->sched);
    for (int i = 0; i < 3; ++i)
        lithe_fj_context_create(s, 0, nested_fn,
                                reinterpret_cast<void *>(intptr_t(depth - 1)));
    lithe_fj_sched_join_all(s);
    lithe_sched_exit();
    lithe_fj_sched_destroy(s);
}
}  // namespace

TEST_CASE("fork-join: nested three levels deep") {
    g_leaves = 0;
    nested_fn(reinterpret_cast<void *>(intptr_t(4)));
    REQUIRE(g_leaves == 81);
}

namespace {
std::atomic<int> g_started{0}, g_saw_all{0};
int g_n = 0;
void spin_until_all(void *) {
    g_started++;
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (g_started.load() < g_n && std::chrono::steady_clock::now() < end) {
    }
    if (g_started.load() == g_n) g_saw_all++;
}
}  // namespace

// Request accounting regression: with N runnable contexts and N harts, all
// N run at once (counting -1 on dequeue instead of on block/exit stopped
// granting at N-1 harts once the entering context blocked in join_all).
TEST_CASE("fork-join: N runnable contexts get N harts") {
    g_n = lithe_num_harts();
    g_started = 0;
    g_saw_all = 0;
    lithe_fj_sched_t *s = lithe_fj_sched_create();
    REQUIRE(lithe_sched_enter(&s->sched) == LITHE_OK);
    for (int i = 0; i < g_n; ++i)
        lithe_fj_context_create(s, 0, spin_until_all, nullptr);
    lithe_fj_sched_join_all(s);
    REQUIRE(lithe_sched_exit() == LITHE_OK);
    lithe_fj_sched_destroy(s);
    REQUIRE(g_saw_all.load() == g_n);  // all ran at the same time
}

namespace {
std::atomic<bool> g_flag{false};
void wait_by_yielding(void *) {
    while (!g_flag.load()) lithe_context_yield();
}
void set_flag(void *) { g_flag = true; }
}  // namespace

// A context that waits by yielding must let the context it waits for run,
// even on one hart (the yielded context must not be re-picked at once).
TEST_CASE("fork-join: yielding lets the other contexts run") {
    g_flag = false;
    lithe_fj_sched_t *s = lithe_fj_sched_create();
    REQUIRE(lithe_sched_enter(&s->sched) == LITHE_OK);
    lithe_fj_context_create(s, 0, set_flag, nullptr);
    lithe_fj_context_create(s, 0, wait_by_yielding, nullptr);
    lithe_fj_sched_join_all(s);
    REQUIRE(lithe_sched_exit() == LITHE_OK);
    lithe_fj_sched_destroy(s);
    REQUIRE(g_flag.load());
}
