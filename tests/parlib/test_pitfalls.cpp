// libc calls that misbehave inside uthreads, as guarded by parlib
// (libc_guards.cpp, affinity_guards.cpp, setxid_guards.cpp), and
// sched_getcpu under migration. Results computed in uthreads other than
// main are collected in atomics and asserted by main: Catch2 itself is not
// thread-safe.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <threads.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <parlib/event.h>

#include "support/fifo_sched.hpp"
#include "support/self_exec.hpp"

namespace {

cpu_set_t raw_getaffinity(pid_t pid) {
    cpu_set_t m;
    CPU_ZERO(&m);
    syscall(SYS_sched_getaffinity, pid, sizeof m, &m);
    return m;
}

int raw_getcpu() {
    unsigned cpu = 0;
    syscall(SYS_getcpu, &cpu, nullptr, nullptr);
    return static_cast<int>(cpu);
}

pid_t raw_gettid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// The process's affinity before parlib pinned anything: that of the parked
// original main thread, which nothing ever re-pins.
cpu_set_t process_mask() { return raw_getaffinity(getpid()); }

// Runs fn in a new uthread and waits for it.
void in_uthread(std::function<void()> fn, bool own_tls = true) {
    fifo::join(fifo::spawn(std::move(fn), own_tls));
}

// The union of the CPUs the vcores are pinned to, each read by the vcore
// itself in vcore context (an event handler).
cpu_set_t vcore_cpus() {
    static std::vector<cpu_set_t> masks;
    static std::atomic<int> seen{0};
    int n = max_vcores();
    masks.assign(n, cpu_set_t{});
    seen = 0;
    register_ev_handler(
        EV_USER + 1,
        [](event_msg *, unsigned, void *) {
            masks[vcore_id()] = raw_getaffinity(0);
            seen.fetch_add(1);
        },
        nullptr);
    std::vector<event_msg> msgs(n);
    for (int i = 0; i < n; ++i) send_event(&msgs[i], EV_USER + 1, i, EVENT_WAKEUP);
    while (seen.load() < n) fifo::yield();  // our own vcore handles on yield
    cpu_set_t u;
    CPU_ZERO(&u);
    for (auto &m : masks) CPU_OR(&u, &u, &m);
    return u;
}

struct Guard {
    std::atomic<bool> *flag;
    ~Guard() { flag->store(true); }
};

}  // namespace

// ---- pthread_exit -------------------------------------------------------

TEST_CASE("pthread_exit in a uthread unwinds its stack and ends it") {
    fifo::init();
    constexpr int kThreads = 40;
    std::atomic<int> dtors{0}, catches{0}, after{0}, started{0};
    std::vector<fifo::Thread *> ts;
    for (int i = 0; i < kThreads; ++i)
        ts.push_back(fifo::spawn(
            [&] {
                started++;
                struct Count {
                    std::atomic<int> *n;
                    ~Count() { n->fetch_add(1); }
                } c{&dtors};
                fifo::yield();  // likely migrate first
                try {
                    fifo::yield();
                    pthread_exit(nullptr);
                } catch (...) {
                    catches++;
                    throw;  // must be rethrown, like glibc's forced unwind
                }
                after++;
            },
            i % 4 != 0));  // some lightweight uthreads too
    for (auto *t : ts) fifo::join(t);
    REQUIRE(started == kThreads);
    REQUIRE(dtors == kThreads);
    REQUIRE(catches == kThreads);
    REQUIRE(after == 0);
}

TEST_CASE("thrd_exit in a uthread ends it like pthread_exit") {
    fifo::init();
    std::atomic<bool> dtor{false}, after{false};
    in_uthread([&] {
        Guard g{&dtor};
        fifo::yield();
        thrd_exit(3);
        after = true;
    });
    REQUIRE(dtor);
    REQUIRE_FALSE(after);
}

TEST_CASE("pthread_exit on a foreign pthread still ends that pthread") {
    fifo::init();
    std::atomic<bool> dtor{false};
    pthread_t th;
    REQUIRE(pthread_create(
                &th, nullptr,
                [](void *p) -> void * {
                    Guard g{static_cast<std::atomic<bool> *>(p)};
                    pthread_exit(reinterpret_cast<void *>(7));
                },
                &dtor) == 0);
    void *ret = nullptr;
    REQUIRE(pthread_join(th, &ret) == 0);
    REQUIRE(ret == reinterpret_cast<void *>(7));
    REQUIRE(dtor);
}

TEST_CASE("child: pthread_exit from the main uthread", "[.]") {
    fifo::init();
    pthread_exit(nullptr);
}

TEST_CASE("pthread_exit from the main uthread aborts naming the call") {
    fifo::init();
    auto r = selfexec::run("child: pthread_exit from the main uthread", {},
                           20000);
    INFO(r.output);
    REQUIRE_FALSE(r.timed_out);
    REQUIRE(r.signal == SIGABRT);
    REQUIRE(r.output.find("pthread_exit") != std::string::npos);
    REQUIRE(r.output.find("main uthread") != std::string::npos);
}

// ---- pthread_cancel -----------------------------------------------------

TEST_CASE("pthread_cancel of a uthread or a vcore returns ENOTSUP") {
    fifo::init();
    std::atomic<int> self_rc{-1}, vcore_rc{-1};
    std::atomic<pthread_t> uth{0};
    std::atomic<bool> stop{false};
    auto *t = fifo::spawn([&] {
        self_rc = pthread_cancel(pthread_self());
        uth = pthread_self();
        while (!stop) fifo::yield();
    });
    // A lightweight uthread's pthread_self() is its vcore's thread.
    in_uthread([&] { vcore_rc = pthread_cancel(pthread_self()); }, false);
    while (uth.load() == 0) fifo::yield();
    int main_rc = pthread_cancel(uth.load());
    int foreign_rc = -1;
    std::thread([&] { foreign_rc = pthread_cancel(uth.load()); }).join();
    int main_self_rc = pthread_cancel(pthread_self());
    stop = true;
    fifo::join(t);
    REQUIRE(self_rc == ENOTSUP);
    REQUIRE(vcore_rc == ENOTSUP);
    REQUIRE(main_rc == ENOTSUP);
    REQUIRE(foreign_rc == ENOTSUP);
    REQUIRE(main_self_rc == ENOTSUP);
}

TEST_CASE("pthread_cancel of an ordinary pthread still cancels it") {
    fifo::init();
    pthread_t th;
    REQUIRE(pthread_create(
                &th, nullptr,
                [](void *) -> void * {
                    for (;;) pause();  // a cancellation point
                },
                nullptr) == 0);
    REQUIRE(pthread_cancel(th) == 0);
    void *ret = nullptr;
    REQUIRE(pthread_join(th, &ret) == 0);
    REQUIRE(ret == PTHREAD_CANCELED);
}

// ---- pthread_kill -------------------------------------------------------

namespace {
std::atomic<int> g_usr1{0};
}

TEST_CASE("pthread_kill: another uthread is refused, self is delivered") {
    fifo::init();
    struct sigaction sa {};
    sa.sa_handler = [](int) { g_usr1++; };
    sigemptyset(&sa.sa_mask);
    REQUIRE(sigaction(SIGUSR1, &sa, nullptr) == 0);
    std::atomic<pthread_t> other{0};
    std::atomic<bool> stop{false};
    std::atomic<int> other_rc{-1}, probe_rc{-1}, self_rc{-1}, self_seen{-1};
    auto *t = fifo::spawn([&] {
        other = pthread_self();
        while (!stop) fifo::yield();
    });
    in_uthread([&] {
        while (other.load() == 0) fifo::yield();
        other_rc = pthread_kill(other.load(), SIGUSR1);
        probe_rc = pthread_kill(other.load(), 0);
        self_rc = pthread_kill(pthread_self(), SIGUSR1);  // synchronous
        self_seen = g_usr1.load();
    });
    stop = true;
    fifo::join(t);
    signal(SIGUSR1, SIG_DFL);
    REQUIRE(other_rc == ENOTSUP);
    REQUIRE(probe_rc == 0);
    REQUIRE(self_rc == 0);
    REQUIRE(self_seen == 1);
}

// ---- affinity -----------------------------------------------------------

TEST_CASE("affinity setters from a uthread do not re-pin anything") {
    fifo::init();
    cpu_set_t all = process_mask();
    // PARLIB_PIN=0 (run.sh on vCPU-packing kernels) leaves vcores unpinned.
    const char *pin_env = getenv("PARLIB_PIN");
    const bool pinned = !pin_env || atoi(pin_env) != 0;
    std::atomic<int> bad{0}, checked{0};
    std::atomic<pid_t> a_vcore_tid{0};
    std::vector<fifo::Thread *> ts;
    for (int i = 0; i < 8; ++i)
        ts.push_back(fifo::spawn([&] {
            for (int k = 0; k < 20; ++k) {
                uth_disable_notifs();  // stay on this vcore meanwhile
                cpu_set_t before = raw_getaffinity(0);
                errno = 0;
                if (sched_setaffinity(0, sizeof all, &all) != -1 ||
                    errno != ENOTSUP)
                    bad++;
                errno = 0;
                if (sched_setaffinity(raw_gettid(), sizeof all, &all) != -1 ||
                    errno != ENOTSUP)
                    bad++;
                if (pthread_setaffinity_np(pthread_self(), sizeof all, &all) !=
                    ENOTSUP)
                    bad++;
                cpu_set_t after = raw_getaffinity(0);
                if (!CPU_EQUAL(&before, &after) ||
                    (pinned && CPU_COUNT(&after) != 1))
                    bad++;  // pinned vcores have exactly one CPU
                a_vcore_tid = raw_gettid();
                uth_enable_notifs();
                checked++;
                fifo::yield();
            }
        }));
    for (auto *t : ts) fifo::join(t);
    REQUIRE(checked == 8 * 20);
    REQUIRE(bad == 0);
    // A foreign thread can neither re-pin a vcore, but still pins itself.
    int foreign_vcore_rc = 0, foreign_vcore_errno = 0, foreign_self_rc = -1;
    cpu_set_t one;
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &all)) {
            CPU_SET(c, &one);
            break;
        }
    cpu_set_t foreign_after;
    std::thread([&] {
        foreign_vcore_rc = sched_setaffinity(a_vcore_tid, sizeof one, &one);
        foreign_vcore_errno = errno;
        foreign_self_rc = sched_setaffinity(0, sizeof one, &one);
        foreign_after = raw_getaffinity(0);
    }).join();
    REQUIRE(foreign_vcore_rc == -1);
    REQUIRE(foreign_vcore_errno == ENOTSUP);
    REQUIRE(foreign_self_rc == 0);
    REQUIRE(CPU_EQUAL(&foreign_after, &one));
}

TEST_CASE("affinity getters in a uthread report the vcores' CPU set") {
    fifo::init();
    cpu_set_t expect = vcore_cpus();
    REQUIRE(CPU_COUNT(&expect) >= 1);
    std::atomic<int> bad{0};
    auto check = [&] {
        for (int k = 0; k < 10; ++k) {
            cpu_set_t a, b, c;
            if (sched_getaffinity(0, sizeof a, &a) != 0 ||
                !CPU_EQUAL(&a, &expect))
                bad++;
            if (sched_getaffinity(raw_gettid(), sizeof b, &b) != 0 ||
                !CPU_EQUAL(&b, &expect))
                bad++;
            if (pthread_getaffinity_np(pthread_self(), sizeof c, &c) != 0 ||
                !CPU_EQUAL(&c, &expect))
                bad++;
            fifo::yield();
        }
    };
    std::vector<fifo::Thread *> ts;
    for (int i = 0; i < 6; ++i) ts.push_back(fifo::spawn(check, i % 2 == 0));
    check();  // the main uthread
    cpu_set_t m;
    REQUIRE(sched_getaffinity(getpid(), sizeof m, &m) == 0);
    REQUIRE(CPU_EQUAL(&m, &expect));
    for (auto *t : ts) fifo::join(t);
    REQUIRE(bad == 0);
}

TEST_CASE("threads created from a uthread are not pinned to its vcore") {
    fifo::init();
    cpu_set_t all = process_mask();
    cpu_set_t plain, pinned, want_pinned;
    CPU_ZERO(&want_pinned);
    for (int c = CPU_SETSIZE - 1; c >= 0; --c)
        if (CPU_ISSET(c, &all)) {
            CPU_SET(c, &want_pinned);
            break;
        }
    in_uthread([&] {
        std::thread([&] { plain = raw_getaffinity(0); }).join();
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setaffinity_np(&a, sizeof want_pinned, &want_pinned);
        pthread_t th;
        pthread_create(
            &th, &a,
            [](void *p) -> void * {
                *static_cast<cpu_set_t *>(p) = raw_getaffinity(0);
                return nullptr;
            },
            &pinned);
        pthread_join(th, nullptr);
        pthread_attr_destroy(&a);
    });
    REQUIRE(CPU_EQUAL(&plain, &all));
    REQUIRE(CPU_EQUAL(&pinned, &want_pinned));
}

// ---- sched_getcpu -------------------------------------------------------

TEST_CASE("sched_getcpu matches the kernel in migrating uthreads and main") {
    fifo::init();
    std::atomic<long> samples{0}, wrong{0};
    auto sample = [&] {
        for (int k = 0, tries = 0; k < 500 && tries < 50000; ++tries) {
            uth_disable_notifs();  // no uthread migration between the reads
            int a = raw_getcpu();
            int b = sched_getcpu();
            int c = raw_getcpu();
            uth_enable_notifs();
            // a != c: the kernel moved the vcore's thread between the reads
            // (PARLIB_PIN=0 leaves vcores unpinned), so b may be either;
            // such a sample says nothing. Otherwise b must be the kernel's.
            if (a == c) {
                if (b != a) wrong++;
                samples++;
                ++k;
            }
            fifo::yield();
        }
    };
    std::vector<fifo::Thread *> ts;
    for (int i = 0; i < 16; ++i) ts.push_back(fifo::spawn(sample, i % 4 != 0));
    sample();
    for (auto *t : ts) fifo::join(t);
    REQUIRE(samples == 17 * 500);
    REQUIRE(wrong == 0);
}

// ---- setuid family ------------------------------------------------------

namespace {

// The value after "key:" in /proc/self/task/<tid>/status, for every task.
std::vector<std::string> task_field(const char *key) {
    std::vector<std::string> out;
    DIR *d = opendir("/proc/self/task");
    if (!d) return out;
    std::vector<std::string> tids;
    while (dirent *e = readdir(d))
        if (e->d_name[0] != '.') tids.push_back(e->d_name);
    closedir(d);
    std::string want = std::string(key) + ":";
    for (auto &tid : tids) {
        std::ifstream f("/proc/self/task/" + tid + "/status");
        std::string line;
        while (std::getline(f, line))
            if (line.compare(0, want.size(), want) == 0) {
                out.push_back(line.substr(want.size()));
                break;
            }
    }
    return out;
}

// True when every task's `key` line equals `value` (tab-separated fields).
bool all_tasks(const char *key, const std::string &value) {
    auto v = task_field(key);
    if (v.empty()) return false;
    for (auto &s : v) {
        size_t b = s.find_first_not_of(" \t");
        size_t e = s.find_last_not_of(" \t");
        std::string t = b == std::string::npos ? "" : s.substr(b, e - b + 1);
        if (t != value) return false;
    }
    return true;
}

// Uthreads that occupy the other vcores (with their own TLS loaded) while
// a set*id broadcast runs.
struct Spinners {
    std::atomic<bool> stop{false};
    std::atomic<int> running{0};
    std::vector<fifo::Thread *> ts;
    explicit Spinners(int n) {
        for (int i = 0; i < n; ++i)
            ts.push_back(fifo::spawn([this] {
                running++;
                while (!stop.load()) __builtin_ia32_pause();
            }));
    }
    ~Spinners() {
        stop = true;
        for (auto *t : ts) fifo::join(t);
    }
};

}  // namespace

TEST_CASE("child: setuid family", "[.]") {
    fifo::init();
    bool root = geteuid() == 0;
    Spinners sp(max_vcores() - 1);
    while (sp.running.load() < max_vcores() - 1) sched_yield();
    std::atomic<int> rc1{-2}, rc2{-2};

    if (!root) {
        // Same ids: allowed unprivileged; still a full broadcast.
        uid_t r, e, s;
        getresuid(&r, &e, &s);
        in_uthread([&] { rc1 = setresuid(r, e, s); });
        REQUIRE(rc1 == 0);
        REQUIRE(setresuid(r, e, s) == 0);
        int frc = -2;
        std::thread([&] { frc = setresuid(r, e, s); }).join();
        REQUIRE(frc == 0);
        WARN("not root: set*id calls were only made with unchanged ids");
        return;
    }
    // From a uthread: every kernel thread (vcores, parked backing threads,
    // the parked main thread, foreign threads) must take the new egid.
    in_uthread([&] { rc1 = setresgid(0, 4321, 0); });
    REQUIRE(rc1 == 0);
    CHECK(all_tasks("Gid", "0\t4321\t0\t4321"));
    in_uthread([&] { rc2 = setresgid(0, 0, 0); });
    REQUIRE(rc2 == 0);
    CHECK(all_tasks("Gid", "0\t0\t0\t0"));

    // From the main uthread.
    gid_t saved[64];
    int nsaved = getgroups(64, saved);
    REQUIRE(nsaved >= 0);
    gid_t gs[2] = {4321, 4322};
    REQUIRE(setgroups(2, gs) == 0);
    CHECK(all_tasks("Groups", "4321 4322"));

    // From a foreign thread while uthreads run on the vcores.
    int frc = -2;
    std::thread([&] { frc = setresgid(0, 4323, 0); }).join();
    REQUIRE(frc == 0);
    CHECK(all_tasks("Gid", "0\t4323\t0\t4323"));
    REQUIRE(setresgid(0, 0, 0) == 0);

    // Every other member of the family, from a lightweight and a full-TLS
    // uthread, with unchanged ids.
    for (bool own : {true, false}) {
        std::atomic<int> fails{0};
        in_uthread(
            [&] {
                fails += setuid(0) != 0;
                fails += setgid(0) != 0;
                fails += seteuid(0) != 0;
                fails += setegid(0) != 0;
                fails += setreuid(0, 0) != 0;
                fails += setregid(0, 0) != 0;
                fails += setresuid(0, 0, 0) != 0;
                fails += initgroups("root", 0) != 0;
                fails += setgroups(static_cast<size_t>(nsaved), saved) != 0;
            },
            own);
        REQUIRE(fails == 0);
    }
    CHECK(all_tasks("Gid", "0\t0\t0\t0"));
    CHECK(all_tasks("Uid", "0\t0\t0\t0"));
    // errno reaches the calling uthread: an unprivileged-looking failure.
    std::atomic<int> err{0};
    in_uthread([&] {
        errno = 0;
        if (setgroups(static_cast<size_t>(1) << 30, saved) == -1) err = errno;
    });
    REQUIRE(err == EINVAL);
}

TEST_CASE("setuid family works from uthreads and does not hang") {
    fifo::init();
    auto r = selfexec::run("child: setuid family", {}, 60000);
    INFO(r.output);
    REQUIRE_FALSE(r.timed_out);
    REQUIRE(r.exited);
    REQUIRE(r.exit_code == 0);
}

// ---- warnings -----------------------------------------------------------

TEST_CASE("child: guard warnings", "[.]") {
    fifo::init();
    in_uthread([] {
        cpu_set_t m = raw_getaffinity(0);
        for (int i = 0; i < 3; ++i) {
            (void)pthread_cancel(pthread_self());
            (void)sched_setaffinity(0, sizeof m, &m);
            (void)pthread_setaffinity_np(pthread_self(), sizeof m, &m);
        }
    });
    std::atomic<pthread_t> other{0};
    std::atomic<bool> stop{false};
    auto *t = fifo::spawn([&] {
        other = pthread_self();
        while (!stop) fifo::yield();
    });
    while (other.load() == 0) fifo::yield();
    for (int i = 0; i < 3; ++i) (void)pthread_kill(other.load(), SIGUSR1);
    stop = true;
    fifo::join(t);
}

TEST_CASE("guard warnings are printed once, naming the call") {
    fifo::init();
    auto r = selfexec::run("child: guard warnings", {}, 20000);
    INFO(r.output);
    REQUIRE(r.exited);
    REQUIRE(r.exit_code == 0);
    auto count = [&](const std::string &s) {
        int n = 0;
        for (size_t p = r.output.find(s); p != std::string::npos;
             p = r.output.find(s, p + 1))
            ++n;
        return n;
    };
    CHECK(count("parlib: pthread_cancel:") == 1);
    CHECK(count("parlib: sched_setaffinity:") == 1);
    CHECK(count("parlib: pthread_setaffinity_np:") == 1);
    CHECK(count("parlib: pthread_kill:") == 1);
}
