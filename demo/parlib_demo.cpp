// parlib_demo.cpp: a guided tour of parlib in one program.
//
// It writes the smallest possible user-level scheduler (a "2LS": one FIFO run
// queue shared by every vcore), turns main() into a uthread under it, and runs
// many uthreads - some with their own glibc TLS ("full-TLS"), most sharing
// their vcore's TLS ("lightweight") - that yield and compute on every vcore.
// Then it prints what happened and what it checked:
//   - a full-TLS uthread keeps its own TLS wherever it runs: after every
//     resumption, in particular on another vcore (a migration), its thread
//     pointer is unchanged and its errno and thread_local hold the values it
//     set before yielding;
//   - a lightweight uthread runs on the TLS of the vcore it is on: its thread
//     pointer must be that vcore's.
// The thread pointer is read with an asm volatile, never cached: the
// compiler may assume that TLS addresses (and __errno_location()) do not
// change across a call, which is only true for full-TLS uthreads.
// Exit status is 0 only if every check passed.
//
// Usage: parlib_demo [UTHREADS]   (default 10000; env PARLIB_VCORES etc.)
//
// Contexts: sched_entry and the yield callback run in vcore context (on the
// vcore's own stack, must not block); everything else runs in uthreads.
#include <parlib/uthread.h>
#include <parlib/vcore.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <deque>
#include <vector>

namespace {

// The FS base: the TLS (glibc TCB) the caller runs with right now.
uintptr_t thread_pointer() {
    uintptr_t tp;
    asm volatile("mov %%fs:0, %0" : "=r"(tp));
    return tp;
}

// ---------------------------------------------------------------- the 2LS --
// A scheduler embeds struct uthread as the first member of its own thread
// record; parlib hands the scheduler uthread pointers back.
struct Task {
    uthread u;
    long id;
    bool own_tls;
};

// Per-vcore statistics, written only by that vcore in vcore context.
struct alignas(64) VcoreStats {
    std::atomic<long> runs{0};         // uthreads it resumed
    std::atomic<uintptr_t> tls{0};     // its own thread pointer
};
VcoreStats *g_vcore = nullptr;

std::atomic_flag g_qlock = ATOMIC_FLAG_INIT;  // never held across a switch
std::deque<uthread *> g_queue;

void enqueue(uthread *u) {
    while (g_qlock.test_and_set(std::memory_order_acquire)) {
    }
    g_queue.push_back(u);
    g_qlock.clear(std::memory_order_release);
    vcore_request(1);  // wake an idle vcore, if any, to pick it up
}

uthread *dequeue() {
    while (g_qlock.test_and_set(std::memory_order_acquire)) {
    }
    uthread *u = nullptr;
    if (!g_queue.empty()) {
        u = g_queue.front();
        g_queue.pop_front();
    }
    g_qlock.clear(std::memory_order_release);
    return u;
}

// A vcore needs something to do: run the next uthread, or give the vcore
// back (vcore_yield spins briefly, parks, and re-enters here on demand).
void sched_entry() {
    VcoreStats &me = g_vcore[vcore_id()];
    me.tls.store(thread_pointer(), std::memory_order_relaxed);
    if (uthread *u = dequeue()) {
        me.runs.fetch_add(1, std::memory_order_relaxed);
        run_uthread(u);
    }
    vcore_yield();
}

// Joining all: main blocks (is not in the run queue) until the last uthread
// exits. Whichever of "main parked" and "last exit" comes second wakes main;
// the exchange makes sure exactly one side does.
long g_total = 0;
std::atomic<long> g_exited{0};
std::atomic<uthread *> g_joiner{nullptr};

void wake_joiner_if_done() {
    if (g_exited.load() == g_total)
        if (uthread *j = g_joiner.exchange(nullptr)) uthread_runnable(j);
}

void thread_exited(uthread *) {
    g_exited.fetch_add(1);
    wake_joiner_if_done();
}

void join_all() {
    while (g_exited.load() < g_total)
        uthread_yield(true,
                      [](uthread *self, void *) {
                          g_joiner.store(self);  // self is saved by now
                          wake_joiner_if_done();
                      },
                      nullptr);
}

const schedule_ops g_ops = {
    sched_entry,
    enqueue,  // thread_runnable
    enqueue,  // thread_paused
    nullptr,  // thread_has_blocked
    nullptr,  // thread_blockon_io
    thread_exited,
};

// Gives the vcore to the next uthread; the callback runs in vcore context
// once this uthread is saved, so another vcore may resume it right away.
void yield() {
    uthread_yield(true, [](uthread *u, void *) { enqueue(u); }, nullptr);
}

// ------------------------------------------------------------- the work --
constexpr int kRounds = 20;  // yields per uthread

thread_local long tl_owner = 0;  // a full-TLS uthread's own copy

std::atomic<long> g_migrations{0};
std::atomic<long> g_full_checks{0}, g_full_checks_migrated{0};
std::atomic<long> g_light_checks{0}, g_light_checks_migrated{0};
std::atomic<long> g_failures{0};
std::atomic<unsigned long> g_work_sink{0};  // keeps the work from being
                                             // optimised away

void fail(const Task *t, const char *what) {
    if (g_failures.fetch_add(1) < 5)
        fprintf(stderr, "CHECK FAILED: uthread %ld (%s): %s\n", t->id,
                t->own_tls ? "full-TLS" : "lightweight", what);
}

bool is_a_vcore_tls(uintptr_t tp) {
    for (int i = 0; i < max_vcores(); ++i)
        if (g_vcore[i].tls.load(std::memory_order_relaxed) == tp) return true;
    return false;
}

void task_main(void *arg) {
    auto *t = static_cast<Task *>(arg);
    const uintptr_t my_tls = thread_pointer();
    if (t->own_tls && tl_owner != 0) fail(t, "fresh TLS was not fresh");
    if (t->own_tls && is_a_vcore_tls(my_tls)) fail(t, "runs on a vcore's TLS");
    const int my_errno = static_cast<int>(1000 + t->id % 100000);
    unsigned long acc = static_cast<unsigned long>(t->id);
    int vc = vcore_id();
    for (int r = 0; r < kRounds; ++r) {
        for (int k = 0; k < 200; ++k) acc = acc * 6364136223846793005ul + 1;
        if (t->own_tls) {
            errno = my_errno;
            tl_owner = t->id;
        }
        yield();
        // Preemption is off, so vcore_id() stays valid until the next yield.
        int now = vcore_id();
        bool migrated = now != vc;
        vc = now;
        if (migrated) g_migrations.fetch_add(1, std::memory_order_relaxed);
        if (t->own_tls) {
            if (thread_pointer() != my_tls) fail(t, "thread pointer changed");
            if (errno != my_errno) fail(t, "errno changed across a yield");
            if (tl_owner != t->id) fail(t, "thread_local changed");
            g_full_checks.fetch_add(1, std::memory_order_relaxed);
            if (migrated)
                g_full_checks_migrated.fetch_add(1, std::memory_order_relaxed);
        } else {
            if (thread_pointer() != g_vcore[vc].tls.load())
                fail(t, "lightweight uthread is not on its vcore's TLS");
            g_light_checks.fetch_add(1, std::memory_order_relaxed);
            if (migrated)
                g_light_checks_migrated.fetch_add(1, std::memory_order_relaxed);
        }
    }
    g_work_sink.fetch_add(acc, std::memory_order_relaxed);
}

long kernel_threads() {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long n = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Threads:", 8) == 0) n = strtol(line + 8, nullptr, 10);
    fclose(f);
    return n;
}

}  // namespace

int main(int argc, char **argv) {
    long n = argc > 1 ? strtol(argv[1], nullptr, 10) : 10000;
    if (n < 1) {
        fprintf(stderr, "usage: %s [UTHREADS >= 1]\n", argv[0]);
        return 2;
    }

    // main() becomes a uthread: from here on it runs on vcore 0 (or wherever
    // the scheduler puts it) with its original TLS.
    static uthread main_thread;
    if (int rc = vcore_lib_init()) {
        fprintf(stderr, "vcore_lib_init: %s\n", strerror(-rc));
        return 1;
    }
    g_vcore = new VcoreStats[max_vcores()];
    if (int rc = uthread_lib_init(&main_thread, &g_ops)) {
        fprintf(stderr, "uthread_lib_init: %s\n", strerror(-rc));
        return 1;
    }

    // Create first, then start all at once, so that the run below measures
    // scheduling, not creation. Every 5th uthread gets its own TLS (a parked
    // backing pthread, mostly created now); small stacks keep memory low.
    uint64_t t0 = parlib_now_us();
    std::vector<Task> tasks(static_cast<size_t>(n));
    long full = 0;
    for (long i = 0; i < n; ++i) {
        Task &t = tasks[static_cast<size_t>(i)];
        t.id = i + 1;
        t.own_tls = i % 5 == 0;
        full += t.own_tls;
        uthread_attr a{64 << 10, t.own_tls};
        if (int rc = uthread_init(&t.u, task_main, &t, &a)) {
            fprintf(stderr, "uthread_init: %s\n", strerror(-rc));
            return 1;
        }
    }
    long threads_when_live = kernel_threads();
    uint64_t t1 = parlib_now_us();
    g_total = n;
    for (Task &t : tasks) uthread_runnable(&t.u);
    join_all();
    uint64_t t2 = parlib_now_us();
    for (Task &t : tasks) uthread_cleanup(&t.u);

    long runs = 0;
    for (int i = 0; i < max_vcores(); ++i) runs += g_vcore[i].runs.load();
    printf("parlib demo: %ld uthreads (%ld full-TLS, %ld lightweight) + main\n",
           n, full, n - full);
    printf("  vcores                 %d\n", max_vcores());
    printf("  yields per uthread     %d\n", kRounds);
    printf("  uthread runs           %ld (%ld context switches: each run is "
           "one switch\n                         into a uthread and one back "
           "to vcore context)\n", runs, 2 * runs);
    printf("  migrations             %ld runs on a different vcore than the "
           "last one\n",
           g_migrations.load());
    printf("  per-vcore share       ");
    for (int i = 0; i < max_vcores() && i < 8; ++i)
        printf(" v%d %.1f%%", i, 100.0 * g_vcore[i].runs.load() / runs);
    printf("%s\n", max_vcores() > 8 ? " ..." : "");
    printf("  full-TLS uthreads      own TLS, errno, thread_local intact after "
           "%ld resumptions,\n                         %ld of them on another "
           "vcore\n",
           g_full_checks.load(), g_full_checks_migrated.load());
    printf("  lightweight uthreads   on their current vcore's TLS after %ld "
           "resumptions,\n                         %ld of them on another "
           "vcore\n",
           g_light_checks.load(), g_light_checks_migrated.load());
    printf("  elapsed                %.1f ms to create, %.1f ms to run "
           "(%.2f us per uthread run)\n",
           (t1 - t0) / 1e3, (t2 - t1) / 1e3,
           runs ? double(t2 - t1) / runs : 0.0);
    printf("  kernel threads         %ld while %ld uthreads were live: %d "
           "vcores, the parked\n                         original main thread, "
           "one parked backing thread per\n                         full-TLS "
           "uthread, parlib's warm pool of them, its keeper\n",
           threads_when_live, n + 1, max_vcores());
    long failures = g_failures.load();
    if (failures)
        printf("RESULT: %ld checks FAILED\n", failures);
    else
        printf("RESULT: all checks passed\n");
    return failures ? 1 : 0;
}
