// Alarms (parlib/alarm.h) and uth_sleep_us on the FIFO test scheduler.
// Every test runs under whatever PARLIB_VCORES is set (verify with 1, 2, 4).
#include <parlib/alarm.h>
#include <parlib/io.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/thread_stats.hpp"
#include "support/fifo_sched.hpp"
#include "support/self_exec.hpp"
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
void yield_for(uint64_t us) {
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
    yield_for(30000);  // any duplicate firing would show up now
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
    // Every thread is made before the first alarm starts, and none sleeps
    // in the kernel until the last one ran: an expiry that finds a vcore's
    // uthread asleep in a system call (making a thread may wait in the
    // kernel, so may pthread_join) goes to another vcore by design.
    std::atomic<bool> go{false}, started{false};
    std::vector<fifo::Thread *> ts;
    for (int p = 0; p < nv; ++p)
        ts.push_back(fifo::spawn([&, p] {
            while (!go.load()) fifo::yield();
            // -1 from a uthread: the vcore it is on when starting the alarm.
            std::mt19937 g(1234 + p);
            for (int k = p; k < K; k += nv) {
                Rec &r = recs[nv * K + k];
                set_waiter_rel(&r.w, g() % 5000);
                r.want_vcore = vcore_id();  // no yield before start: still true
                start_alarm(&r.w);
                fifo::yield();
            }
        }));
    std::thread foreign([&] {
        while (!go.load()) usleep(100);
        // -1 from a thread that is not on any vcore: vcore 0.
        for (int k = 0; k < K; ++k) {
            Rec &r = recs[nv * K + K + k];
            r.want_vcore = 0;
            set_waiter_rel(&r.w, k * 50);
            start_alarm(&r.w);
        }
        started = true;
    });
    // Named vcores.
    for (int v = 0; v < nv; ++v)
        for (int k = 0; k < K; ++k) {
            Rec &r = recs[v * K + k];
            r.want_vcore = v;
            r.w.vcoreid = v;
            set_waiter_rel(&r.w, rng() % 5000);
            start_alarm(&r.w);
        }
    go = true;
    REQUIRE(wait_for([&] { return started.load(); }, 10));
    REQUIRE(wait_for([&] { return g_fired_total.load() >= n; }, 10));
    for (auto *t : ts) fifo::join(t);
    foreign.join();
    // A stand-in may still run a few: the expiry's signal can also find a
    // uthread at a `syscall` instruction it is about to make (a fast one,
    // e.g. start_alarm's timer_settime), which looks like a restarted
    // kernel wait. Routing that ignored the vcore named would miss it in
    // about (nv-1)/nv of the alarms.
    int elsewhere = 0;
    for (int i = 0; i < n; ++i) {
        INFO("alarm " << i << " wanted vcore " << recs[i].want_vcore);
        REQUIRE(recs[i].fired == 1);
        REQUIRE(recs[i].in_vcore_ctx);
        if (recs[i].ran_on != recs[i].want_vcore) ++elsewhere;
    }
    INFO(elsewhere << " of " << n << " ran on another vcore");
    REQUIRE(elsewhere <= n / 20);
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
    yield_for(30000);
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
    yield_for(30000);
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
    yield_for(10000);
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
    yield_for(10000);
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

namespace {

struct KernelWait {
    alarm_waiter w;
    std::atomic<uint32_t> word{0};
    std::atomic<int> ran_on{-2};
};

long futex_op(std::atomic<uint32_t> *word, int op, uint32_t val,
              const timespec *ts) {
    return syscall(SYS_futex, reinterpret_cast<uint32_t *>(word), op, val, ts,
                   nullptr, 0);
}

void wake_kernel_waiter(alarm_waiter *a) {
    auto *k = static_cast<KernelWait *>(a->data);
    k->ran_on = vcore_id();
    k->word.store(1);
    futex_op(&k->word, FUTEX_WAKE_PRIVATE, 1, nullptr);
}

}  // namespace

TEST_CASE("an alarm whose vcore is blocked in the kernel runs on another "
          "vcore") {
    testwd::Watchdog wd(40, "alarm of a kernel-blocked vcore");
    fifo::init();
    // With one vcore a uthread that sleeps in the kernel holds the only
    // one: nothing can run the callback until the sleep ends.
    if (max_vcores() < 2) return;
    // Even rounds: the alarm expires during the kernel wait. Odd rounds:
    // it expires while this uthread still runs (spinning past the
    // deadline), so its event is already queued here when the wait starts.
    for (int round = 0; round < 8; ++round) {
        INFO("round " << round);
        KernelWait k;
        init_waiter(&k.w, wake_kernel_waiter);
        k.w.data = &k;
        // This uthread does not yield below, so it stays on `here`, where
        // the alarm expires while it sleeps in a raw futex wait (as glibc's
        // mutexes and TBB's own waits do) for what the callback does.
        int here = vcore_id();
        k.w.vcoreid = here;
        set_waiter_rel(&k.w, 10000 + 5000 * round);
        uint64_t t0 = parlib_now_us();
        start_alarm(&k.w);
        if (round % 2)
            while (parlib_now_us() < k.w.wake_up_time + 2000)
                __builtin_ia32_pause();
        while (k.word.load() == 0 && parlib_now_us() - t0 < 3000000) {
            timespec ts{0, 500000000};
            futex_op(&k.word, FUTEX_WAIT_PRIVATE, 0, &ts);
        }
        uint64_t waited = parlib_now_us() - t0;
        bool woken = k.word.load() != 0;
        // Before checking: let the callback finish with `k` in any case.
        REQUIRE(wait_for([&] { return k.ran_on.load() != -2; }, 10));
        REQUIRE(woken);
        REQUIRE(waited < 3000000);
        REQUIRE(k.ran_on != here);
    }
}

// ---- delivery without the service thread, parked vcores, interrupts ------

TEST_CASE("alarms do not wake the service thread") {
    testwd::Watchdog wd(20, "alarms and the service thread");
    fifo::init();
    // An I/O wait starts the service thread (it would have started with the
    // first alarm, when it drove them).
    int p[2];
    REQUIRE(pipe(p) == 0);
    REQUIRE(uth_wait_fd(p[0], POLLIN, 1000) == 0);  // nothing written
    yield_for(20000);
    long before = thread_stats::voluntary_switches_of("parlib-service");
    REQUIRE(before >= 0);
    constexpr int N = 100;  // 300 µs apart: one timer expiry each
    auto recs = make_recs(N);
    g_fired_total = 0;
    std::mt19937 rng(11);
    for (int i = 0; i < N; ++i) {
        recs[i].w.vcoreid = static_cast<int>(rng() % max_vcores());
        set_waiter_rel(&recs[i].w, 200 + i * 300);
        start_alarm(&recs[i].w);
    }
    REQUIRE(wait_for([] { return g_fired_total.load() >= N; }, 10));
    long after = thread_stats::voluntary_switches_of("parlib-service");
    INFO("service thread: " << before << " -> " << after
                            << " voluntary switches");
    // It sleeps in epoll_wait on an fd that never becomes ready.
    REQUIRE(after - before <= 2);
    for (int i = 0; i < N; ++i) REQUIRE(recs[i].fired == 1);
    close(p[0]);
    close(p[1]);
}

namespace {

// The main uthread blocks until this alarm's callback makes it runnable.
struct ParkedWake {
    alarm_waiter w;
    std::atomic<uthread *> blocked{nullptr};
    std::atomic<int> fired{0};
    std::atomic<int> ran_on{-2};
    std::atomic<bool> in_vcore_ctx{false};
};

void wake_blocked_cb(alarm_waiter *w) {
    auto *c = static_cast<ParkedWake *>(w->data);
    c->ran_on = vcore_id();
    c->in_vcore_ctx = in_vcore_context();
    c->fired++;
    uthread_runnable(c->blocked.load());
}

}  // namespace

TEST_CASE("a parked vcore is woken by its alarm") {
    testwd::Watchdog wd(20, "parked vcore woken by an alarm");
    fifo::init();
    for (int v = 0; v < max_vcores(); ++v) {
        INFO("vcore " << v);
        ParkedWake c;
        init_waiter(&c.w, wake_blocked_cb);
        c.w.data = &c;
        c.w.vcoreid = v;
        std::atomic<bool> all_idle{false};
        // The main uthread blocks; once no vcore has been online for 5 ms
        // (yielded vcores park after PARLIB_SPIN_US, 50 µs by default) a
        // foreign thread starts the alarm. Only its callback on vcore v
        // makes the main uthread runnable again, so if the parked vcore
        // were not woken, the watchdog would fire.
        std::thread starter([&] {
            while (!c.blocked.load()) usleep(100);
            uint64_t idle_since = parlib_now_us(), end = idle_since + 5000000;
            while (parlib_now_us() < end) {
                if (num_vcores() != 0) idle_since = parlib_now_us();
                if (parlib_now_us() - idle_since >= 5000) {
                    all_idle = true;
                    break;
                }
                usleep(200);
            }
            set_waiter_rel(&c.w, 1000);
            start_alarm(&c.w);
        });
        uthread_yield(
            true,
            [](uthread *u, void *arg) {
                uthread_has_blocked(u, UTH_BLK_MISC);
                static_cast<ParkedWake *>(arg)->blocked = u;
            },
            &c);
        starter.join();
        REQUIRE(all_idle);
        REQUIRE(c.fired == 1);
        REQUIRE(c.ran_on == v);
        REQUIRE(c.in_vcore_ctx);
    }
}

namespace {

std::atomic<bool> g_stop_spinning{false};
std::atomic<bool> g_spinner_done{false};
std::atomic<int> g_cb_runs{0};
std::atomic<bool> g_cb_saw_spinner_done{false};

void stop_spinner_cb(alarm_waiter *) {
    g_cb_saw_spinner_done = g_spinner_done.load();
    g_cb_runs++;
    g_stop_spinning = true;
}

// One vcore: a preemptible uthread spins until g_stop_spinning; an alarm
// with `flags` for vcore 0 sets it. A foreign thread sets it after 300 ms
// in any case.
void spin_against_alarm(unsigned flags) {
    fifo::init();
    REQUIRE(max_vcores() == 1);
    std::atomic<bool> spinning{false};
    auto *spinner = fifo::spawn([&] {
        uthread_set_preemptible(uthread_self(), true);
        spinning = true;
        while (!g_stop_spinning.load()) __builtin_ia32_pause();
        g_spinner_done = true;
    });
    std::thread backstop([&] {
        while (!spinning.load()) usleep(100);
        alarm_waiter w;
        init_waiter(&w, stop_spinner_cb);
        w.vcoreid = 0;
        w.ev_flags = flags;
        set_waiter_rel(&w, 20000);
        start_alarm(&w);
        usleep(300000);
        g_stop_spinning = true;
        while (g_cb_runs.load() == 0) usleep(1000);
    });
    fifo::join(spinner);
    backstop.join();
    REQUIRE(g_cb_runs == 1);
}

void run_child(const char *name, const char *vcores = "PARLIB_VCORES=1") {
    selfexec::require_clean_exit(name, {vcores}, 15000);
}

std::atomic<int> g_cb_vcore{-1};

void stop_spinner_where_cb(alarm_waiter *) {
    g_cb_vcore = vcore_id();
    stop_spinner_cb(nullptr);
}

}  // namespace

// Two vcores: a uthread that is not preemptible starts a plain alarm on its
// own vcore and spins until the alarm's callback stops it (a foreign thread
// after 3 s in any case), while the other vcore has nothing to run. The
// callback must not wait for the spinner: once the vcore has drained no
// event for ~20 ms, its wake-only events go to the idle vcore (alarm.cpp).
TEST_CASE("child: a plain alarm of a vcore held by a busy uthread runs on an "
          "idle one", "[.]") {
    fifo::init();
    REQUIRE(max_vcores() == 2);
    std::atomic<int> spinner_vcore{-1};
    std::atomic<uint64_t> started_us{0}, fired_us{0};
    auto *spinner = fifo::spawn([&] {
        alarm_waiter w;
        init_waiter(&w, stop_spinner_where_cb);
        set_waiter_rel(&w, 5000);
        started_us = parlib_now_us();
        spinner_vcore = vcore_id();  // no yield before start: still true
        start_alarm(&w);
        while (!g_stop_spinning.load()) __builtin_ia32_pause();
        fired_us = parlib_now_us();
        g_spinner_done = true;
    });
    std::thread backstop([&] {
        for (int ms = 0; ms < 3000 && !g_stop_spinning.load(); ++ms) usleep(1000);
        g_stop_spinning = true;
    });
    fifo::join(spinner);
    backstop.join();
    REQUIRE(g_cb_runs == 1);
    REQUIRE_FALSE(g_cb_saw_spinner_done);
    REQUIRE(g_cb_vcore != spinner_vcore);
    INFO("the spin lasted " << (fired_us - started_us) / 1000 << " ms");
    REQUIRE(fired_us - started_us < 2000000);
}

TEST_CASE("a plain alarm of a vcore held by a busy uthread runs on an idle "
          "one") {
    fifo::init();
    run_child("child: a plain alarm of a vcore held by a busy uthread runs on "
              "an idle one",
              "PARLIB_VCORES=2");
}

TEST_CASE("child: an EVENT_INTERRUPT alarm interrupts a spinning uthread",
          "[.]") {
    spin_against_alarm(EVENT_INTERRUPT);
    REQUIRE_FALSE(g_cb_saw_spinner_done);  // ran while it spun
}

TEST_CASE("child: a plain alarm waits for a spinning uthread", "[.]") {
    spin_against_alarm(0);
    REQUIRE(g_cb_saw_spinner_done);  // ran only once the vcore was free
}

TEST_CASE("an EVENT_INTERRUPT alarm interrupts a spinning uthread, a plain "
          "one does not") {
    fifo::init();
    run_child("child: an EVENT_INTERRUPT alarm interrupts a spinning uthread");
    run_child("child: a plain alarm waits for a spinning uthread");
}
