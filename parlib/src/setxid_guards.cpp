// setxid_guards.cpp: the setuid family (setuid, setgid, seteuid, setegid,
// setreuid, setregid, setresuid, setresgid, setgroups, and initgroups,
// which reaches setgroups inside libc where it cannot be interposed).
//
// Credentials are per kernel thread, so glibc's wrappers (nptl_setxid.c,
// 2.36) broadcast: the caller marks every other struct pthread (SETXID bit
// in cancelhandling), tgkills SIGSETXID to its tid, waits until a counter
// of handled signals drops to zero, and repeats while any thread is still
// marked; each thread's handler makes the syscall, then clears the bit and
// wakes setxid_futex *of THREAD_SELF*, i.e. of whatever TCB its FS base
// holds. Under parlib two kernel threads can share one TCB: a vcore running
// a full-TLS uthread has the uthread's TCB loaded while that TCB's backing
// thread is parked. The vcore's handler then clears the uthread's bit and
// never its own, so the caller re-signals the vcore for ever: the hang.
//
// Fix, in two parts:
//  1. SIGSETXID's disposition is replaced (raw rt_sigaction: glibc's
//     sigaction refuses the signal) by a trampoline that, on a vcore's
//     kernel thread, loads the vcore's own FS base around a call to glibc's
//     handler, then restores the interrupted one. Every kernel thread then
//     updates the bookkeeping of its own struct pthread. glibc installs its
//     handler when the process first creates a thread, never again; the
//     trampoline is installed lazily by the first interposed call after
//     that, before the broadcast (every libc path to a broadcast goes
//     through one of the symbols defined here), and eagerly once the vcores
//     exist (setxid_install_early): a call that does not reach these
//     definitions (a program whose libgomp, here liblithe_omp's drop-in
//     copy, is only a dependency of another library, so that libc precedes
//     every lithe library in lookup order) then still finds every vcore's
//     handler right; it hung before.
//  2. glibc skips THREAD_SELF when broadcasting. From a uthread that is the
//     uthread's backing thread, which would keep the old credentials; so a
//     uthread's call runs on a short-lived helper pthread (which owns its
//     TCB) while the uthread's vcore waits for it in the kernel. The vcore
//     is blocked for the duration of the call (~tens of µs).
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "context.hpp"
#include "futex.hpp"
#include "libc_guards.hpp"
#include "vcore_internal.hpp"

namespace parlib {
namespace {

constexpr int kSigSetxid = 33;  // glibc's SIGSETXID = __SIGRTMIN + 1

struct KernelSigaction {  // x86-64 struct sigaction as the kernel sees it
    void (*handler)(int, siginfo_t *, void *);
    unsigned long flags;
    void (*restorer)();
    uint64_t mask;
};

using SigHandler = void (*)(int, siginfo_t *, void *);
std::atomic<SigHandler> g_glibc_setxid{nullptr};
std::atomic<uint32_t> g_install_state{0};  // 0 no, 1 installing, 2 done

uint64_t get_fs() {
    uint64_t v = 0;
    if (parlib_have_fsgsbase)
        asm volatile("rdfsbase %0" : "=r"(v));
    else
        raw_syscall4(SYS_arch_prctl, 0x1003 /* ARCH_GET_FS */,
                     reinterpret_cast<long>(&v), 0, 0);
    return v;
}

void set_fs(uint64_t v) {
    if (parlib_have_fsgsbase)
        asm volatile("wrfsbase %0" ::"r"(v) : "memory");
    else
        raw_syscall4(SYS_arch_prctl, 0x1002 /* ARCH_SET_FS */,
                     static_cast<long>(v), 0, 0);
}

// Runs with every signal blocked (see install), so nothing else can observe
// the temporarily swapped FS base.
void setxid_trampoline(int sig, siginfo_t *si, void *ctx) {
    SigHandler glibc = g_glibc_setxid.load(std::memory_order_acquire);
    int vc = vcore_of_tid(raw_gettid());
    uint64_t own = vc >= 0 ? g_vcores[vc].fsbase : 0;
    uint64_t cur = own ? get_fs() : 0;
    if (own && cur != own) set_fs(own);
    glibc(sig, si, ctx);
    if (own && cur != own) set_fs(cur);
}

// Returns once the trampoline is installed, or once it is known that glibc
// has not installed its handler yet (single-threaded process: glibc then
// makes the plain syscall without a broadcast).
void install_trampoline() {
    if (g_install_state.load(std::memory_order_acquire) == 2) return;
    uint32_t s = 0;
    if (!g_install_state.compare_exchange_strong(s, 1)) {
        while (g_install_state.load(std::memory_order_acquire) == 1)
            cpu_relax();
        return;
    }
    KernelSigaction old{};
    raw_syscall4(SYS_rt_sigaction, kSigSetxid, 0, reinterpret_cast<long>(&old),
                 8);
    auto h = reinterpret_cast<uintptr_t>(old.handler);
    if (h == reinterpret_cast<uintptr_t>(SIG_DFL) ||
        h == reinterpret_cast<uintptr_t>(SIG_IGN)) {
        g_install_state.store(0, std::memory_order_release);
        return;
    }
    if (old.handler != setxid_trampoline) {
        g_glibc_setxid.store(old.handler, std::memory_order_release);
        KernelSigaction sa = old;
        sa.handler = setxid_trampoline;
        sa.mask = ~uint64_t{0};
        raw_syscall4(SYS_rt_sigaction, kSigSetxid, reinterpret_cast<long>(&sa),
                     0, 8);
    }
    g_install_state.store(2, std::memory_order_release);
}

template <class Call>
struct HelperJob {
    Call *call;
    int rc;
    int err;
};

template <class Call>
void *helper_main(void *p) {
    auto *job = static_cast<HelperJob<Call> *>(p);
    errno = 0;
    job->rc = (*job->call)();
    job->err = errno;
    return nullptr;
}

std::atomic<void *> g_real_create{nullptr};

// Runs `call` (which forwards to libc) so that the broadcast reaches every
// kernel thread: on the caller's thread unless it is a uthread.
template <class Call>
int guarded(Call call) {
    install_trampoline();
    if (!tls_self) return call();
    HelperJob<Call> job{&call, -1, 0};
    pthread_t t;
    auto create = real_fn<int (*)(pthread_t *, const pthread_attr_t *,
                                  void *(*)(void *), void *)>(g_real_create,
                                                              "pthread_create");
    if (int rc = create(&t, nullptr, helper_main<Call>, &job)) {
        errno = rc;
        return -1;
    }
    pthread_join(t, nullptr);
    errno = job.err;
    return job.rc;
}

}  // namespace

void setxid_install_early() { install_trampoline(); }

}  // namespace parlib

// Declares `real`, the libc definition of `name` (looked up once).
#define PARLIB_REAL(name, type)                                              \
    static std::atomic<void *> cache{nullptr};                               \
    auto real = parlib::real_fn<type>(cache, #name)

using namespace parlib;

extern "C" {

int setuid(uid_t uid) noexcept {
    PARLIB_REAL(setuid, int (*)(uid_t));
    return guarded([&] { return real(uid); });
}

int setgid(gid_t gid) noexcept {
    PARLIB_REAL(setgid, int (*)(gid_t));
    return guarded([&] { return real(gid); });
}

int seteuid(uid_t uid) noexcept {
    PARLIB_REAL(seteuid, int (*)(uid_t));
    return guarded([&] { return real(uid); });
}

int setegid(gid_t gid) noexcept {
    PARLIB_REAL(setegid, int (*)(gid_t));
    return guarded([&] { return real(gid); });
}

int setreuid(uid_t r, uid_t e) noexcept {
    PARLIB_REAL(setreuid, int (*)(uid_t, uid_t));
    return guarded([&] { return real(r, e); });
}

int setregid(gid_t r, gid_t e) noexcept {
    PARLIB_REAL(setregid, int (*)(gid_t, gid_t));
    return guarded([&] { return real(r, e); });
}

int setresuid(uid_t r, uid_t e, uid_t s) noexcept {
    PARLIB_REAL(setresuid, int (*)(uid_t, uid_t, uid_t));
    return guarded([&] { return real(r, e, s); });
}

int setresgid(gid_t r, gid_t e, gid_t s) noexcept {
    PARLIB_REAL(setresgid, int (*)(gid_t, gid_t, gid_t));
    return guarded([&] { return real(r, e, s); });
}

int setgroups(size_t n, const gid_t *groups) noexcept {
    PARLIB_REAL(setgroups, int (*)(size_t, const gid_t *));
    return guarded([&] { return real(n, groups); });
}

int initgroups(const char *user, gid_t group) {
    PARLIB_REAL(initgroups, int (*)(const char *, gid_t));
    return guarded([&] { return real(user, group); });
}

}  // extern "C"
