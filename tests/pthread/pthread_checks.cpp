// pthread_checks.cpp: an unmodified pthreads program that checks its own
// results; tests/pthread/CMakeLists.txt runs it without the adapter (ref),
// linked with it (linked, plain -llithe_pthread) and with LD_PRELOAD.
// With EXPECT_LITHE=1 (every run but ref) it also checks that the threads
// really were lithe contexts; the lithe calls are weak references (NULL in
// the ref run).
//
//   create_join_many  400 threads (far more than harts) return values,
//                     pthread_self() in a thread equals its pthread_t
//   shares_harts      64 busy threads: on lithe the kernel threads that ran
//                     them are at most the harts (the vcores); in the ref
//                     run there is one per thread (the negative control)
//   producer_consumer bounded queue, 4 producers x 4 consumers, mutex +
//                     two condition variables (signal and broadcast)
//   mutex_kinds       recursive, errorcheck, trylock, timedlock
//   foreign_mixed     one mutex and condition variable shared by lithe
//                     threads and kernel threads made with libc's own
//                     pthread_create (mixed waiters on the same word)
//   barrier           8 threads x 200 rounds of pthread_barrier_wait
//   timed_waits       cond timedwait / clockwait time out and retake the mutex
//   misuse            join a detached thread (EINVAL), join self (EDEADLK),
//                     detach twice (EINVAL), tryjoin (EBUSY), timedjoin
//                     (ETIMEDOUT), pthread_exit's value, detach after exit
//   nested            threads that create and join threads (a binary tree
//                     of 127 threads, 64 leaves)
//   exit_running      main returns while 4 threads still spin: the process
//                     ends (exit status 0), as with kernel threads
//   keeper_unpinned   create + join pairs, more than parlib's TLS pool
//                     holds, start its keeper thread from main's (pinned)
//                     hart; once idle it has the process's affinity, not
//                     that hart's CPU (ref: there is no keeper)
//   libc_guards       libparlib's libc guards are reached through the
//                     adapter (adapters/common/libc_guard_forwards.cpp):
//                     setgid in main and setuid in a thread complete (a
//                     hang before: glibc's setxid broadcast), and a thread
//                     that is a lithe context gets ENOTSUP from
//                     pthread_setaffinity_np on itself (a kernel thread: 0);
//                     sched_getaffinity(0), in main and in a thread, reports
//                     what pthread_getaffinity_np does (a context: the CPUs
//                     it may run on, not its vcore's pin)
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "named_checks.hpp"
#include "pthread_test_support.hpp"

namespace {

using pthread_test::expect_lithe;
using pthread_test::kernel_thread;
using pthread_test::on_lithe_now;
using pthread_test::plus_ns;
using pthread_test::realtime_in;

pid_t tid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// --- create_join_many ---
struct Slot {
    long in;
    pthread_t self;
    bool lithe;
};

void *twice(void *p) {
    auto *s = static_cast<Slot *>(p);
    s->self = pthread_self();
    s->lithe = on_lithe_now();
    return reinterpret_cast<void *>(s->in * 2);
}

bool create_join_many() {
    constexpr int kN = 400;
    std::vector<Slot> slots(kN);
    std::vector<pthread_t> th(kN);
    for (int i = 0; i < kN; ++i) {
        slots[i].in = i;
        CHECK(pthread_create(&th[i], nullptr, twice, &slots[i]) == 0);
    }
    for (int i = 0; i < kN; ++i) {
        void *r = nullptr;
        CHECK(pthread_join(th[i], &r) == 0);
        CHECK(reinterpret_cast<long>(r) == 2L * i);
        CHECK(pthread_equal(slots[i].self, th[i]));
        CHECK(!expect_lithe() || slots[i].lithe);
    }
    return true;
}

// --- shares_harts ---
struct Seen {
    pid_t tids[16];
    int n;
};

void *busy(void *p) {
    auto *s = static_cast<Seen *>(p);
    unsigned long x = 0;
    for (int k = 0; k < 16; ++k) {
        s->tids[s->n++] = tid();
        for (int i = 0; i < 200000; ++i) {
            x += i;
            asm volatile("" : "+r"(x));  // keeps the loop
        }
        sched_yield();  // on lithe: lets the other threads at the hart
    }
    return nullptr;
}

bool shares_harts() {
    constexpr int kN = 64;
    std::vector<Seen> seen(kN);
    std::vector<pthread_t> th(kN);
    for (int i = 0; i < kN; ++i) {
        seen[i].n = 0;
        CHECK(pthread_create(&th[i], nullptr, busy, &seen[i]) == 0);
    }
    for (pthread_t t : th) CHECK(pthread_join(t, nullptr) == 0);
    std::set<pid_t> kernel;
    for (const Seen &s : seen) kernel.insert(s.tids, s.tids + s.n);
    if (expect_lithe()) {
        std::fprintf(stderr, "shares_harts: %d threads ran on %zu kernel threads, %d harts\n",
                     kN, kernel.size(), lithe_num_harts());
        CHECK(static_cast<int>(kernel.size()) <= lithe_num_harts());
    } else {
        CHECK(static_cast<int>(kernel.size()) == kN);
    }
    return true;
}

// --- producer_consumer ---
struct Queue {
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER;
    pthread_cond_t not_full = PTHREAD_COND_INITIALIZER;
    long buf[8];
    int head = 0, size = 0, producers_left = 0;
    long consumed_sum = 0, consumed = 0;
};
constexpr int kItems = 20000, kProducers = 4, kConsumers = 4;

void *produce(void *p) {
    auto *q = static_cast<Queue *>(p);
    for (long i = 1; i <= kItems / kProducers; ++i) {
        pthread_mutex_lock(&q->mu);
        while (q->size == 8) pthread_cond_wait(&q->not_full, &q->mu);
        q->buf[(q->head + q->size++) % 8] = i;
        pthread_cond_signal(&q->not_empty);
        pthread_mutex_unlock(&q->mu);
    }
    pthread_mutex_lock(&q->mu);
    if (--q->producers_left == 0) pthread_cond_broadcast(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
    return nullptr;
}

void *consume(void *p) {
    auto *q = static_cast<Queue *>(p);
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (q->size == 0 && q->producers_left > 0)
            pthread_cond_wait(&q->not_empty, &q->mu);
        if (q->size == 0) {
            pthread_mutex_unlock(&q->mu);
            return nullptr;
        }
        long v = q->buf[q->head];
        q->head = (q->head + 1) % 8;
        --q->size;
        q->consumed_sum += v;
        ++q->consumed;
        pthread_cond_signal(&q->not_full);
        pthread_mutex_unlock(&q->mu);
    }
}

bool producer_consumer() {
    Queue q;
    q.producers_left = kProducers;
    std::vector<pthread_t> th;
    for (int i = 0; i < kConsumers + kProducers; ++i) {
        pthread_t t;
        CHECK(pthread_create(&t, nullptr, i < kConsumers ? consume : produce, &q) == 0);
        th.push_back(t);
    }
    for (pthread_t t : th) CHECK(pthread_join(t, nullptr) == 0);
    constexpr long per = kItems / kProducers;
    CHECK(q.consumed == kItems);
    CHECK(q.consumed_sum == kProducers * per * (per + 1) / 2);
    return true;
}

// --- mutex_kinds ---
pthread_mutex_t g_held = PTHREAD_MUTEX_INITIALIZER;

void *try_other(void *p) {
    auto *m = static_cast<pthread_mutex_t *>(p);
    long rc = pthread_mutex_trylock(m);
    long urc = pthread_mutex_unlock(m);  // not the owner
    return reinterpret_cast<void *>(rc * 1000 + urc);
}

void *timed_other(void *) {
    struct timespec t = realtime_in(20'000'000);
    return reinterpret_cast<void *>(long{pthread_mutex_timedlock(&g_held, &t)});
}

bool mutex_kinds() {
    pthread_mutex_t rec = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
    pthread_mutex_t chk = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
    CHECK(pthread_mutex_lock(&rec) == 0);
    CHECK(pthread_mutex_lock(&rec) == 0);
    CHECK(pthread_mutex_trylock(&rec) == 0);
    CHECK(pthread_mutex_destroy(&rec) == EBUSY);
    pthread_t t;
    void *r;
    CHECK(pthread_create(&t, nullptr, try_other, &rec) == 0);
    CHECK(pthread_join(t, &r) == 0);
    CHECK(reinterpret_cast<long>(r) == EBUSY * 1000 + EPERM);
    for (int i = 0; i < 3; ++i) CHECK(pthread_mutex_unlock(&rec) == 0);
    CHECK(pthread_mutex_unlock(&rec) == EPERM);
    CHECK(pthread_mutex_lock(&chk) == 0);
    CHECK(pthread_mutex_lock(&chk) == EDEADLK);
    CHECK(pthread_mutex_trylock(&chk) == EBUSY);
    CHECK(pthread_mutex_unlock(&chk) == 0);
    CHECK(pthread_mutex_unlock(&chk) == EPERM);
    CHECK(pthread_mutex_destroy(&chk) == 0);
    CHECK(pthread_mutex_lock(&g_held) == 0);
    CHECK(pthread_create(&t, nullptr, timed_other, nullptr) == 0);
    CHECK(pthread_join(t, &r) == 0);
    CHECK(reinterpret_cast<long>(r) == ETIMEDOUT);
    CHECK(pthread_mutex_unlock(&g_held) == 0);
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_t dyn;
    CHECK(pthread_mutex_init(&dyn, &a) == 0);
    CHECK(pthread_mutex_lock(&dyn) == 0 && pthread_mutex_lock(&dyn) == 0);
    CHECK(pthread_mutex_unlock(&dyn) == 0 && pthread_mutex_unlock(&dyn) == 0);
    CHECK(pthread_mutex_destroy(&dyn) == 0);
    return true;
}

// --- foreign_mixed ---
struct Mixed {
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    long counter = 0;
    long turn = 0;  // ping-pong: even = lithe side, odd = kernel side
};
constexpr int kMixedIters = 20000, kPingPong = 2000;

void *mixed_add(void *p) {
    auto *m = static_cast<Mixed *>(p);
    for (int i = 0; i < kMixedIters; ++i) {
        pthread_mutex_lock(&m->mu);
        ++m->counter;
        pthread_mutex_unlock(&m->mu);
    }
    return nullptr;
}

template <int kParity>
void *ping(void *p) {
    auto *m = static_cast<Mixed *>(p);
    for (int i = 0; i < kPingPong; ++i) {
        pthread_mutex_lock(&m->mu);
        while (m->turn % 2 != kParity) pthread_cond_wait(&m->cv, &m->mu);
        ++m->turn;
        pthread_cond_broadcast(&m->cv);
        pthread_mutex_unlock(&m->mu);
    }
    return nullptr;
}

bool foreign_mixed() {
    Mixed m;
    pthread_t l[3], k[3];
    for (int i = 0; i < 3; ++i) {
        CHECK(pthread_create(&l[i], nullptr, mixed_add, &m) == 0);
        CHECK(kernel_thread(&k[i], mixed_add, &m) == 0);
    }
    for (int i = 0; i < 3; ++i) {
        CHECK(pthread_join(l[i], nullptr) == 0);
        CHECK(pthread_join(k[i], nullptr) == 0);
    }
    CHECK(m.counter == 6L * kMixedIters);
    pthread_t a, b, c, d;
    CHECK(pthread_create(&a, nullptr, ping<0>, &m) == 0);
    CHECK(kernel_thread(&b, ping<1>, &m) == 0);
    CHECK(pthread_join(a, nullptr) == 0);
    CHECK(pthread_join(b, nullptr) == 0);
    CHECK(m.turn == 2L * kPingPong);
    // The other way round: the kernel thread waits first.
    m.turn = 1;
    CHECK(kernel_thread(&c, ping<0>, &m) == 0);
    CHECK(pthread_create(&d, nullptr, ping<1>, &m) == 0);
    CHECK(pthread_join(c, nullptr) == 0);
    CHECK(pthread_join(d, nullptr) == 0);
    CHECK(m.turn == 1 + 2L * kPingPong);
    return true;
}

// --- barrier ---
constexpr int kBarrierThreads = 8, kRounds = 200;
pthread_barrier_t g_barrier;
std::atomic<int> g_phase_arrivals[kRounds];
std::atomic<int> g_serial{0}, g_barrier_bad{0};

void *barrier_worker(void *) {
    for (int r = 0; r < kRounds; ++r) {
        g_phase_arrivals[r].fetch_add(1);
        int rc = pthread_barrier_wait(&g_barrier);
        if (rc == PTHREAD_BARRIER_SERIAL_THREAD)
            g_serial.fetch_add(1);
        else if (rc != 0)
            g_barrier_bad.fetch_add(1);
        // Everyone of this round has arrived before anyone leaves it.
        if (g_phase_arrivals[r].load() != kBarrierThreads) g_barrier_bad.fetch_add(1);
    }
    return nullptr;
}

bool barrier() {
    CHECK(pthread_barrier_init(&g_barrier, nullptr, kBarrierThreads) == 0);
    pthread_t th[kBarrierThreads];
    for (pthread_t &t : th) CHECK(pthread_create(&t, nullptr, barrier_worker, nullptr) == 0);
    for (pthread_t t : th) CHECK(pthread_join(t, nullptr) == 0);
    CHECK(g_barrier_bad.load() == 0);
    CHECK(g_serial.load() == kRounds);
    CHECK(pthread_barrier_destroy(&g_barrier) == 0);
    return true;
}

// --- timed_waits ---
bool timed_waits() {
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    struct timespec t0;
    clock_gettime(CLOCK_REALTIME, &t0);
    struct timespec t = plus_ns(t0, 10'000'000);
    CHECK(pthread_mutex_lock(&mu) == 0);
    int rc;
    do rc = pthread_cond_timedwait(&cv, &mu, &t);
    while (rc == 0);
    CHECK(rc == ETIMEDOUT);
    CHECK(pthread_mutex_trylock(&mu) == EBUSY);  // retaken
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    CHECK(now.tv_sec > t.tv_sec || (now.tv_sec == t.tv_sec && now.tv_nsec >= t.tv_nsec));
    clock_gettime(CLOCK_MONOTONIC, &t);
    do rc = pthread_cond_clockwait(&cv, &mu, CLOCK_MONOTONIC, &t);
    while (rc == 0);
    CHECK(rc == ETIMEDOUT);
    t.tv_nsec = 2'000'000'000;
    CHECK(pthread_cond_timedwait(&cv, &mu, &t) == EINVAL);
    CHECK(pthread_mutex_unlock(&mu) == 0);
    return true;
}

// --- misuse ---
std::atomic<int> g_release{0};
std::atomic<bool> g_release_lithe{false};
std::atomic<int> g_release_started{0};

void *wait_release(void *) {
    g_release_lithe = on_lithe_now();
    g_release_started = 1;
    while (!g_release.load()) sched_yield();
    return reinterpret_cast<void *>(7L);
}

void *join_self(void *) { return reinterpret_cast<void *>(long{pthread_join(pthread_self(), nullptr)}); }

void *exits(void *) {
    pthread_exit(reinterpret_cast<void *>(42L));
}

bool misuse() {
    pthread_t t;
    void *r = nullptr;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    g_release = 0;
    g_release_started = 0;
    CHECK(pthread_create(&t, &a, wait_release, nullptr) == 0);
    CHECK(pthread_join(t, nullptr) == EINVAL);
    CHECK(pthread_detach(t) == EINVAL);
    g_release = 1;
    pthread_attr_destroy(&a);
    while (!g_release_started.load()) sched_yield();
    CHECK(!expect_lithe() || g_release_lithe);  // attributes given: still ours
    usleep(10000);  // lets the detached thread end (its cleanup is automatic)

    CHECK(pthread_create(&t, nullptr, join_self, nullptr) == 0);
    CHECK(pthread_join(t, &r) == 0);
    CHECK(reinterpret_cast<long>(r) == EDEADLK);

    g_release = 0;
    CHECK(pthread_create(&t, nullptr, wait_release, nullptr) == 0);
    CHECK(pthread_tryjoin_np(t, &r) == EBUSY);
    struct timespec ts = realtime_in(5'000'000);
    CHECK(pthread_timedjoin_np(t, &r, &ts) == ETIMEDOUT);
    g_release = 1;
    CHECK(pthread_join(t, &r) == 0);
    CHECK(reinterpret_cast<long>(r) == 7);

    CHECK(pthread_create(&t, nullptr, exits, nullptr) == 0);
    CHECK(pthread_join(t, &r) == 0);
    CHECK(reinterpret_cast<long>(r) == 42);

    // Detached after it ended, then never joined: reaped by detach.
    CHECK(pthread_create(&t, nullptr, exits, nullptr) == 0);
    usleep(10000);
    CHECK(pthread_detach(t) == 0);
    return true;
}

// --- nested ---
void *tree(void *p) {
    long depth = reinterpret_cast<long>(p);
    if (depth == 0) return reinterpret_cast<void *>(1L);
    pthread_t a, b;
    void *ra = nullptr, *rb = nullptr;
    if (pthread_create(&a, nullptr, tree, reinterpret_cast<void *>(depth - 1)) ||
        pthread_create(&b, nullptr, tree, reinterpret_cast<void *>(depth - 1)) ||
        pthread_join(a, &ra) || pthread_join(b, &rb))
        return nullptr;
    return reinterpret_cast<void *>(reinterpret_cast<long>(ra) + reinterpret_cast<long>(rb));
}

bool nested() {
    pthread_t t;
    void *r = nullptr;
    CHECK(pthread_create(&t, nullptr, tree, reinterpret_cast<void *>(6L)) == 0);
    CHECK(pthread_join(t, &r) == 0);
    CHECK(reinterpret_cast<long>(r) == 64);
    return true;
}

// --- exit_running ---
void *spin_forever(void *) {
    for (;;) sched_yield();
}

bool exit_running() {
    for (int i = 0; i < 4; ++i) {
        pthread_t t;
        CHECK(pthread_create(&t, nullptr, spin_forever, nullptr) == 0);
    }
    return true;  // main returns with them running
}

// --- libc_guards ---
// The calling thread's two affinity answers agree.
bool affinity_answers_agree() {
    cpu_set_t a, b;
    CPU_ZERO(&a);
    CPU_ZERO(&b);
    if (pthread_getaffinity_np(pthread_self(), sizeof a, &a) != 0) return false;
    if (sched_getaffinity(0, sizeof b, &b) != 0) return false;
    if (!CPU_EQUAL(&a, &b))
        std::fprintf(stderr, "libc_guards: pthread_getaffinity_np %d CPUs, "
                     "sched_getaffinity(0) %d\n", CPU_COUNT(&a), CPU_COUNT(&b));
    return CPU_EQUAL(&a, &b);
}

void *guarded_calls(void *) {
    if (setuid(getuid()) != 0) return reinterpret_cast<void *>(1);
    cpu_set_t set;
    CPU_ZERO(&set);
    if (pthread_getaffinity_np(pthread_self(), sizeof set, &set) != 0)
        return reinterpret_cast<void *>(2);
    int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (rc != (on_lithe_now() ? ENOTSUP : 0)) return reinterpret_cast<void *>(3);
    if (!affinity_answers_agree()) return reinterpret_cast<void *>(4);
    return nullptr;
}

bool libc_guards() {
    CHECK(setgid(getgid()) == 0);
    CHECK(affinity_answers_agree());
    pthread_t t;
    CHECK(pthread_create(&t, nullptr, guarded_calls, nullptr) == 0);
    void *r = reinterpret_cast<void *>(-1);
    CHECK(pthread_join(t, &r) == 0);
    CHECK(r == nullptr);
    return true;
}

// --- keeper_unpinned ---
// The Cpus_allowed line of /proc/self/task/TASK/status.
std::string cpus_of(const std::string &task) {
    std::ifstream f("/proc/self/task/" + task + "/status");
    for (std::string line; std::getline(f, line);)
        if (line.rfind("Cpus_allowed:", 0) == 0) return line;
    return "";
}

// The affinities of the threads named parlib-keeper.
std::vector<std::string> keeper_cpus() {
    std::vector<std::string> v;
    DIR *d = opendir("/proc/self/task");
    while (dirent *e = readdir(d)) {
        std::ifstream comm(std::string("/proc/self/task/") + e->d_name + "/comm");
        std::string c;
        if (e->d_name[0] != '.' && std::getline(comm, c) && c == "parlib-keeper")
            v.push_back(cpus_of(e->d_name));
    }
    closedir(d);
    return v;
}

bool keeper_unpinned() {
    for (int i = 0; i < 64; ++i) {
        Slot s{i, {}, false};
        pthread_t t;
        CHECK(pthread_create(&t, nullptr, twice, &s) == 0);
        CHECK(pthread_join(t, nullptr) == 0);
    }
    if (!expect_lithe()) return true;
    // The keeper starts (and names itself) asynchronously, and pins itself
    // while it fills the pool: give it time. Its affinity should become
    // the main thread's (the process's: under lithe the original main
    // kernel thread parks with it).
    const std::string process = cpus_of(std::to_string(getpid()));
    std::vector<std::string> keeper;
    for (int waited_ms = 0; (keeper = keeper_cpus()).size() != 1 || keeper[0] != process;
         waited_ms += 10) {
        if (waited_ms > 10000) {
            std::fprintf(stderr, "%zu keeper(s)%s%s, process: %s\n", keeper.size(),
                         keeper.empty() ? "" : ": ", keeper.empty() ? "" : keeper[0].c_str(),
                         process.c_str());
            return false;
        }
        usleep(10000);
    }
    return true;
}

const named_checks::Check kChecks[] = {
    {"create_join_many", create_join_many},
    {"shares_harts", shares_harts},
    {"producer_consumer", producer_consumer},
    {"mutex_kinds", mutex_kinds},
    {"foreign_mixed", foreign_mixed},
    {"barrier", barrier},
    {"timed_waits", timed_waits},
    {"misuse", misuse},
    {"nested", nested},
    {"exit_running", exit_running},
    {"keeper_unpinned", keeper_unpinned},
    {"libc_guards", libc_guards},
};

}  // namespace

int main(int argc, char **argv) {
    return pthread_test::checks_main(kChecks, argc, argv);
}
