// Per-uthread TLS under heavy migration between vcores: everything glibc
// and the C++ runtime keep per thread must follow the uthread, and
// lightweight uthreads must see their vcore's TLS instead. Uthreads count
// failures in atomics; only main asserts (Catch2 is not thread-safe).
#include <catch2/catch.hpp>

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <set>
#include <stdexcept>
#include <vector>

#include <parlib/event.h>

#include "support/rotate_sched.hpp"
#include "support/tracked_tls.hpp"

namespace {

constexpr int kUthreads = 16;
constexpr int kMinMigrations = 100000;

__thread long tv_plain = -1;
thread_local long tl_plain = -1;

using tracked_tls::tl_tracked;

std::atomic<long> g_key_dtor_count{0};
pthread_key_t g_key;

struct Err {
    int who;
    long k;
};

struct Stats {
    std::atomic<long> yields{0}, migrations{0}, failures{0}, exceptions{0};
};

// One round of every check, with yields where migration hurts most.
void round(int who, long k, Stats &st, FILE *devnull, pthread_t self,
           pthread_mutex_t *mx) {
    auto yield_counting = [&] {
        int before = vcore_id();
        rotate::yield();
        st.yields.fetch_add(1, std::memory_order_relaxed);
        if (vcore_id() != before)
            st.migrations.fetch_add(1, std::memory_order_relaxed);
    };
    auto fail = [&] { st.failures.fetch_add(1); };

    long tag = who * 1000003L + k;
    errno = static_cast<int>(tag % 100000) + 1;
    tv_plain = tag;
    tl_plain = -tag;
    pthread_setspecific(g_key, reinterpret_cast<void *>(tag + 1));
    yield_counting();
    if (errno != static_cast<int>(tag % 100000) + 1) fail();
    if (tv_plain != tag || tl_plain != -tag) fail();
    if (pthread_self() != self) fail();
    if (pthread_getspecific(g_key) != reinterpret_cast<void *>(tag + 1))
        fail();

    if (k % 8 == 0) {  // allocate on one vcore, free on (likely) another
        char *p = static_cast<char *>(malloc(64 + k % 512));
        snprintf(p, 64, "u%d-%ld", who, k);
        fprintf(devnull, "%s %d %f\n", p, who, k * 0.5);
        yield_counting();
        char want[64];
        snprintf(want, sizeof want, "u%d-%ld", who, k);
        if (strcmp(p, want) != 0) fail();
        free(p);
    }
    if (k % 32 == 0) {  // error-checking mutex: owner is the uthread
        if (pthread_mutex_lock(mx) != 0) fail();
        yield_counting();
        if (pthread_mutex_unlock(mx) != 0) fail();
    }
    if (k % 16 == 0) {  // exceptions across yields
        try {
            try {
                yield_counting();
                throw Err{who, k};
            } catch (const Err &e) {
                yield_counting();
                if (e.who != who || e.k != k || !std::current_exception())
                    fail();
                throw;
            }
        } catch (const Err &e) {
            if (e.who != who || e.k != k) fail();
            st.exceptions.fetch_add(1, std::memory_order_relaxed);
        }
        if (std::current_exception() || std::uncaught_exceptions() != 0)
            fail();
    }
}

}  // namespace

TEST_CASE("per-uthread TLS survives migration between vcores") {
    rotate::init();
    REQUIRE(pthread_key_create(&g_key, [](void *) { g_key_dtor_count++; }) ==
            0);
    FILE *devnull = fopen("/dev/null", "w");
    REQUIRE(devnull);
    Stats st;
    std::atomic<bool> stop{false};
    std::vector<pthread_t> selves(kUthreads);
    std::vector<rotate::Thread *> ts;
    const bool multi = max_vcores() > 1;
    for (int w = 0; w < kUthreads; ++w)
        ts.push_back(rotate::spawn([&, w] {
            pthread_t self = pthread_self();
            selves[w] = self;
            tl_tracked.id = w;
            pthread_mutex_t mx;
            pthread_mutexattr_t ma;
            pthread_mutexattr_init(&ma);
            pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
            pthread_mutex_init(&mx, &ma);
            for (long k = 0; !stop.load(std::memory_order_relaxed); ++k)
                round(w, k, st, devnull, self, &mx);
            pthread_mutex_destroy(&mx);
        }));
    // Main takes part too (its TLS is the original main thread's).
    pthread_t main_self = pthread_self();
    pthread_mutex_t mx = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
    for (long k = 0;; ++k) {
        round(kUthreads, k, st, devnull, main_self, &mx);
        if (multi ? st.migrations.load() >= kMinMigrations
                  : st.yields.load() >= kMinMigrations)
            break;
    }
    stop = true;
    // Exited but not cleaned up: no thread_local destructor may have run.
    for (auto *t : ts)
        while (!t->done.load()) rotate::yield();
    long dtors_before_cleanup = tracked_tls::g_dtor_count.load();
    for (auto *t : ts) rotate::join(t);
    uthread_tls_flush();
    fclose(devnull);

    CAPTURE(st.yields.load(), st.migrations.load(), max_vcores());
    REQUIRE(st.failures == 0);
    if (multi) REQUIRE(st.migrations >= kMinMigrations);
    REQUIRE(st.exceptions > 0);
    REQUIRE(pthread_self() == main_self);
    std::set<pthread_t> distinct(selves.begin(), selves.end());
    distinct.insert(main_self);
    REQUIRE(distinct.size() == kUthreads + 1);
    REQUIRE(dtors_before_cleanup == 0);
    REQUIRE(tracked_tls::g_dtor_count == kUthreads);
    REQUIRE(tracked_tls::g_dtor_sum == kUthreads * (kUthreads - 1) / 2);
    REQUIRE(g_key_dtor_count == kUthreads);
    pthread_key_delete(g_key);
}

namespace {
struct VcoreView {
    std::atomic<pthread_t> self{0};
    std::atomic<long *> tl_addr{nullptr};
};
std::vector<VcoreView> *g_views;
}  // namespace

TEST_CASE("lightweight uthreads see the TLS of the vcore running them") {
    rotate::init();
    int n = max_vcores();
    std::vector<VcoreView> views(n);
    g_views = &views;
    // An event handler runs in vcore context: it sees the vcore's own TLS.
    register_ev_handler(
        EV_USER + 2,
        [](event_msg *, unsigned, void *) {
            VcoreView &v = (*g_views)[vcore_id()];
            v.tl_addr = &tl_plain;
            v.self = pthread_self();
        },
        nullptr);
    std::vector<event_msg> msgs(n);
    for (int i = 0; i < n; ++i)
        send_event(&msgs[i], EV_USER + 2, i, EVENT_WAKEUP);
    for (int i = 0; i < n; ++i)
        while (views[i].self.load() == 0) rotate::yield();

    std::atomic<long> mismatches{0}, checks{0}, full_on_vcore_tls{0};
    auto probe = [&](bool lightweight) {
        for (int k = 0; k < 200; ++k) {
            uth_disable_notifs();  // pinned to this vcore meanwhile
            VcoreView &v = views[vcore_id()];
            bool same = pthread_self() == v.self.load() &&
                        &tl_plain == v.tl_addr.load();
            uth_enable_notifs();
            if (lightweight && !same) mismatches++;
            if (!lightweight && same) full_on_vcore_tls++;
            checks++;
            rotate::yield();
        }
    };
    std::vector<rotate::Thread *> ts;
    for (int i = 0; i < 8; ++i)
        ts.push_back(rotate::spawn([&, i] { probe(i % 2 == 0); }, i % 2 != 0));
    for (auto *t : ts) rotate::join(t);
    REQUIRE(checks == 8 * 200);
    REQUIRE(mismatches == 0);
    REQUIRE(full_on_vcore_tls == 0);
}
