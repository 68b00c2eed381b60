// libc_guards.cpp: the shared interposer helpers (libc_guards.hpp) and the
// thread-lifecycle calls that would otherwise hang inside a uthread.
//
// pthread_exit: glibc unwinds to the start frame of the thread whose TCB is
// loaded - for a uthread, its parked backing thread's frame on another
// stack - and hangs. In a uthread we instead force-unwind the uthread's own
// stack (running C++ destructors and catch (...) blocks, like glibc does)
// up to the entry trampoline, whose CFI marks the end of the stack, and end
// the uthread there with uthread_exit(): the value is ignored, nobody can
// join a uthread through pthread_join. From the main uthread it aborts:
// glibc's "main thread exits, the process lives on until the last thread
// ends" cannot be expressed (the main uthread's kernel thread is parked).
//
// thrd_exit (C11) reaches glibc's pthread_exit internally, so it is
// interposed too and behaves the same.
//
// pthread_cancel: a uthread's pthread_t names its parked backing thread,
// which would take the cancellation (or hang the canceller waiting for it);
// a vcore's must never be cancelled. Both are refused with ENOTSUP.
//
// pthread_kill of another uthread's pthread_t would queue the signal on its
// parked backing thread, which blocks every signal: it would never be
// delivered. Refused with ENOTSUP (signal 0, the existence check, still
// succeeds). A uthread signalling itself is fine: glibc then targets the
// calling kernel thread, i.e. the vcore running it.
#include "libc_guards.hpp"

#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <threads.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <unwind.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include "check.hpp"
#include "futex.hpp"
#include "parlib/uthread.h"
#include "vcore_internal.hpp"

namespace parlib {

void *real_symbol(const char *name) {
    // libc's own definition, by libc's handle. Not dlsym(RTLD_NEXT): that
    // finds the first definition after libparlib in lookup order, which
    // can be an adapter's forward back to these guards (adapters/common/
    // libc_guard_forwards.cpp: liblithe_omp's drop-in libgomp.so.1 loaded
    // as another library's dependency comes after libparlib), an endless
    // recursion; and when libc comes before libparlib (an adapter linked or
    // preloaded) it finds nothing.
    static void *const libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    void *p = libc ? dlsym(libc, name) : nullptr;
    PARLIB_CHECK(p, "%s: the libc definition cannot be found (dlsym: %s)",
                 name, dlerror());
    return p;
}

void warn_once(std::atomic<bool> &flag, const char *msg) {
    if (flag.exchange(true, std::memory_order_relaxed)) return;
    char buf[512];
    int n = snprintf(buf, sizeof buf, "parlib: %s\n", msg);
    if (n > static_cast<int>(sizeof buf) - 1) n = sizeof buf - 1;
    ssize_t w = write(2, buf, static_cast<size_t>(n));
    (void)w;
}

TcbKind tcb_kind(pthread_t th) {
    if (g_max_vcores == 0 || th == 0) return TcbKind::kForeign;
    auto fs = static_cast<uint64_t>(th);
    for (int i = 0; i < g_max_vcores; ++i)
        if (__atomic_load_n(&g_vcores[i].fsbase, __ATOMIC_RELAXED) == fs)
            return TcbKind::kVcore;
    // A uthread's TLS keeps tls_self (set at uthread_init, cleared only when
    // the backing thread exits, and while a uthread_yield_to callback runs
    // on it, when tls_vcore is already set); ordinary threads set neither.
    auto at = [fs](intptr_t off) {
        return __atomic_load_n(
            reinterpret_cast<void **>(static_cast<intptr_t>(fs) + off),
            __ATOMIC_RELAXED);
    };
    return at(g_tls_self_off) || at(g_tls_vcore_off) ? TcbKind::kUthread
                                                     : TcbKind::kForeign;
}

pid_t raw_gettid() {
    return static_cast<pid_t>(raw_syscall4(SYS_gettid, 0, 0, 0, 0));
}

int vcore_of_tid(pid_t tid) {
    for (int i = 0; i < g_max_vcores; ++i)
        if (__atomic_load_n(&g_vcores[i].tid, __ATOMIC_RELAXED) == tid)
            return i;
    return -1;
}

namespace {

std::atomic<void *> g_real_exit{nullptr}, g_real_thrd_exit{nullptr},
    g_real_cancel{nullptr}, g_real_kill{nullptr};
std::atomic<bool> g_warned_cancel{false}, g_warned_kill{false};

constexpr _Unwind_Exception_Class kExitClass = 0x50524c4245584954;  // PRLBEXIT

void exit_unwind_swallowed(_Unwind_Reason_Code, _Unwind_Exception *) {
    fatal("pthread_exit: the unwinding of the uthread's stack was caught "
          "(catch (...) without rethrow); the uthread cannot continue");
}

_Unwind_Reason_Code exit_unwind_stop(int, _Unwind_Action actions,
                                     _Unwind_Exception_Class,
                                     _Unwind_Exception *exc, _Unwind_Context *,
                                     void *) {
    if (actions & _UA_END_OF_STACK) {
        delete exc;
        uthread_exit();
    }
    return _URC_NO_REASON;
}

}  // namespace
}  // namespace parlib

using namespace parlib;

extern "C" {

void pthread_exit(void *value) {
    uthread *u = tls_self;
    if (!u) {
        PARLIB_CHECK(!tls_vcore, "pthread_exit: called in vcore context");
        real_fn<void (*)(void *)>(g_real_exit, "pthread_exit")(value);
        __builtin_unreachable();
    }
    PARLIB_CHECK(!(u->flags & UTHREAD_F_MAIN),
                 "pthread_exit: called from the main uthread; main() cannot "
                 "end before the process does (return from main or call "
                 "exit instead)");
    auto *exc = new _Unwind_Exception;
    memset(exc, 0, sizeof *exc);
    exc->exception_class = kExitClass;
    exc->exception_cleanup = exit_unwind_swallowed;
    _Unwind_ForcedUnwind(exc, exit_unwind_stop, nullptr);
    // Only reached if the unwinder failed before reaching the end of the
    // stack (no unwind information at all): end the uthread anyway.
    delete exc;
    uthread_exit();
}

void thrd_exit(int res) {
    if (tls_self || tls_vcore)  // same checks and behaviour as pthread_exit
        pthread_exit(reinterpret_cast<void *>(intptr_t{res}));
    real_fn<void (*)(int)>(g_real_thrd_exit, "thrd_exit")(res);
    __builtin_unreachable();
}

int pthread_cancel(pthread_t th) {
    if (tcb_kind(th) != TcbKind::kForeign) {
        warn_once(g_warned_cancel,
                  "pthread_cancel: the target is a uthread or a vcore; "
                  "cancelling them is not supported (returns ENOTSUP; "
                  "warned once)");
        return ENOTSUP;
    }
    return real_fn<int (*)(pthread_t)>(g_real_cancel, "pthread_cancel")(th);
}

int pthread_kill(pthread_t th, int sig) noexcept {
    if (sig != 0 && th != pthread_self() && tcb_kind(th) == TcbKind::kUthread) {
        warn_once(g_warned_kill,
                  "pthread_kill: the target is another uthread, whose "
                  "pthread_t names a parked thread that never takes signals "
                  "(returns ENOTSUP; warned once)");
        return ENOTSUP;
    }
    return real_fn<int (*)(pthread_t, int)>(g_real_kill, "pthread_kill")(th,
                                                                         sig);
}

}  // extern "C"
