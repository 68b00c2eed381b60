// bench_wake: what an idle vcore costs, spinning versus parked.
//
// 1. Wake latency, two vcores (PARLIB_VCORES=2, PARLIB_SPIN_US=50, forced):
//    the main uthread on vcore 0 wakes vcore 1 and we time, on
//    CLOCK_MONOTONIC (consistent across CPUs), from just before the waking
//    call to the first instruction of the woken code on vcore 1:
//      - vcore_request(1)              -> the 2LS's sched_entry on vcore 1;
//      - send_event(EVENT_WAKEUP)      -> the event handler on vcore 1;
//      - uthread_runnable (2LS request) -> a full-TLS uthread's first line;
//    each with vcore 1 still spinning (woken 5 µs after it started
//    vcore_yield, inside the 50 µs window) and parked (woken 300 µs after).
//    Also the caller's side: how long vcore_request takes to return.
//    References: a pthread pinned to vcore 1's CPU spinning on a flag, and
//    one blocked in FUTEX_WAIT woken by FUTEX_WAKE. One sample = one wake;
//    a round's value is the median of its samples.
// 2. Idle CPU cost: CPU time consumed by an idle vcore per second of wall
//    time (its kernel thread's pthread_getcpuclockid clock). PARLIB_SPIN_US
//    is read once per process, so this binary re-executes itself
//    (--idle-child) with PARLIB_SPIN_US=10000000 (an idle vcore spins for
//    the whole measurement) and with the default 50 (it parks after 50 µs),
//    alternating the two as interleaved rounds.
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <parlib/event.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "bench_sched.hpp"
#include "harness.hpp"

extern char **environ;

namespace {

using bench::now_ns;

constexpr uint64_t kSpinDelayNs = 5'000;     // well inside the 50 µs window
constexpr uint64_t kParkDelayNs = 300'000;   // well past it
constexpr int kIdleMeasureMs = 150;

// ---- what vcore 1 reports (written on vcore 1 only) ---------------------

std::atomic<uint64_t> g_entry_seq{0}, g_entry_at{0};  // sched_entry ran
std::atomic<uint64_t> g_idle_mark{0}, g_idle_at{0};   // about to vcore_yield
std::atomic<uint64_t> g_event_seq{0}, g_event_at{0};  // handler ran
std::atomic<clockid_t> g_vc1_clock{0};
std::atomic<int> g_vc1_cpu{0};
std::atomic<bool> g_vc1_clock_set{false};

void entry_hook() {
    if (vcore_id() != 1) return;
    g_entry_at.store(now_ns(), std::memory_order_relaxed);
    g_entry_seq.fetch_add(1, std::memory_order_release);
    if (!g_vc1_clock_set.load(std::memory_order_relaxed)) {
        clockid_t c;  // vcore context runs on its kernel thread's own TLS
        pthread_getcpuclockid(pthread_self(), &c);
        g_vc1_clock.store(c, std::memory_order_relaxed);
        g_vc1_cpu.store(sched_getcpu(), std::memory_order_relaxed);
        g_vc1_clock_set.store(true, std::memory_order_release);
    }
}

void idle_hook() {
    if (vcore_id() != 1) return;
    g_idle_at.store(now_ns(), std::memory_order_relaxed);
    g_idle_mark.store(g_entry_seq.load(std::memory_order_relaxed),
                      std::memory_order_release);
}

void event_handler(event_msg *, unsigned, void *) {
    g_event_at.store(now_ns(), std::memory_order_relaxed);
    g_event_seq.fetch_add(1, std::memory_order_release);
}

// Waits until vcore 1 went idle after its latest entry, and `delay` more.
void wait_vcore1_idle(uint64_t delay) {
    while (g_idle_mark.load(std::memory_order_acquire) !=
           g_entry_seq.load(std::memory_order_acquire))
        __builtin_ia32_pause();
    bench::spin_until_ns(g_idle_at.load(std::memory_order_relaxed) + delay);
}

template <class F>
double median_of_samples(int64_t n, F sample) {
    std::vector<double> v;
    for (int64_t i = 0; i < n; ++i) v.push_back(sample());
    return bench::median(v);
}

// ---- the three parlib wake paths ---------------------------------------

double wake_by_request(uint64_t delay, bool caller_side) {
    wait_vcore1_idle(delay);
    uint64_t e0 = g_entry_seq.load(std::memory_order_acquire);
    uint64_t t0 = now_ns();
    vcore_request(1);
    uint64_t t_ret = now_ns();
    while (g_entry_seq.load(std::memory_order_acquire) == e0)
        __builtin_ia32_pause();
    return static_cast<double>(
        (caller_side ? t_ret : g_entry_at.load(std::memory_order_relaxed)) -
        t0);
}

event_msg g_msg;

double wake_by_event(uint64_t delay) {
    wait_vcore1_idle(delay);
    uint64_t e0 = g_event_seq.load(std::memory_order_acquire);
    uint64_t t0 = now_ns();
    send_event(&g_msg, EV_USER, 1, EVENT_WAKEUP);
    while (g_event_seq.load(std::memory_order_acquire) == e0)
        __builtin_ia32_pause();
    return static_cast<double>(g_event_at.load(std::memory_order_relaxed) - t0);
}

bsched::Thread g_uth;
std::atomic<uint64_t> g_uth_at{0};

void uth_body(void *) { g_uth_at.store(now_ns(), std::memory_order_relaxed); }

double wake_uthread(uint64_t delay) {
    wait_vcore1_idle(delay);
    bsched::arm(&g_uth, uth_body, nullptr, true);
    uint64_t t0 = now_ns();
    uthread_runnable(&g_uth.u);  // from a uthread: the 2LS requests a vcore
    for (;;) {  // main never yields here: it must stay on vcore 0
        bsched::spin_lock(g_uth.lock);
        bool d = g_uth.done;
        bsched::spin_unlock(g_uth.lock);
        if (d) break;
        __builtin_ia32_pause();
    }
    return static_cast<double>(g_uth_at.load(std::memory_order_relaxed) - t0);
}

// ---- reference: a pthread pinned to vcore 1's CPU ------------------------

long futex(std::atomic<uint32_t> *w, int op, uint32_t v) {
    return syscall(SYS_futex, reinterpret_cast<uint32_t *>(w),
                   op | FUTEX_PRIVATE_FLAG, v, nullptr, nullptr, 0);
}

struct Ref {
    std::atomic<uint32_t> arm{0}, flag{0};
    std::atomic<uint64_t> ready_seq{0}, done_seq{0}, woke_at{0};
    std::atomic<bool> spin{false};
};
Ref g_ref;

// Parks on `arm` between samples so it never competes with vcore 1.
void *ref_main(void *) {
    Ref &r = g_ref;
    uint32_t seen = 0;
    for (;;) {
        uint32_t a;
        while ((a = r.arm.load(std::memory_order_acquire)) == seen)
            futex(&r.arm, FUTEX_WAIT, seen);
        seen = a;
        bool spin = r.spin.load(std::memory_order_relaxed);
        r.ready_seq.fetch_add(1, std::memory_order_release);
        if (spin)
            while (r.flag.load(std::memory_order_acquire) == 0)
                __builtin_ia32_pause();
        else
            while (r.flag.load(std::memory_order_acquire) == 0)
                futex(&r.flag, FUTEX_WAIT, 0);
        r.woke_at.store(now_ns(), std::memory_order_relaxed);
        r.flag.store(0, std::memory_order_relaxed);
        r.done_seq.fetch_add(1, std::memory_order_release);
    }
    return nullptr;
}

void ref_start(int cpu) {
    cpu_set_t m;
    CPU_ZERO(&m);
    CPU_SET(cpu, &m);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setaffinity_np(&a, sizeof m, &m);
    pthread_t t;
    if (int rc = pthread_create(&t, &a, ref_main, nullptr))
        bsched::die("pthread_create", rc);
    pthread_attr_destroy(&a);
}

double wake_ref(bool spin) {
    Ref &r = g_ref;
    wait_vcore1_idle(kParkDelayNs);  // vcore 1 parked: the CPU is the ref's
    r.spin.store(spin, std::memory_order_relaxed);
    uint64_t rs = r.ready_seq.load(std::memory_order_acquire);
    uint64_t ds = r.done_seq.load(std::memory_order_acquire);
    r.arm.fetch_add(1, std::memory_order_release);
    futex(&r.arm, FUTEX_WAKE, 1);
    while (r.ready_seq.load(std::memory_order_acquire) == rs)
        __builtin_ia32_pause();
    bench::spin_until_ns(now_ns() + (spin ? kSpinDelayNs : kParkDelayNs));
    uint64_t t0 = now_ns();
    r.flag.store(1, std::memory_order_release);
    if (!spin) futex(&r.flag, FUTEX_WAKE, 1);
    while (r.done_seq.load(std::memory_order_acquire) == ds)
        __builtin_ia32_pause();
    return static_cast<double>(r.woke_at.load(std::memory_order_relaxed) - t0);
}

// ---- idle CPU cost --------------------------------------------------------

// Child: bring vcore 1 online once, let it go idle, then measure its CPU
// time while main sleeps. Prints percent of one CPU.
int idle_child() {
    setenv("PARLIB_VCORES", "2", 1);
    bsched::g_entry_hook = entry_hook;
    bsched::g_idle_hook = idle_hook;
    bsched::init();
    vcore_request(1);
    while (!g_vc1_clock_set.load(std::memory_order_acquire)) usleep(100);
    wait_vcore1_idle(0);
    usleep(20000);  // a parking vcore has long parked by now
    clockid_t c = g_vc1_clock.load();
    struct timespec a, b;
    clock_gettime(c, &a);
    uint64_t w0 = now_ns();
    usleep(kIdleMeasureMs * 1000);  // blocks vcore 0's kernel thread only
    clock_gettime(c, &b);
    uint64_t w1 = now_ns();
    double cpu = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
    printf("%.4f\n", 100.0 * cpu / static_cast<double>(w1 - w0));
    fflush(stdout);
    _exit(0);  // skip static destructors while vcore 1 spins
}

double run_idle_child(const char *spin_us) {
    std::vector<std::string> env;
    for (char **e = environ; *e; ++e)
        if (strncmp(*e, "PARLIB_SPIN_US=", 15) &&
            strncmp(*e, "PARLIB_VCORES=", 14))
            env.emplace_back(*e);
    env.push_back(std::string("PARLIB_SPIN_US=") + spin_us);
    env.push_back("PARLIB_VCORES=2");
    std::vector<char *> envp;
    for (auto &s : env) envp.push_back(s.data());
    envp.push_back(nullptr);
    char self[] = "/proc/self/exe", flag[] = "--idle-child";
    char *argv[] = {self, flag, nullptr};
    int fd[2];
    if (pipe2(fd, O_CLOEXEC)) bsched::die("pipe2", errno);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
    pid_t pid;
    int rc = posix_spawn(&pid, self, &fa, nullptr, argv, envp.data());
    posix_spawn_file_actions_destroy(&fa);
    close(fd[1]);
    if (rc) bsched::die("posix_spawn", rc);
    char buf[64] = {};
    ssize_t got = read(fd[0], buf, sizeof buf - 1);
    close(fd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    if (got <= 0 || !WIFEXITED(st) || WEXITSTATUS(st)) bsched::die("idle child", st);
    return atof(buf);
}

}  // namespace

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--idle-child") == 0) return idle_child();

    // Idle cost first, before this process starts any vcore of its own.
    const char *kIdleSpin = "idle vcore, spinning (PARLIB_SPIN_US=10000000)";
    const char *kIdlePark = "idle vcore, parked (PARLIB_SPIN_US=50)";
    bench::Suite idle("idle vcore CPU", "% of a CPU");
    idle.add_measured(kIdleSpin, 1,
                      [](int64_t) { return run_idle_child("10000000"); });
    idle.add_measured(kIdlePark, 1,
                      [](int64_t) { return run_idle_child("50"); });
    idle.compare(kIdlePark, kIdleSpin);
    idle.run();

    setenv("PARLIB_VCORES", "2", 1);
    setenv("PARLIB_SPIN_US", "50", 1);  // the delays above assume 50 µs
    bsched::g_entry_hook = entry_hook;
    bsched::g_idle_hook = idle_hook;
    register_ev_handler(EV_USER, event_handler, nullptr);
    bsched::init();
    vcore_request(1);  // vcore 1's first entry records its CPU
    while (!g_vc1_clock_set.load(std::memory_order_acquire))
        __builtin_ia32_pause();
    ref_start(g_vc1_cpu.load());

    const int64_t kSamples = 11;
    const char *kReqS = "vcore_request → sched_entry, spinning vcore";
    const char *kReqP = "vcore_request → sched_entry, parked vcore";
    const char *kCallS = "vcore_request() caller cost, spinning vcore";
    const char *kCallP = "vcore_request() caller cost, parked vcore";
    const char *kEvS = "send_event(WAKEUP) → handler, spinning vcore";
    const char *kEvP = "send_event(WAKEUP) → handler, parked vcore";
    const char *kUthS = "uthread_runnable → uthread runs, spinning vcore";
    const char *kUthP = "uthread_runnable → uthread runs, parked vcore";
    const char *kRefS = "pthread spinning on a flag → sees the store";
    const char *kRefP = "pthread in FUTEX_WAIT → FUTEX_WAKE returns in it";
    bench::Suite s("wake latency");
    auto add = [&](const char *name, auto fn) {
        s.add_measured(name, kSamples,
                       [fn](int64_t n) { return median_of_samples(n, fn); });
    };
    add(kReqS, [] { return wake_by_request(kSpinDelayNs, false); });
    add(kReqP, [] { return wake_by_request(kParkDelayNs, false); });
    add(kCallS, [] { return wake_by_request(kSpinDelayNs, true); });
    add(kCallP, [] { return wake_by_request(kParkDelayNs, true); });
    add(kEvS, [] { return wake_by_event(kSpinDelayNs); });
    add(kEvP, [] { return wake_by_event(kParkDelayNs); });
    add(kUthS, [] { return wake_uthread(kSpinDelayNs); });
    add(kUthP, [] { return wake_uthread(kParkDelayNs); });
    add(kRefS, [] { return wake_ref(true); });
    add(kRefP, [] { return wake_ref(false); });
    for (const char *v : {kReqS, kEvS, kUthS}) s.compare(v, kRefS);
    for (const char *v : {kReqP, kEvP, kUthP}) s.compare(v, kRefP);
    s.compare(kCallP, kCallS);
    s.run();

    s.print("Wake latency: spinning vs parked vcore",
            "Time from just before the waking call on vcore 0 (main "
            "uthread) to the first instruction of the woken code on vcore 1 "
            "(CLOCK_MONOTONIC on both CPUs); \"caller cost\" = how long "
            "vcore_request() itself takes. Spinning: woken 5 µs after vcore "
            "1 entered vcore_yield (PARLIB_SPIN_US=50); parked: 300 µs after. "
            "References: a pthread pinned to vcore 1's CPU. A round's value "
            "is the median of 11 wakes.");
    idle.print("Idle vcore CPU cost: spinning vs parked",
               "CPU time of vcore 1's kernel thread per wall second while "
               "nothing is runnable (150 ms windows, main asleep), in a child "
               "process per round with PARLIB_SPIN_US as shown. A spinning "
               "vcore takes all the CPU it is given: below 100% only when "
               "other processes compete for its CPU.");
    return 0;
}
