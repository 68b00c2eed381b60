// running_sampler.hpp: counts the kernel threads of this process that run
// at once, for the composition tests (tests/compose): on lithe no more may
// run than there are harts.
//
// RunningSampler::start() starts a sampler thread (a plain pthread, not a
// hart) that reads every kernel thread's CPU time
// (/proc/self/task/*/schedstat) every 2 ms and records the largest number
// of threads that received a real share of the CPU time the process got in
// two consecutive such intervals (a tenth of it, and 2% of the interval at
// least), not counting itself: the threads that compete for the CPUs. Why
// CPU time and not just state R in /proc/.../stat: R also means "runnable,
// waiting for a CPU", and on this shared VM (load average often above 10) a
// thread woken for a microsecond (a futex handoff, a backing thread being
// created) can sit in R for milliseconds without doing any work; a thread
// that computes or spins accumulates CPU time. On lithe that number must
// never exceed the number of harts: vcores are the only threads that run
// work; the others (TBB's and OpenMP's would-be workers are contexts, the
// backing threads of their TLS sleep, the keeper runs microseconds) may not
// be running. parlib's own helper threads (named "parlib-service" and
// "parlib-keeper") are not counted, only reported (samples at which one
// ran): they run no runtime's work. The keeper, which keeps the TLS pool
// warm, wakes every 10 ms (a timed condition-variable wait) even when it has
// nothing to do, for some 30 us; with one hart, while other processes load
// the machine, about one run of a check in six shows it with 0.15-0.5 ms in
// two consecutive windows in which vcore 0 got 1-2.5 ms (traced by name and
// by the user pc of the system call it sleeps in: libc's futex wait of
// pthread_cond_clockwait, where no other thread of the process sleeps).
// peak_who() names each thread counted at the peak (tid, comm, the caller's
// label, CPU time, where it is now), for the failure message.
// peak_runnable() is the state-R count, for negative controls on the stock
// runtimes (more runnable threads than CPUs).
//
// Context: start/stop/getters from one ordinary thread; the getters are
// meaningful after stop() (which joins the sampler).
#pragma once

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
#include <map>
#include <set>
#include <string>
#include <thread>

namespace running_sampler {

// Reads a small /proc file into buf; false if it is gone (thread exited).
inline bool read_proc(const std::string &path, char *buf, size_t size) {
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
inline std::string where(int tid) {
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
    // `label(tid)` is appended to a counted thread's name in peak_who()
    // (e.g. " (vcore 1)"); it runs on the sampler thread.
    explicit RunningSampler(std::function<std::string(int)> label = {})
        : label_(std::move(label)) {}
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
                .append(label_ ? label_(tid) : "").append(":").append(std::to_string(ns))
                .append("ns").append(where(tid)).append(" ");
        }
        busy_before.swap(busy);
        runnable_before.swap(runnable_now);
        return n;
    }

    std::function<std::string(int)> label_;
    std::thread thread_;
    pid_t self_ = 0;
    std::atomic<bool> self_ready_{false}, stop_{false};
    int peak_ = 0, peak_runnable_ = 0;
    std::string peak_who_;
    long samples_ = 0, helper_samples_ = 0;
};

}  // namespace running_sampler
