// Alarms (parlib/alarm.h) and uth_sleep_us on the FIFO test scheduler.
// Every test runs under whatever PARLIB_VCORES is set (verify with 1, 2, 4).
#include <parlib/alarm.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "support/fifo_sched.hpp"
#include "support/watchdog.hpp"

namespace {

// Yields until pred() or `seconds` pass; returns pred().
template <class Pred>
bool wait_for(Pred pred, double seconds) {
    uint64_t end = parlib_now_us() + static_cast<uint64_t>(seconds * 1e6);
    while (!pred() && parlib_now_us() < end) fifo::yield();
    return pred();
}

// Yields for `us` microseconds (without using alarms).
void linger(uint64_t us) {
    uint64_t end = parlib_now_us() + us;
    while (parlib_now_us() < end) fifo::yield();
}

struct Rec {
    alarm_waiter w;
    std::atomic<int> fired{0};
    std::atomic<bool> early{false};
    std::atomic<int> ran_on{-2};
    std::atomic<bool> in_vcore_ctx{false};
    uint64_t fired_for = 0;  // wake_up_time seen by the callback
    bool stopped = false;    // stop_alarm / reset_alarm_abs returned true
    uint64_t old_t = 0, new_t = 0;
    int want_vcore = -1;
};

std::atomic<int> g_fired_total{0};

void record_cb(alarm_waiter *w) {
    auto *r = static_cast<Rec *>(w->data);
    if (parlib_now_us() < w->wake_up_time) r->early = true;
    r->fired_for = w->wake_up_time;
    r->ran_on = vcore_id();
    r->in_vcore_ctx = in_vcore_context();
    r->fired.fetch_add(1);
    g_fired_total.fetch_add(1);
}

std::unique_ptr<Rec[]> make_recs(int n) {
    std::unique_ptr<Rec[]> recs(new Rec[n]);
    for (int i = 0; i < n; ++i) {
        init_waiter(&recs[i].w, record_cb);
        recs[i].w.data = &recs[i];
    }
    return recs;
}

// A vcore other than the caller's (the only one if there is just one).
int other_vcore(std::mt19937 &rng) {
    int nv = max_vcores();
    if (nv == 1) return 0;
    return (vcore_id() + 1 + static_cast<int>(rng() % (nv - 1))) % nv;
}

// Busy-waits until around `deadline` (-20..+150 µs: the service thread
// needs some time to take an expired alarm), so that a stop or reset races
// the firing of the alarm.
void spin_until_near(uint64_t deadline, std::mt19937 &rng) {
    uint64_t t = deadline - 20 + rng() % 170;
    while (parlib_now_us() < t) __builtin_ia32_pause();
}

// Runs fn(i, rng) for i in [0, parts) on `parts` uthreads and joins them.
template <class Fn>
void in_parallel(int parts, Fn fn) {
    std::vector<fifo::Thread *> ts;
    for (int p = 0; p < parts; ++p)
        ts.push_back(fifo::spawn([p, &fn] {
            std::mt19937 rng(1234 + p);
            fn(p, rng);
        }));
    for (auto *t : ts) fifo::join(t);
}

}  // namespace

TEST_CASE("set_waiter_* compute the expiry time") {
    testwd::Watchdog wd(20, "set_waiter");
    fifo::init();
    alarm_waiter w;
    init_waiter(&w, record_cb);
    set_waiter_abs(&w, 1000);
    REQUIRE(w.wake_up_time == 1000);
    set_waiter_inc(&w, 500);
    REQUIRE(w.wake_up_time == 1500);
    set_waiter_inc(&w, -200);
    REQUIRE(w.wake_up_time == 1300);
    set_waiter_inc(&w, -5000);  // clamps at time 0
    REQUIRE(w.wake_up_time == 0);

    uint64_t before = parlib_now_us();
    set_waiter_rel(&w, 70000);
    uint64_t after = parlib_now_us();
    REQUIRE(w.wake_up_time >= before + 70000);
    REQUIRE(w.wake_up_time <= after + 70000);

    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    uint64_t unix_now = uint64_t(rt.tv_sec) * 1000000 + rt.tv_nsec / 1000;
    before = parlib_now_us();
    set_waiter_abs_unix(&w, unix_now + 50000);
    after = parlib_now_us();
    // Generous: the two clocks are read at slightly different instants.
    REQUIRE(w.wake_up_time + 2000 >= before + 50000);
    REQUIRE(w.wake_up_time <= after + 50000 + 2000);
}

TEST_CASE("alarms fire exactly once and never early") {
    testwd::Watchdog wd(30, "alarms fire exactly once");
    fifo::init();
    constexpr int N = 3000;
    auto recs = make_recs(N);
    g_fired_total = 0;
    int parts = max_vcores() + 1;
    in_parallel(parts, [&](int p, std::mt19937 &rng) {
        for (int i = p; i < N; i += parts) {
            Rec &r = recs[i];
            int kind = static_cast<int>(rng() % 20);
            if (kind == 0)  // already due
                set_waiter_abs(&r.w, parlib_now_us() - rng() % 1000);
            else
                set_waiter_rel(&r.w, rng() % 20000);
            r.w.vcoreid = static_cast<int>(rng() % (max_vcores() + 1)) - 1;
            start_alarm(&r.w);
            if (rng() % 64 == 0) fifo::yield();
        }
    });
    REQUIRE(wait_for([] { return g_fired_total.load() >= N; }, 20));
    linger(30000);  // any duplicate firing would show up now
    REQUIRE(g_fired_total == N);
    for (int i = 0; i < N; ++i) {
        INFO("alarm " << i);
        REQUIRE(recs[i].fired == 1);
        REQUIRE_FALSE(recs[i].early);
        REQUIRE(recs[i].in_vcore_ctx);
    }
}

TEST_CASE("an alarm's callback runs on the vcore it names") {
    testwd::Watchdog wd(20, "alarm vcore routing");
    fifo::init();
    constexpr int K = 40;
    int nv = max_vcores();
    int n = K * nv + 2 * K;
    auto recs = make_recs(n);
    g_fired_total = 0;
    std::mt19937 rng(7);
    // Named vcores.
    for (int v = 0; v < nv; ++v)
        for (int k = 0; k < K; ++k) {
            Rec &r = recs[v * K + k];
            r.want_vcore = v;
            r.w.vcoreid = v;
            set_waiter_rel(&r.w, rng() % 5000);
            start_alarm(&r.w);
        }
    // -1 from a uthread: the vcore it is on when starting the alarm.
    in_parallel(nv, [&](int p, std::mt19937 &g) {
        for (int k = p; k < K; k += nv) {
            Rec &r = recs[nv * K + k];
            set_waiter_rel(&r.w, g() % 5000);
            r.want_vcore = vcore_id();  // no yield before start: still true
            start_alarm(&r.w);
            fifo::yield();
        }
    });
    // -1 from a thread that is not on any vcore: vcore 0.
    std::thread foreign([&] {
        for (int k = 0; k < K; ++k) {
            Rec &r = recs[nv * K + K + k];
            r.want_vcore = 0;
            set_waiter_rel(&r.w, k * 50);
            start_alarm(&r.w);
        }
    });
    foreign.join();
    REQUIRE(wait_for([&] { return g_fired_total.load() >= n; }, 10));
    for (int i = 0; i < n; ++i) {
        INFO("alarm " << i << " wanted vcore " << recs[i].want_vcore);
        REQUIRE(recs[i].fired == 1);
        REQUIRE(recs[i].ran_on == recs[i].want_vcore);
        REQUIRE(recs[i].in_vcore_ctx);
    }
}

TEST_CASE("stop_alarm is true exactly when the callback never runs") {
    testwd::Watchdog wd(30, "stop_alarm races");
    fifo::init();
    constexpr int N = 4000;
    auto recs = make_recs(N);
    g_fired_total = 0;
    int nv = max_vcores();
    int parts = std::max(2, nv);
    std::atomic<int> stopped_total{0};
    in_parallel(parts, [&](int p, std::mt19937 &rng) {
        constexpr int kBatch = 32;
        for (int base = p * kBatch; base < N; base += parts * kBatch) {
            int end = std::min(N, base + kBatch);
            for (int i = base; i < end; ++i) {
                Rec &r = recs[i];
                set_waiter_rel(&r.w, rng() % 300);
                // Another vcore than ours: the stop races a remote fire.
                r.w.vcoreid = other_vcore(rng);
                start_alarm(&r.w);
            }
            if (rng() % 2) fifo::yield();
            for (int i = base; i < end; ++i) {
                spin_until_near(recs[i].w.wake_up_time, rng);
                recs[i].stopped = stop_alarm(&recs[i].w);
                stopped_total += recs[i].stopped;
            }
        }
    });
    REQUIRE(wait_for(
        [&] { return g_fired_total.load() + stopped_total.load() >= N; }, 10));
    linger(30000);
    INFO("stopped " << stopped_total.load() << ", fired "
                    << g_fired_total.load());
    REQUIRE(g_fired_total + stopped_total == N);
    for (int i = 0; i < N; ++i) {
        INFO("alarm " << i << " stopped=" << recs[i].stopped);
        REQUIRE(recs[i].fired + (recs[i].stopped ? 1 : 0) == 1);
        REQUIRE_FALSE(recs[i].early);
    }
    // Stopped alarms are idle again: stopping once more says false.
    for (int i = 0; i < N; ++i) REQUIRE_FALSE(stop_alarm(&recs[i].w));
}

TEST_CASE(
    "reset_alarm_abs is true exactly when the alarm fires at the new time") {
    testwd::Watchdog wd(30, "reset_alarm_abs races");
    fifo::init();
    constexpr int N = 4000;
    auto recs = make_recs(N);
    g_fired_total = 0;
    int nv = max_vcores();
    int parts = std::max(2, nv);
    in_parallel(parts, [&](int p, std::mt19937 &rng) {
        constexpr int kBatch = 32;
        for (int base = p * kBatch; base < N; base += parts * kBatch) {
            int end = std::min(N, base + kBatch);
            for (int i = base; i < end; ++i) {
                Rec &r = recs[i];
                set_waiter_rel(&r.w, rng() % 300);
                r.old_t = r.w.wake_up_time;
                r.w.vcoreid = other_vcore(rng);
                start_alarm(&r.w);
            }
            if (rng() % 2) fifo::yield();
            for (int i = base; i < end; ++i) {
                Rec &r = recs[i];
                spin_until_near(r.old_t, rng);
                r.new_t = parlib_now_us() + 500 + rng() % 2000;
                r.stopped = reset_alarm_abs(&r.w, r.new_t);
            }
        }
    });
    REQUIRE(wait_for([&] { return g_fired_total.load() >= N; }, 10));
    linger(30000);
    REQUIRE(g_fired_total == N);
    int moved = 0;
    for (int i = 0; i < N; ++i) {
        Rec &r = recs[i];
        INFO("alarm " << i << " reset=" << r.stopped);
        REQUIRE(r.fired == 1);
        REQUIRE_FALSE(r.early);
        REQUIRE(r.fired_for == (r.stopped ? r.new_t : r.old_t));
        moved += r.stopped;
    }
    INFO("reset to the new time: " << moved << " of " << N);
    SUCCEED();
}

namespace {
std::atomic<int> g_restarts{0};
std::atomic<bool> g_restart_early{false};

void restart_cb(alarm_waiter *w) {
    if (parlib_now_us() < w->wake_up_time) g_restart_early = true;
    if (g_restarts.fetch_add(1) + 1 < 20) {
        set_waiter_inc(w, 300);
        start_alarm(w);
    }
}
}  // namespace

TEST_CASE("an alarm can restart itself from its callback") {
    testwd::Watchdog wd(20, "alarm restart");
    fifo::init();
    alarm_waiter w;
    init_waiter(&w, restart_cb);
    set_waiter_rel(&w, 100);
    start_alarm(&w);
    REQUIRE(wait_for([] { return g_restarts.load() >= 20; }, 10));
    linger(10000);
    REQUIRE(g_restarts == 20);
    REQUIRE_FALSE(g_restart_early);
    REQUIRE_FALSE(stop_alarm(&w));  // done: nothing to stop
}

TEST_CASE("a far alarm can be stopped or moved, and stopping twice is false") {
    testwd::Watchdog wd(20, "stop far alarm");
    fifo::init();
    auto recs = make_recs(2);
    g_fired_total = 0;
    set_waiter_rel(&recs[0].w, 10'000'000);
    start_alarm(&recs[0].w);
    REQUIRE(stop_alarm(&recs[0].w));
    REQUIRE_FALSE(stop_alarm(&recs[0].w));
    REQUIRE_FALSE(reset_alarm_abs(&recs[0].w, parlib_now_us()));

    set_waiter_rel(&recs[1].w, 10'000'000);
    start_alarm(&recs[1].w);
    uint64_t soon = parlib_now_us() + 2000;
    REQUIRE(reset_alarm_abs(&recs[1].w, soon));
    REQUIRE(wait_for([&] { return recs[1].fired.load() == 1; }, 5));
    linger(10000);
    REQUIRE(g_fired_total == 1);
    REQUIRE(recs[0].fired == 0);
    REQUIRE(recs[1].fired_for == soon);
    REQUIRE_FALSE(recs[1].early);
}

TEST_CASE("uth_sleep_us blocks only the sleeping uthread") {
    testwd::Watchdog wd(20, "uth_sleep_us blocks only the uthread");
    fifo::init();
    // As many sleepers as vcores. Between entering and leaving the sleep
    // phase a sleeper gives its vcore away only inside uth_sleep_us: if
    // sleeping held the vcore, no other uthread could ever run while all
    // sleepers are in that phase. They keep sleeping (in 20 ms naps) until
    // the worker has been seen running then, or for at most 5 s.
    int nv = max_vcores();
    std::atomic<int> asleep{0}, done{0};
    std::atomic<long> progress{0};
    std::atomic<bool> early{false};
    std::vector<fifo::Thread *> ts;
    for (int i = 0; i < nv; ++i)
        ts.push_back(fifo::spawn([&] {
            asleep++;
            uint64_t end = parlib_now_us() + 5'000'000;
            do {
                uint64_t t0 = parlib_now_us();
                uth_sleep_us(20000);
                if (parlib_now_us() - t0 < 20000) early = true;
            } while (progress.load() == 0 && parlib_now_us() < end);
            asleep--;
            done++;
        }));
    ts.push_back(fifo::spawn([&] {
        while (done.load() < nv) {
            if (asleep.load() == nv) progress++;
            fifo::yield();
        }
    }));
    for (auto *t : ts) fifo::join(t);
    REQUIRE_FALSE(early);
    REQUIRE(progress > 0);
}

TEST_CASE("uth_sleep_us sleeps at least the time asked, in any thread") {
    testwd::Watchdog wd(20, "uth_sleep_us duration");
    fifo::init();
    std::mt19937 rng(3);
    for (int i = 0; i < 50; ++i) {
        uint64_t us = rng() % 3000;
        uint64_t t0 = parlib_now_us();
        uth_sleep_us(us);
        REQUIRE(parlib_now_us() - t0 >= us);
    }
    uint64_t foreign_elapsed = 0;
    bool foreign_is_uthread = true;
    std::thread t([&] {
        foreign_is_uthread = uthread_self() != nullptr;
        uint64_t t0 = parlib_now_us();
        uth_sleep_us(20000);
        foreign_elapsed = parlib_now_us() - t0;
    });
    t.join();
    REQUIRE_FALSE(foreign_is_uthread);
    REQUIRE(foreign_elapsed >= 20000);
}
