// affinity_guards.cpp: CPU-affinity calls and thread creation made on a
// vcore (libc_guards.hpp explains the interposition).
//
// Identity is split on a vcore: the kernel thread is the vcore's (gettid()
// changes when a uthread migrates) while pthread_self() names the uthread's
// parked backing thread. So
//  - sched_setaffinity(0 or gettid()) from a uthread would re-pin the vcore
//    under the scheduler, and pthread_setaffinity_np(pthread_self()) would
//    pin a parked thread to no effect: both are refused with ENOTSUP (and a
//    one-time warning), as is re-pinning any vcore or backing thread from
//    anywhere. Vcores are pinned by parlib with raw syscalls only.
//  - sched_getaffinity(0 or gettid()) / pthread_getaffinity_np on a uthread
//    report the CPUs the uthread may actually run on: the vcores' CPU set.
//  - a thread created on a vcore (from a uthread or vcore context) would
//    inherit the vcore's single-CPU pinning; unless its attributes name an
//    affinity, it starts with the affinity the process had when libparlib
//    was loaded.
// Also parlib's own tools for threads it creates and waits for
// (take_process_affinity, PinnedToThisCpu: libc_guards.hpp).
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "check.hpp"
#include "futex.hpp"
#include "libc_guards.hpp"
#include "parlib/uthread.h"
#include "vcore_internal.hpp"

namespace parlib {
namespace {

std::atomic<void *> g_real_setaff{nullptr}, g_real_getaff{nullptr},
    g_real_psetaff{nullptr}, g_real_pgetaff{nullptr}, g_real_create{nullptr};
std::atomic<bool> g_warned_set{false}, g_warned_pset{false};

// The affinity of the thread that loaded libparlib (normally main, before
// main() runs), i.e. the process's affinity before any vcore was pinned.
cpu_set_t g_process_mask;
bool g_have_process_mask = false;

__attribute__((constructor)) void record_process_mask() {
    g_have_process_mask =
        raw_syscall4(SYS_sched_getaffinity, 0, sizeof g_process_mask,
                     reinterpret_cast<long>(&g_process_mask), 0) > 0;
}

// Does `pid` name the calling kernel thread, seen from a vcore?
bool names_self_on_vcore(pid_t pid) {
    if (!tls_vcore) return false;
    if (pid == 0 || pid == raw_gettid()) return true;
    // The main uthread's "own" thread id is the process id (its parked
    // original thread).
    uthread *u = tls_self;
    return u && (u->flags & UTHREAD_F_MAIN) && pid == getpid();
}

}  // namespace

int vcore_cpu_set(size_t size, cpu_set_t *set) {
    if (!config().pin && g_have_process_mask) {
        for (int c = CPU_SETSIZE - 1; c >= 0; --c)
            if (CPU_ISSET(c, &g_process_mask)) {
                if (static_cast<size_t>(c) / 8 >= size) return EINVAL;
                break;
            }
        memset(set, 0, size);
        memcpy(set, &g_process_mask, std::min(size, sizeof g_process_mask));
        return 0;
    }
    int top = -1;
    for (int i = 0; i < g_max_vcores; ++i)
        top = std::max(top, g_vcores[i].cpu);
    if (top >= 0 && static_cast<size_t>(top) / 8 >= size) return EINVAL;
    memset(set, 0, size);
    for (int i = 0; i < g_max_vcores; ++i)
        CPU_SET_S(g_vcores[i].cpu, size, set);
    return 0;
}

namespace {

struct StartArgs {
    void *(*fn)(void *);
    void *arg;
};

void *unpinned_start(void *p) {
    auto a = *static_cast<StartArgs *>(p);
    free(p);
    take_process_affinity();
    return a.fn(a.arg);
}

bool attr_names_affinity(const pthread_attr_t *attr) {
    if (!attr) return false;
    cpu_set_t m;
    if (pthread_attr_getaffinity_np(attr, sizeof m, &m) != 0) return true;
    // glibc reports "no affinity set" as all ones.
    cpu_set_t all;
    memset(&all, 0xff, sizeof all);
    return memcmp(&m, &all, sizeof m) != 0;
}

}  // namespace

void take_process_affinity() {
    if (g_have_process_mask)
        raw_syscall4(SYS_sched_setaffinity, 0, sizeof g_process_mask,
                     reinterpret_cast<long>(&g_process_mask), 0);
}

PinnedToThisCpu::PinnedToThisCpu() : tid_(raw_gettid()) {
    uth_disable_notifs();
    // The kernel writes only its own mask size (8 bytes here): the rest
    // must read as "not in the set", for CPU_COUNT and for the restore.
    CPU_ZERO(&saved_);
    if (!g_have_process_mask ||
        raw_syscall4(SYS_sched_getaffinity, 0, sizeof saved_,
                     reinterpret_cast<long>(&saved_), 0) <= 0 ||
        CPU_COUNT(&saved_) <= 1)
        return;
    unsigned cpu = 0;
    if (raw_syscall4(SYS_getcpu, reinterpret_cast<long>(&cpu), 0, 0, 0) != 0)
        return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    changed_ = raw_syscall4(SYS_sched_setaffinity, 0, sizeof one,
                            reinterpret_cast<long>(&one), 0) == 0;
}

PinnedToThisCpu::~PinnedToThisCpu() {
    PARLIB_ASSERT(raw_gettid() == tid_);
    if (changed_)
        raw_syscall4(SYS_sched_setaffinity, 0, sizeof saved_,
                     reinterpret_cast<long>(&saved_), 0);
    uth_enable_notifs();
}

}  // namespace parlib

using namespace parlib;

extern "C" {

int sched_setaffinity(pid_t pid, size_t size, const cpu_set_t *set) noexcept {
    if (names_self_on_vcore(pid) || (pid != 0 && vcore_of_tid(pid) >= 0)) {
        warn_once(g_warned_set,
                  "sched_setaffinity: the target runs on a vcore, which "
                  "parlib pins itself; not changed (returns -1/ENOTSUP; "
                  "warned once)");
        errno = ENOTSUP;
        return -1;
    }
    return real_fn<int (*)(pid_t, size_t, const cpu_set_t *)>(
        g_real_setaff, "sched_setaffinity")(pid, size, set);
}

int sched_getaffinity(pid_t pid, size_t size, cpu_set_t *set) noexcept {
    if (tls_self && names_self_on_vcore(pid)) {
        if (int e = vcore_cpu_set(size, set)) {
            errno = e;
            return -1;
        }
        return 0;
    }
    return real_fn<int (*)(pid_t, size_t, cpu_set_t *)>(
        g_real_getaff, "sched_getaffinity")(pid, size, set);
}

int pthread_setaffinity_np(pthread_t th, size_t size,
                           const cpu_set_t *set) noexcept {
    if (tcb_kind(th) != TcbKind::kForeign) {
        warn_once(g_warned_pset,
                  "pthread_setaffinity_np: the target is a uthread or a "
                  "vcore, whose CPUs parlib manages; not changed (returns "
                  "ENOTSUP; warned once)");
        return ENOTSUP;
    }
    return real_fn<int (*)(pthread_t, size_t, const cpu_set_t *)>(
        g_real_psetaff, "pthread_setaffinity_np")(th, size, set);
}

int pthread_getaffinity_np(pthread_t th, size_t size, cpu_set_t *set) noexcept {
    if (tcb_kind(th) == TcbKind::kUthread ||
        (tls_self && th == pthread_self()))
        return vcore_cpu_set(size, set);
    return real_fn<int (*)(pthread_t, size_t, cpu_set_t *)>(
        g_real_pgetaff, "pthread_getaffinity_np")(th, size, set);
}

int pthread_create(pthread_t *th, const pthread_attr_t *attr,
                   void *(*fn)(void *), void *arg) noexcept {
    auto real = real_fn<int (*)(pthread_t *, const pthread_attr_t *,
                                void *(*)(void *), void *)>(g_real_create,
                                                            "pthread_create");
    if (!tls_vcore || !g_have_process_mask || attr_names_affinity(attr))
        return real(th, attr, fn, arg);
    auto *a = static_cast<StartArgs *>(malloc(sizeof(StartArgs)));
    if (!a) return EAGAIN;
    *a = {fn, arg};
    int rc = real(th, attr, unpinned_start, a);
    if (rc) free(a);
    return rc;
}

}  // extern "C"
