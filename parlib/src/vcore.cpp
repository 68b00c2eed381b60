// vcore.cpp: vcore kernel threads, their pinning, and the request / yield /
// park protocol (vcore.h).
//
// Lost wake-ups: a request that finds no yielded vcore increments g_unmet.
// A vcore that is about to park first publishes PARKED, then (seq_cst)
// re-reads g_unmet; a requester first increments g_unmet, then (seq_cst)
// re-scans for yielded vcores. One of the two always sees the other, so a
// request made after publishing work is never lost (Dekker).
#include <hwloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "check.hpp"
#include "context.hpp"
#include "futex.hpp"
#include "service.hpp"
#include "parlib/vcore.h"
#include "libc_guards.hpp"
#include "vcore_internal.hpp"

bool parlib_have_fsgsbase = false;

namespace parlib {

Vcore *g_vcores = nullptr;
int g_max_vcores = 0;
// vcore_yield's idle window. With more vcores than CPUs the kernel
// time-slices the vcores, so an idle vcore that spins takes CPU time from
// vcores with work (bench_compose (c) at 4 vcores on 2 CPUs: wall 0.85 ->
// 0.53 s, CPU 0.68 -> 0.59 s, docs/perf.md); such vcores park at once
// unless PARLIB_SPIN_US is given. Set once at init.
static uint64_t g_idle_spin_us = 0;
__thread Vcore *tls_vcore __attribute__((tls_model("initial-exec"))) = nullptr;
__thread uthread *tls_self __attribute__((tls_model("initial-exec"))) = nullptr;
intptr_t g_tls_vcore_off = 0, g_tls_self_off = 0;
vcore_entry_fn g_vcore_entry = nullptr;

namespace {

std::atomic<int> g_unmet{0};
std::atomic<int> g_scan_start{0};
constexpr size_t kVcoreStackSize = 2 << 20;

std::vector<int> allowed_cpus() {
    std::vector<int> cpus;
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) == 0 && hwloc_topology_load(topo) == 0) {
        hwloc_bitmap_t set = hwloc_bitmap_alloc();
        if (hwloc_get_cpubind(topo, set, HWLOC_CPUBIND_PROCESS) != 0)
            hwloc_bitmap_copy(set, hwloc_topology_get_allowed_cpuset(topo));
        // PUs in topology order, so consecutive vcores share caches.
        int n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
        for (int i = 0; i < n; ++i) {
            hwloc_obj_t pu = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PU, i);
            if (hwloc_bitmap_isset(set, pu->os_index))
                cpus.push_back(static_cast<int>(pu->os_index));
        }
        hwloc_bitmap_free(set);
        hwloc_topology_destroy(topo);
    }
    if (cpus.empty()) {  // hwloc failed: fall back to the kernel's mask
        cpu_set_t m;
        if (sched_getaffinity(0, sizeof m, &m) == 0)
            for (int c = 0; c < CPU_SETSIZE; ++c)
                if (CPU_ISSET(c, &m)) cpus.push_back(c);
    }
    if (cpus.empty()) cpus.push_back(0);
    return cpus;
}

[[noreturn]] void enter_vcore_context(Vcore *v) {
    // Fresh stack top each time: vcore context never returns.
    parlib_ctx_call_on(v->stack_top, 0,
                       [](void *) { g_vcore_entry(); __builtin_trap(); },
                       nullptr);
}

// Tries to claim a yielded vcore; returns it or nullptr.
Vcore *claim_yielded() {
    int n = g_max_vcores;
    int start = g_scan_start.fetch_add(1, std::memory_order_relaxed);
    // Spinning vcores are cheap to claim (no futex wake): prefer them.
    for (uint32_t want : {kSpinning, kParked}) {
        for (int i = 0; i < n; ++i) {
            Vcore *v = &g_vcores[(start + i) % n];
            uint32_t s = want;
            if (v->state.load(std::memory_order_relaxed) == want &&
                v->state.compare_exchange_strong(s, kOnline)) {
                if (want == kParked) kfutex_wake(&v->state, 1);
                return v;
            }
        }
    }
    return nullptr;
}

bool take_unmet() {
    int u = g_unmet.load();
    while (u > 0)
        if (g_unmet.compare_exchange_weak(u, u - 1)) return true;
    return false;
}

void *vcore_thread_main(void *arg) {
    auto *v = static_cast<Vcore *>(arg);
    tls_vcore = v;
    v->tid = static_cast<pid_t>(syscall(SYS_gettid));
    v->fsbase = read_fsbase();
    cpu_set_t m;
    CPU_ZERO(&m);
    CPU_SET(v->cpu, &m);
    // Raw syscall: the libc wrapper may be interposed (libc_guards.cpp).
    // PARLIB_PIN=0 leaves placement to the kernel (VMs whose vCPUs stall).
    if (config().pin) syscall(SYS_sched_setaffinity, 0, sizeof m, &m);
    pthread_attr_t a;
    void *lo = nullptr;
    size_t sz = 0;
    pthread_getattr_np(pthread_self(), &a);
    pthread_attr_getstack(&a, &lo, &sz);
    pthread_attr_destroy(&a);
    // Vcore context reuses this thread's own stack below this frame, so
    // every stack a TLS ever runs on is the stack glibc gave that thread.
    auto top = reinterpret_cast<uintptr_t>(stack_pointer()) - 4096;
    v->stack_top = reinterpret_cast<char *>(top & ~uintptr_t{63});
    v->stack_lo = static_cast<char *>(lo);
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, g_notif_signal);
    pthread_sigmask(SIG_UNBLOCK, &ss, nullptr);
    notif_thread_init(v);
    alarm_thread_init(v);
    // Vcores start yielded (PARKED) and wait for their first request.
    while (v->state.load() == kParked) kfutex_wait(&v->state, kParked);
    enter_vcore_context(v);
}

std::once_flag g_init_once;
int g_init_err = 0;

void do_init() {
    parlib_have_fsgsbase = (getauxval(AT_HWCAP2) & 2) != 0 &&  // HWCAP2_FSGSBASE
                           config().fsgsbase;
    g_tls_vcore_off = reinterpret_cast<intptr_t>(&tls_vcore) -
                      static_cast<intptr_t>(read_fsbase());
    g_tls_self_off = reinterpret_cast<intptr_t>(&tls_self) -
                     static_cast<intptr_t>(read_fsbase());
    notif_init();
    std::vector<int> cpus = allowed_cpus();
    int n = config().vcores ? config().vcores : static_cast<int>(cpus.size());
    g_vcores = new Vcore[n];
    for (int i = 0; i < n; ++i) {
        g_vcores[i].id = i;
        g_vcores[i].cpu = cpus[i % cpus.size()];
    }
    g_max_vcores = n;
    g_idle_spin_us = n > static_cast<int>(cpus.size()) && !config().spin_us_set
                         ? 0
                         : config().spin_us;
    alarm_init();
    // Vcore threads inherit the caller's signal mask: a process-directed
    // signal they take interrupts whatever uthread runs there, exactly as it
    // would interrupt that thread.
    for (int i = 0; i < n; ++i) {
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setstacksize(&a, kVcoreStackSize);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&g_vcores[i].thread, &a, vcore_thread_main,
                                &g_vcores[i]);
        pthread_attr_destroy(&a);
        if (rc) {
            g_init_err = -rc;
            return;
        }
    }
    // glibc has its SIGSETXID handler now (it installs it for the first
    // thread): wrap it before any setuid-family call can broadcast.
    setxid_install_early();
}

}  // namespace

bool vcore_wake(Vcore *v) {
    for (;;) {
        uint32_t s = v->state.load();
        if (s == kOnline) return false;
        if (v->state.compare_exchange_weak(s, kOnline)) {
            if (s == kParked) kfutex_wake(&v->state, 1);
            return true;
        }
    }
}

void vcore_set_entry(vcore_entry_fn fn) { g_vcore_entry = fn; }

}  // namespace parlib

using namespace parlib;

extern "C" {

int vcore_lib_init(void) {
    std::call_once(g_init_once, do_init);
    return g_init_err;
}

int max_vcores(void) { return g_max_vcores; }

int num_vcores(void) {
    int c = 0;
    for (int i = 0; i < g_max_vcores; ++i)
        c += g_vcores[i].state.load(std::memory_order_relaxed) == kOnline;
    return c;
}

int vcore_id(void) {
    Vcore *v = tls_vcore;
    return v ? v->id : -1;
}

bool in_vcore_context(void) { return tls_vcore && !tls_self; }

// Set once, by the child's pthread_atfork handler (registered before main),
// never cleared: a fork's child never gets vcores.
namespace {
std::atomic<bool> g_forked_child{false};
__attribute__((constructor)) void watch_fork() {
    pthread_atfork(nullptr, nullptr,
                   [] { g_forked_child.store(true, std::memory_order_relaxed); });
}
}  // namespace

bool vcore_forked_child(void) { return g_forked_child.load(std::memory_order_relaxed); }

int vcore_request(int n) {
    PARLIB_CHECK(n >= 0, "vcore_request(%d): negative count", n);
    // A vcore brought online runs the entry: without one it would call null.
    PARLIB_CHECK(g_vcore_entry != nullptr,
                 "vcore_request: no vcore entry yet (install a uthread "
                 "scheduler with uthread_lib_init first)");
    if (vcore_lib_init()) return 0;
    int granted = 0;
    while (granted < n && claim_yielded()) ++granted;
    int missing = n - granted;
    if (missing == 0) return granted;
    // Remember the rest (capped), then look again (see file comment).
    int u = g_unmet.load();
    int add;
    do {
        add = std::min(missing, g_max_vcores - u);
        if (add <= 0) break;
    } while (!g_unmet.compare_exchange_weak(u, u + add));
    std::atomic_thread_fence(std::memory_order_seq_cst);
    while (add > 0 && take_unmet()) {
        if (!claim_yielded()) {
            g_unmet.fetch_add(1);
            break;
        }
        ++granted;
        --add;
    }
    return granted;
}

uint64_t vcore_spin_window_us(void) { return g_idle_spin_us; }

void vcore_yield(void) {
    Vcore *v = tls_vcore;
    PARLIB_CHECK(v && !tls_self, "vcore_yield: not called in vcore context");
    v->state.store(kSpinning);
    uint64_t spin_us = g_idle_spin_us;
    uint64_t deadline = spin_us ? parlib_now_us() + spin_us : 0;
    unsigned iter = 0;
    for (;;) {
        uint32_t s = v->state.load();
        if (s == kOnline) break;  // claimed by a request or an event
        if (vcore_has_events(v) || v->notif_pending.load() ||
            g_unmet.load(std::memory_order_relaxed) > 0) {
            bool took = g_unmet.load() > 0 && take_unmet();
            if (!v->state.compare_exchange_strong(s, kOnline) && took)
                g_unmet.fetch_add(1);  // claimed anyway: give it back
            break;
        }
        cpu_relax();
        ++iter;
        // A spinning vcore takes I/O readiness itself (service.hpp); an
        // event it sends to itself brings it online above.
        if ((iter & 15) == 0 && io_poll_idle()) continue;
        if ((iter & 63) == 0 && (!spin_us || parlib_now_us() >= deadline)) {
            uint32_t sp = kSpinning;
            if (!v->state.compare_exchange_strong(sp, kParked)) break;
            std::atomic_thread_fence(std::memory_order_seq_cst);
            if (vcore_has_events(v) || take_unmet()) {
                uint32_t pk = kParked;
                v->state.compare_exchange_strong(pk, kOnline);
                break;
            }
            v->parks.fetch_add(1, std::memory_order_relaxed);
            while (v->state.load() == kParked) kfutex_wait(&v->state, kParked);
            v->wakeups.fetch_add(1, std::memory_order_relaxed);
            break;
        }
    }
    enter_vcore_context(v);
}

void vcore_reenter(void (*entry)(void)) {
    Vcore *v = tls_vcore;
    PARLIB_CHECK(v, "vcore_reenter: not called on a vcore");
    // A uthread calling this must already be saved; its TLS is left behind.
    parlib_ctx_call_on(v->stack_top, v->fsbase,
                       [](void *e) {
                           tls_self = nullptr;
                           reinterpret_cast<void (*)(void)>(e)();
                           __builtin_trap();
                       },
                       reinterpret_cast<void *>(entry));
}

uint64_t parlib_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000u + ts.tv_nsec / 1000;
}

}  // extern "C"
