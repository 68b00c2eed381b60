// lithe/sync.h: parlib's primitives shared by contexts of different
// schedulers (sibling fork-join schedulers, nested ones, the base's main
// context) and a foreign pthread, with blocking reflected to each owner.
#include <catch2/catch.hpp>
#include <lithe/fork_join.h>
#include <lithe/lithe.h>
#include <lithe/sync.h>

#include <atomic>
#include <thread>
#include <vector>

namespace {

constexpr int kPerSched = 8;
constexpr int kIters = 200;

uth_mutex_t g_mu = UTH_MUTEX_INIT;
uth_mutex_t g_rmu = UTH_RECURSIVE_MUTEX_INIT;
uth_cond_var_t g_cv = UTH_COND_VAR_INIT;
long g_counter = 0;  // guarded by g_mu; deliberately not atomic
bool g_inside = false;
std::atomic<int> g_overlap{0};

void critical_work() {
    uth_mutex_lock(&g_mu);
    if (g_inside) g_overlap++;
    g_inside = true;
    long c = g_counter;
    if (c % 7 == 0) lithe_context_yield();  // hold the lock across a switch
    g_counter = c + 1;
    g_inside = false;
    uth_mutex_unlock(&g_mu);
}

void mutex_worker(void *) {
    for (int i = 0; i < kIters; ++i) critical_work();
}

// Runs `fn` in kPerSched contexts of a fresh fork-join scheduler entered
// from the calling context.
void in_fj(void (*fn)(void *), void *arg) {
    lithe_fj_sched_t *s = lithe_fj_sched_create();
    lithe_sched_enter(&s->sched);
    for (int i = 0; i < kPerSched; ++i) lithe_fj_context_create(s, 0, fn, arg);
    lithe_fj_sched_join_all(s);
    lithe_sched_exit();
    lithe_fj_sched_destroy(s);
}

void sibling(void *p) { in_fj(mutex_worker, p); }

}  // namespace

TEST_CASE("one mutex shared by contexts of sibling schedulers and a pthread") {
    g_counter = 0;
    g_overlap = 0;
    std::atomic<bool> stop{false};
    long foreign = 0;
    std::thread t([&] {
        while (!stop.load()) {
            uth_mutex_lock(&g_mu);
            if (g_inside) g_overlap++;
            ++g_counter;
            ++foreign;
            uth_mutex_unlock(&g_mu);
        }
    });
    // Two sibling fork-join schedulers under one parent, each with contexts
    // contending on the same mutex.
    lithe_fj_sched_t *root = lithe_fj_sched_create();
    lithe_sched_enter(&root->sched);
    lithe_fj_context_create(root, 0, sibling, nullptr);
    lithe_fj_context_create(root, 0, sibling, nullptr);
    lithe_fj_sched_join_all(root);
    lithe_sched_exit();
    lithe_fj_sched_destroy(root);
    stop = true;
    t.join();
    REQUIRE(g_overlap == 0);
    REQUIRE(g_counter == 2L * kPerSched * kIters + foreign);
}

namespace {

uth_barrier_t g_barrier;
std::atomic<int> g_phase_seen[3];
std::atomic<int> g_serial{0};
std::atomic<int> g_early{0};

void barrier_worker(void *) {
    for (int ph = 0; ph < 3; ++ph) {
        g_phase_seen[ph]++;
        if (uth_barrier_wait(&g_barrier)) g_serial++;
        // Nobody passes phase ph before everyone reached it.
        if (g_phase_seen[ph].load() != 2 * kPerSched) g_early++;
    }
}

void barrier_sibling(void *) { in_fj(barrier_worker, nullptr); }

}  // namespace

TEST_CASE("a barrier spanning two schedulers") {
    uth_barrier_init(&g_barrier, 2 * kPerSched);
    for (auto &p : g_phase_seen) p = 0;
    g_serial = g_early = 0;
    lithe_fj_sched_t *root = lithe_fj_sched_create();
    lithe_sched_enter(&root->sched);
    lithe_fj_context_create(root, 0, barrier_sibling, nullptr);
    lithe_fj_context_create(root, 0, barrier_sibling, nullptr);
    lithe_fj_sched_join_all(root);
    lithe_sched_exit();
    lithe_fj_sched_destroy(root);
    REQUIRE(g_serial == 3);
    REQUIRE(g_early == 0);
}

namespace {

uth_semaphore_t g_items;
uint32_t g_flag = 0;
std::atomic<int> g_consumed{0};

void consumer(void *) {
    for (int i = 0; i < 10; ++i) {
        uth_semaphore_down(&g_items);
        g_consumed++;
    }
}

void futex_waiter(void *) {
    while (__atomic_load_n(&g_flag, __ATOMIC_ACQUIRE) == 0)
        uth_futex_wait(&g_flag, 0, -1);
}

}  // namespace

TEST_CASE("semaphore and futex: waiters in a nested scheduler, wakers in main") {
    uth_semaphore_init(&g_items, 0);
    g_consumed = 0;
    g_flag = 0;
    // Contexts of a fork-join scheduler wait; the wakers are a foreign
    // thread (semaphore) and, for the futex, a context that first enters
    // and leaves a nested scheduler.
    std::thread producer([] {
        for (int i = 0; i < 10 * kPerSched; ++i) uth_semaphore_up(&g_items);
    });
    lithe_fj_sched_t *s = lithe_fj_sched_create();
    lithe_sched_enter(&s->sched);
    for (int i = 0; i < kPerSched; ++i) {
        lithe_fj_context_create(s, 0, consumer, nullptr);
        lithe_fj_context_create(s, 0, futex_waiter, nullptr);
    }
    lithe_fj_context_create(
        s, 0,
        [](void *) {
            in_fj([](void *) {}, nullptr);  // a nested scheduler in between
            __atomic_store_n(&g_flag, 1, __ATOMIC_RELEASE);
            uth_futex_wake(&g_flag, 1 << 30);
        },
        nullptr);
    lithe_fj_sched_join_all(s);
    lithe_sched_exit();
    lithe_fj_sched_destroy(s);
    producer.join();
    REQUIRE(g_consumed == 10 * kPerSched);
}

TEST_CASE("recursive mutex and condvar across nesting levels") {
    static int ready = 0;
    ready = 0;
    lithe_fj_sched_t *s = lithe_fj_sched_create();
    lithe_sched_enter(&s->sched);
    for (int i = 0; i < kPerSched; ++i)
        lithe_fj_context_create(
            s, 0,
            [](void *) {
                uth_mutex_lock(&g_rmu);
                uth_mutex_lock(&g_rmu);  // recursive
                while (ready == 0) uth_cond_var_wait(&g_cv, &g_rmu);
                uth_mutex_unlock(&g_rmu);
                uth_mutex_unlock(&g_rmu);
            },
            nullptr);
    lithe_fj_context_create(
        s, 0,
        [](void *) {
            in_fj([](void *) {}, nullptr);
            uth_mutex_lock(&g_rmu);
            ready = 1;
            uth_cond_var_broadcast(&g_cv);
            uth_mutex_unlock(&g_rmu);
        },
        nullptr);
    lithe_fj_sched_join_all(s);
    lithe_sched_exit();
    lithe_fj_sched_destroy(s);
    REQUIRE(ready == 1);
}
