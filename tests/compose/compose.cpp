// compose.cpp: oneTBB and OpenMP nested in each other in one process, the
// SPQR-like pattern the two adapters exist for. An unmodified program
// (compiled -fopenmp, linked -ltbb); tests/compose/CMakeLists.txt links it
// against liblithe_omp + liblithe_tbb ("lithe") and against the stock
// runtimes ("ref").
//
// `compose CHECK` runs one composition and checks its result:
//   omp_in_tbb    tbb::parallel_for whose tasks each run an omp parallel for
//   tbb_in_omp    an omp parallel region whose members each run
//                 tbb::parallel_reduce
//   omp_tbb_omp   omp region -> tbb::parallel_for per member -> omp region
//   tbb_omp_tbb   tbb::parallel_for -> omp region per task ->
//                 tbb::parallel_reduce per member
//   all           each of them in turn
//
// While it runs, a sampler thread (a plain pthread, not a hart) reads every
// kernel thread's CPU time (/proc/self/task/*/schedstat) every 2 ms and
// records the largest number of threads that received a real share of the
// CPU time the process got in two consecutive such intervals (a tenth of
// it, and 2% of the interval at least), not counting itself: the threads
// that compete for the CPUs. Why CPU time and not just state R in /proc/.../stat: R also means
// "runnable, waiting for a CPU", and on this shared VM (load average often
// above 10) a thread woken for a microsecond (a futex handoff, a backing
// thread being created) can sit in R for milliseconds without doing any work; a thread that
// computes or spins accumulates CPU time. On lithe that number must never
// exceed the number of harts: vcores are the only threads that run work;
// the others (TBB's and OpenMP's would-be workers are contexts, the backing
// threads of their TLS sleep, the keeper runs microseconds) may not be
// running. parlib's own helper threads (named "parlib-service" and
// "parlib-keeper") are not counted, only reported (samples at which one
// ran): they run no runtime's work. The keeper, which keeps the TLS pool
// warm, wakes every 10 ms (a timed condition-variable wait) even when it has
// nothing to do, for some 30 us; with one hart, while other processes load
// the machine, about one run of a check in six shows it with 0.15-0.5 ms
// in two consecutive windows in which vcore 0 got 1-2.5 ms (traced by name
// and by the user pc of the system call it sleeps in: libc's futex wait of
// pthread_cond_clockwait, where no other thread of the process sleeps).
// Every other thread counts: the allowance for non-hart threads is 0
// (COMPOSE_ALLOW=N changes it), and the failure message names each thread
// counted (tid, comm, vcore, CPU time, where it is now).
// With EXPECT_OVERSUBSCRIBE=1 (the stock
// runtimes' run) the check is reversed and uses state R: more threads than
// CPUs must be runnable at two consecutive samples, which shows that the
// sampler sees the stock runtimes' threads competing (measured: 3-6 on 2
// CPUs). The CPU-share count is printed too, but is not asserted there:
// under heavy load from other processes a 2 ms window holds only one or
// two time slices of the process, so it can read as low as the CPU count.
//
// On lithe it also checks that harts moved through the tree: the inner
// level's work ran on at least two different vcores when there are two
// harts or more. The lithe and parlib calls are weak references (NULL in
// the stock run).
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/parallel_reduce.h>
#include <omp.h>

#include <dirent.h>
#include <dlfcn.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <map>
#include <set>
#include <thread>

#include "named_checks.hpp"

extern "C" int lithe_num_harts(void) __attribute__((weak));
extern "C" int vcore_id(void) __attribute__((weak));

namespace {

// Work whose result is known: sum of (i % 7) over [lo, hi).
long kernel_sum(long lo, long hi) {
    long s = 0;
    for (long i = lo; i < hi; ++i) s += i % 7;
    return s;
}
long expected_sum(long n) {
    long full = n / 7, s = full * 21;
    for (long r = 0; r < n % 7; ++r) s += r;
    return s;
}

// The vcores that ran inner-level work, one bit each, and each one's
// kernel thread id (a context's gettid is its vcore's), for the failure
// message (lithe only).
std::atomic<unsigned long long> g_inner_vcores{0};
std::atomic<int> g_vcore_tid[64];
void note_inner_vcore() {
    if (!vcore_id) return;
    int v = vcore_id();
    if (v < 0 || v >= 64) return;
    g_inner_vcores.fetch_or(1ULL << v);
    g_vcore_tid[v].store(static_cast<int>(syscall(SYS_gettid)), std::memory_order_relaxed);
}
// " (vcore N)" if tid is a vcore's kernel thread seen by note_inner_vcore.
std::string vcore_label(int tid) {
    for (int v = 0; v < 64; ++v)
        if (g_vcore_tid[v].load(std::memory_order_relaxed) == tid)
            return " (vcore " + std::to_string(v) + ")";
    return tid == getpid() ? " (main thread)" : "";
}
int inner_vcores() { return __builtin_popcountll(g_inner_vcores.load()); }

constexpr long kN = 200000;  // iterations per innermost kernel

long omp_region_sum(long n) {
    long s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static, 1000)
    for (long b = 0; b < n; b += 1000) {
        note_inner_vcore();
        s += kernel_sum(b, std::min(n, b + 1000));
    }
    return s;
}

long tbb_reduce_sum(long n) {
    return tbb::parallel_reduce(
        tbb::blocked_range<long>(0, n, 1000), 0L,
        [](const tbb::blocked_range<long> &r, long a) {
            note_inner_vcore();
            return a + kernel_sum(r.begin(), r.end());
        },
        std::plus<long>());
}

bool omp_in_tbb() {
    constexpr int kTasks = 32;
    std::atomic<long> bad{0};
    tbb::parallel_for(0, kTasks, [&](int) {
        if (omp_region_sum(kN) != expected_sum(kN)) ++bad;
    });
    CHECK(bad == 0);
    return true;
}

bool tbb_in_omp() {
    std::atomic<long> bad{0}, members{0};
#pragma omp parallel
    {
        ++members;
        for (int k = 0; k < 8; ++k)
            if (tbb_reduce_sum(kN) != expected_sum(kN)) ++bad;
    }
    CHECK(bad == 0);
    CHECK(members >= 1);
    return true;
}

bool omp_tbb_omp() {
    std::atomic<long> bad{0};
#pragma omp parallel
    {
        tbb::parallel_for(0, 8, [&](int) {
            // Nested inside an active region: needs max-active-levels > 1
            // to be parallel itself (set in main), else runs serialized.
            if (omp_region_sum(kN) != expected_sum(kN)) ++bad;
        });
    }
    CHECK(bad == 0);
    return true;
}

bool tbb_omp_tbb() {
    std::atomic<long> bad{0};
    tbb::parallel_for(0, 8, [&](int) {
#pragma omp parallel
        {
            if (tbb_reduce_sum(kN / 2) != expected_sum(kN / 2)) ++bad;
        }
    });
    CHECK(bad == 0);
    return true;
}

// --- the sampler ---

// Reads a small /proc file into buf; false if it is gone (thread exited).
bool read_proc(const std::string &path, char *buf, size_t size) {
    FILE *f = std::fopen(path.c_str(), "r");
    if (!f) return false;
    size_t len = std::fread(buf, 1, size - 1, f);
    std::fclose(f);
    buf[len] = 0;
    return true;
}

// Where thread `tid` is now, to name a thread that should not have run:
// " at LIB+0xOFFSET" of the user-space pc of the system call it sleeps in
// (/proc/.../syscall; resolve with addr2line -e LIB OFFSET), or " running".
std::string where(int tid) {
    char buf[256];
    if (!read_proc("/proc/self/task/" + std::to_string(tid) + "/syscall", buf, sizeof buf))
        return "";
    if (std::strncmp(buf, "running", 7) == 0) return " running";
    const char *pc = std::strrchr(buf, ' ');  // "nr args... sp pc"
    if (!pc) return "";
    void *addr = reinterpret_cast<void *>(std::strtoull(pc + 1, nullptr, 16));
    Dl_info i{};
    if (!dladdr(addr, &i) || !i.dli_fname) return " at " + std::string(pc + 1);
    const char *lib = std::strrchr(i.dli_fname, '/');
    char off[32];
    std::snprintf(off, sizeof off, "+0x%lx",
                  static_cast<unsigned long>(static_cast<char *>(addr) -
                                             static_cast<char *>(i.dli_fbase)));
    return std::string(" at ") + (lib ? lib + 1 : i.dli_fname) + off;
}

class RunningSampler {
  public:
    void start() {
        thread_ = std::thread([this] { loop(); });
        while (!self_ready_.load()) std::this_thread::yield();
    }
    int stop() {
        stop_ = true;
        thread_.join();
        return peak_;
    }
    long samples() const { return samples_; }
    // The largest number of threads in state R (running or runnable) at two
    // consecutive samples: what the stock runtimes' negative control uses.
    int peak_runnable() const { return peak_runnable_; }
    // Samples at which a parlib helper thread (not counted) was running.
    long helper_samples() const { return helper_samples_; }
    // "tid(comm):CPU ns in the interval" of the threads counted at the peak.
    const std::string &peak_who() const { return peak_who_; }

  private:
    void loop() {
        self_ = static_cast<pid_t>(syscall(SYS_gettid));
        self_ready_ = true;
        std::map<int, long long> prev_cpu;
        std::set<int> busy_before, runnable_before;
        long long prev_t = now_ns();
        while (!stop_.load(std::memory_order_relaxed)) {
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
            std::map<int, long long> cpu;
            std::string who;
            long long t = now_ns();
            int runnable = 0, helpers = 0;
            int r = count_running(t - prev_t, prev_cpu, cpu, busy_before,
                                  runnable_before, &runnable, &helpers, &who);
            if (runnable > peak_runnable_) peak_runnable_ = runnable;
            helper_samples_ += helpers > 0;
            prev_cpu.swap(cpu);
            prev_t = t;
            if (r > peak_) {
                peak_ = r;
                peak_who_ = who;
            }
            ++samples_;
        }
    }
    static long long now_ns() {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
            .count();
    }
    // Counts the threads (not the sampler) that received a real share of
    // the CPU time the process got in the interval since the previous
    // sample (schedstat: ns on CPU), at least a tenth of the process's
    // total and at least 2% of the interval, in this interval and the one
    // before (`busy_before`, updated here). Relative to the process, not
    // to the interval, so that the count does not depend on how loaded
    // the machine is; two intervals, so that a thread woken once for a
    // moment (a thread being created) in an interval where the process got
    // little CPU is not counted. parlib's helpers (comm "parlib-*") are
    // counted into *helpers instead. Fills
    // `cpu` with every thread's CPU time. Also counts into *runnable the
    // threads in state R now and at the previous sample (`runnable_before`,
    // updated here).
    int count_running(long long interval, const std::map<int, long long> &prev,
                      std::map<int, long long> &cpu, std::set<int> &busy_before,
                      std::set<int> &runnable_before, int *runnable,
                      int *helpers, std::string *who) const {
        DIR *d = opendir("/proc/self/task");
        if (!d) return 0;
        std::map<int, long long> ran;
        std::set<int> runnable_now;
        long long total = 0;
        while (dirent *e = readdir(d)) {
            if (e->d_name[0] == '.') continue;
            int tid = std::atoi(e->d_name);
            if (tid == self_) continue;
            char buf[512];
            std::string dir = std::string("/proc/self/task/") + e->d_name;
            if (read_proc(dir + "/stat", buf, sizeof buf)) {
                // "pid (comm) S ...": comm may contain spaces and parentheses.
                const char *rp = std::strrchr(buf, ')');
                if (rp && rp[1] == ' ' && rp[2] == 'R') {
                    runnable_now.insert(tid);
                    if (runnable_before.count(tid)) ++*runnable;
                }
            }
            if (!read_proc(dir + "/schedstat", buf, sizeof buf)) continue;
            long long on_cpu = std::atoll(buf);
            cpu[tid] = on_cpu;
            auto it = prev.find(tid);
            if (it == prev.end()) continue;  // new: no interval yet
            ran[tid] = on_cpu - it->second;
            total += on_cpu - it->second;
        }
        closedir(d);
        int n = 0;
        std::set<int> busy;
        for (auto [tid, ns] : ran) {
            if (ns * 10 < total || ns * 50 < interval) continue;
            busy.insert(tid);
            if (!busy_before.count(tid)) continue;  // not two windows running
            char comm[64] = "";
            std::string cpath = "/proc/self/task/" + std::to_string(tid) + "/comm";
            if (read_proc(cpath, comm, sizeof comm)) comm[std::strcspn(comm, "\n")] = 0;
            if (std::strncmp(comm, "parlib-", 7) == 0) {  // parlib's helpers
                ++*helpers;
                continue;
            }
            ++n;
            who->append(std::to_string(tid)).append("(").append(comm).append(")")
                .append(vcore_label(tid)).append(":").append(std::to_string(ns))
                .append("ns").append(where(tid)).append(" ");
        }
        busy_before.swap(busy);
        runnable_before.swap(runnable_now);
        return n;
    }

    std::thread thread_;
    pid_t self_ = 0;
    std::atomic<bool> self_ready_{false}, stop_{false};
    int peak_ = 0, peak_runnable_ = 0;
    std::string peak_who_;
    long samples_ = 0, helper_samples_ = 0;
};

const named_checks::Check kChecks[] = {
    {"omp_in_tbb", omp_in_tbb},
    {"tbb_in_omp", tbb_in_omp},
    {"omp_tbb_omp", omp_tbb_omp},
    {"tbb_omp_tbb", tbb_omp_tbb},
};

}  // namespace

int main(int argc, char **argv) {
    if (!named_checks::one_argument(argc, argv)) return 2;
    bool on_lithe = lithe_num_harts != nullptr;
    int harts = on_lithe ? lithe_num_harts()
                         : static_cast<int>(std::thread::hardware_concurrency());
    const char *allow_env = std::getenv("COMPOSE_ALLOW");
    int allow = allow_env ? std::atoi(allow_env) : 0;
    const char *over_env = std::getenv("EXPECT_OVERSUBSCRIBE");
    bool expect_over = over_env && std::strcmp(over_env, "1") == 0;
    omp_set_max_active_levels(2);  // three-level checks: two OpenMP levels

    // Warm-up: the first round makes every context (TBB workers, OpenMP
    // team members, hot teams of each master) and with each a backing
    // kernel thread that starts and then parks: running, but not a hart.
    // The sampled rounds reuse them and create no threads.
    if (int rc = named_checks::run(kChecks, argv[1], " (warm-up)")) return rc;
    RunningSampler sampler;
    sampler.start();
    // At least 200 samples (500 for the negative control: a heavily loaded
    // machine may hide the stock threads' competition in a short run), at
    // most 20 rounds.
    const long min_samples = expect_over ? 500 : 200;
    for (int round = 0; round < 20 && (round == 0 || sampler.samples() < min_samples);
         ++round)
        if (named_checks::run(kChecks, argv[1]) != 0) {
            sampler.stop();
            return 1;
        }
    int peak = sampler.stop();
    std::printf("%s: harts %d, peak running threads %d (allowance %d), "
                "peak runnable threads %d, %ld samples (%ld with a parlib "
                "helper running), inner work on %d vcores\n",
                argv[1], harts, peak, allow, sampler.peak_runnable(),
                sampler.samples(), sampler.helper_samples(), inner_vcores());
    if (expect_over) {
        if (sampler.peak_runnable() <= harts) {
            std::fprintf(stderr, "FAIL: expected more runnable threads than "
                                 "%d CPUs with the stock runtimes\n", harts);
            return 1;
        }
        return 0;
    }
    if (peak > harts + allow) {
        std::fprintf(stderr, "FAIL: %d kernel threads running at once, "
                             "only %d harts: %s\n", peak, harts,
                     sampler.peak_who().c_str());
        return 1;
    }
    if (on_lithe && harts >= 2 && inner_vcores() < 2) {
        std::fprintf(stderr, "FAIL: inner work ran on %d vcore(s) with %d "
                             "harts\n", inner_vcores(), harts);
        return 1;
    }
    return 0;
}
