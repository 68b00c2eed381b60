// thread.cpp: pthread_create, pthread_exit, pthread_detach and the joins
// (pthread_tryjoin_np, pthread_timedjoin_np, pthread_clockjoin_np, and
// lithe_pthread_join_np, which adapters/common/join_guard.cpp's
// pthread_join calls first) for the adapter's threads (thread.hpp).
//
// pthread_create makes a Thread, a lithe context of the pthread scheduler,
// when called from a lithe context that may switch (may_switch.hpp) by
// anything but lithe itself or a sanitizer's interceptor
// (internal_caller.hpp) and without a stack of
// the caller's own (pthread_attr_setstack: a context needs a stack parlib
// carves from its backing thread's). Every other call makes a kernel
// thread: the next definition (libparlib's guard, then glibc). Of the
// attributes, the detach state and the stack size are honoured; an unset
// attr means parlib's stack size (PARLIB_STACK_SIZE, 1 MiB), not glibc's
// 8 MiB.
//
// pthread_exit in a Thread records the value and unwinds the thread's stack
// as glibc's does (a forced unwind: C++ destructors and catch (...) blocks
// that rethrow run), up to the thread's body, which then returns; the
// scheduler's context_exit calls thread_exited. (libparlib's pthread_exit,
// which the other contexts get, unwinds to the end of the stack, which
// here would cross lithe::Context's noexcept entry: std::terminate.) A
// catch (...) that swallows the unwind aborts with a message, as glibc's
// does. Calls naming any other thread go to the next definition.
#include "thread.hpp"

#include <lithe/lithe.hpp>

#include <pthread.h>
#include <unwind.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <unordered_map>

#include "../../common/may_switch.hpp"
#include "../../common/next_symbol.hpp"
#include "../../common/parlib_definition.hpp"
#include "internal_caller.hpp"
#include "pthread_sched.hpp"
#include "slicer.hpp"
#include "wait.hpp"

namespace lithe_pthread {
namespace {

using lithe_adapters::next_symbol;
using lithe_adapters::parlib_definition;

lithe::SpinLock g_reg_lock;
// Leaked: threads may still exit while static destructors run.
auto *g_threads = new std::unordered_map<pthread_t, Thread *>;

__attribute__((tls_model("initial-exec"))) thread_local Thread *tl_self = nullptr;

std::atomic<void *> g_next_create{nullptr}, g_next_exit{nullptr},
    g_next_detach{nullptr}, g_next_tryjoin{nullptr}, g_next_timedjoin{nullptr},
    g_next_clockjoin{nullptr};

void body(Thread *t) {
    slicer_thread_body_starts();
    tl_self = t;
    jmp_buf landing;
    t->exit_jmp = &landing;
    t->exit_frame = reinterpret_cast<uintptr_t>(&landing);
    if (setjmp(landing) == 0) t->ret = t->start(t->arg);
    // pthread_exit lands here, every frame above the body cleaned up.
}

constexpr _Unwind_Exception_Class kExitClass = 0x4c50544845584954;  // LPTHEXIT

void exit_swallowed(_Unwind_Reason_Code, _Unwind_Exception *) {
    std::fputs("liblithe_pthread: pthread_exit: the unwinding of the thread's "
               "stack was caught (catch (...) without rethrow)\n", stderr);
    std::abort();
}

// Stops the forced unwind at the thread body's frame (its CFA lies above
// the body's locals; every frame below it has had its cleanups run).
_Unwind_Reason_Code exit_stop(int, _Unwind_Action actions, _Unwind_Exception_Class,
                              _Unwind_Exception *exc, struct _Unwind_Context *ctx,
                              void *arg) {
    auto *t = static_cast<Thread *>(arg);
    if ((actions & _UA_END_OF_STACK) || _Unwind_GetCFA(ctx) > t->exit_frame) {
        delete exc;
        longjmp(*t->exit_jmp, 1);
    }
    return _URC_NO_REASON;
}

// Takes `t` out of the registry; the caller then owns it. Lock held.
void unregister_locked(Thread *t) { g_threads->erase(t->handle); }

void destroy(Thread *t) {
    (void)t->cleanup();  // exited: cannot fail
    delete t;
}

Thread *find_locked(pthread_t th) {
    auto it = g_threads->find(th);
    return it == g_threads->end() ? nullptr : it->second;
}

}  // namespace

Thread *self_thread() { return tl_self; }

void thread_exited(Thread &t) {
    slicer_thread_exited();
    g_reg_lock.lock();
    bool reap = t.detached;
    if (reap)
        unregister_locked(&t);
    else {
        t.exited = true;
        __atomic_store_n(&t.done, 1, __ATOMIC_RELEASE);
    }
    g_reg_lock.unlock();
    if (reap)
        destroy(&t);
    else  // t may be gone already: the address is only a key here
        uth_futex_wake(&t.done, INT_MAX);
}

bool join_thread(pthread_t th, void **ret, int *rc, bool try_only,
                 const struct timespec *abstime, clockid_t clock) {
    g_reg_lock.lock();
    Thread *t = find_locked(th);
    if (!t) {
        g_reg_lock.unlock();
        return false;
    }
    if (t->detached)  // glibc's order: detached, self, another joiner
        *rc = EINVAL;
    else if (t == tl_self)
        *rc = EDEADLK;
    else if (t->joining)
        *rc = EINVAL;
    else if (try_only && !t->exited)
        *rc = EBUSY;
    else if (abstime && !t->exited && !valid_timespec(abstime))
        *rc = EINVAL;
    else {
        *rc = 0;
        t->joining = true;
    }
    g_reg_lock.unlock();
    if (*rc) return true;
    Deadline d;
    if (abstime) d = Deadline::at(clock, *abstime);
    while (__atomic_load_n(&t->done, __ATOMIC_ACQUIRE) == 0)
        if (wait_word(&t->done, 0, d) == ETIMEDOUT &&
            __atomic_load_n(&t->done, __ATOMIC_ACQUIRE) == 0) {
            g_reg_lock.lock();
            t->joining = false;
            g_reg_lock.unlock();
            *rc = ETIMEDOUT;
            return true;
        }
    g_reg_lock.lock();
    unregister_locked(t);
    g_reg_lock.unlock();
    if (ret) *ret = t->ret;
    destroy(t);
    return true;
}

}  // namespace lithe_pthread

using namespace lithe_pthread;

extern "C" {

__attribute__((visibility("default"))) int pthread_create(
    pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *),
    void *arg) noexcept {
    auto next = [&] {
        // libparlib's guard (it unpins threads made on a vcore), then libc.
        return reinterpret_cast<int (*)(pthread_t *, const pthread_attr_t *,
                                        void *(*)(void *), void *)>(
            parlib_definition(g_next_create, "pthread_create"))(th, attr, fn, arg);
    };
    const void *caller = __builtin_return_address(0);
    if (!lithe_adapters::may_switch_context() || called_by_sanitizer(caller) ||
        called_by_lithe(caller))
        return next();
    int detach = PTHREAD_CREATE_JOINABLE;
    size_t stack = 0;
    if (attr) {
        void *addr = nullptr;
        size_t size = 0;
        if (pthread_attr_getstack(attr, &addr, &size) == 0 && addr)
            return next();  // the caller's own stack
        pthread_attr_getdetachstate(attr, &detach);
        pthread_attr_getstacksize(attr, &stack);
    }
    PthreadScheduler *s = PthreadScheduler::get();
    if (!s) return EAGAIN;
    auto *t = new (std::nothrow) Thread;
    if (!t) return EAGAIN;
    t->start = fn;
    t->arg = arg;
    t->detached = detach == PTHREAD_CREATE_DETACHED;
    struct lithe_context_attr ca {stack, true};
    if (t->init([t] { body(t); }, &ca) != LITHE_OK) {
        delete t;
        return EAGAIN;
    }
    if (t->native()->sched != s->native() && t->reassociate(s->native()) != LITHE_OK) {
        destroy(t);
        return EAGAIN;
    }
    // The TLS the context runs with: what pthread_self() returns in it.
    t->handle = static_cast<pthread_t>(t->native()->uth.fsbase);
    g_reg_lock.lock();
    bool ok = g_threads->emplace(t->handle, t).second;
    g_reg_lock.unlock();
    if (!ok) {  // a TCB in use twice: parlib's invariant broken
        destroy(t);
        return EAGAIN;
    }
    *th = t->handle;
    slicer_thread_started(s->native());
    t->unblock();  // the scheduler queues it and asks for a hart
    return 0;
}

__attribute__((visibility("default"), noreturn)) void pthread_exit(void *value) {
    if (Thread *t = tl_self; t && t->exit_jmp) {
        t->ret = value;
        auto *exc = new _Unwind_Exception;
        std::memset(exc, 0, sizeof *exc);
        exc->exception_class = kExitClass;
        exc->exception_cleanup = exit_swallowed;
        _Unwind_ForcedUnwind(exc, exit_stop, t);
        std::abort();  // no unwind information at all
    }
    // libparlib's guard: a uthread that is not ours must not end its vcore.
    reinterpret_cast<void (*)(void *)>(parlib_definition(g_next_exit, "pthread_exit"))(value);
    __builtin_unreachable();
}

__attribute__((visibility("default"))) int pthread_detach(pthread_t th) noexcept {
    g_reg_lock.lock();
    Thread *t = find_locked(th);
    if (!t) {
        g_reg_lock.unlock();
        return next_symbol<int (*)(pthread_t)>(g_next_detach, "pthread_detach")(th);
    }
    int rc = 0;
    bool reap = false;
    if (t->detached || t->joining)
        rc = EINVAL;
    else if (t->exited) {
        unregister_locked(t);
        reap = true;
    } else
        t->detached = true;
    g_reg_lock.unlock();
    if (reap) destroy(t);
    return rc;
}

// Joins `th` if it is a thread of this adapter (*rc = pthread_join's
// result; returns 1), else returns 0. adapters/common/join_guard.cpp's
// pthread_join, compiled into every adapter library, calls it first.
__attribute__((visibility("default"))) int lithe_pthread_join_np(pthread_t th,
                                                                 void **ret,
                                                                 int *rc) {
    return join_thread(th, ret, rc, false, nullptr, CLOCK_REALTIME);
}

__attribute__((visibility("default"))) int pthread_tryjoin_np(pthread_t th,
                                                              void **ret) noexcept {
    int rc;
    if (join_thread(th, ret, &rc, true, nullptr, CLOCK_REALTIME)) return rc;
    return next_symbol<int (*)(pthread_t, void **)>(g_next_tryjoin,
                                                    "pthread_tryjoin_np")(th, ret);
}

__attribute__((visibility("default"))) int pthread_timedjoin_np(
    pthread_t th, void **ret, const struct timespec *abstime) {
    int rc;
    if (join_thread(th, ret, &rc, false, abstime, CLOCK_REALTIME)) return rc;
    return next_symbol<int (*)(pthread_t, void **, const struct timespec *)>(
        g_next_timedjoin, "pthread_timedjoin_np")(th, ret, abstime);
}

__attribute__((visibility("default"))) int pthread_clockjoin_np(
    pthread_t th, void **ret, clockid_t clock, const struct timespec *abstime) {
    int rc;
    if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) {
        g_reg_lock.lock();
        bool ours = find_locked(th) != nullptr;
        g_reg_lock.unlock();
        if (ours) return EINVAL;
    } else if (join_thread(th, ret, &rc, false, abstime, clock))
        return rc;
    return next_symbol<int (*)(pthread_t, void **, clockid_t,
                               const struct timespec *)>(
        g_next_clockjoin, "pthread_clockjoin_np")(th, ret, clock, abstime);
}

}  // extern "C"
