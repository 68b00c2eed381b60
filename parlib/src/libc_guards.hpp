// libc_guards.hpp: shared pieces of parlib's libc interposers
// (libc_guards.cpp: thread exit and cancellation; affinity_guards.cpp:
// affinity and thread creation; setxid_guards.cpp: the setuid family).
//
// libparlib.so defines some libc symbols itself. When it precedes libc in
// the link order, calls from the executable and from other libraries reach
// these definitions first (otherwise the adapters' forwards bring them
// here: adapters/common/libc_guard_forwards.cpp); each decides whether the
// caller or the target involves a vcore or a uthread and otherwise
// forwards to the real libc function, looked up in libc's own handle
// (real_symbol). Calls made inside libc itself
// (hidden aliases) are not interposed; the files say where that matters.
//
// All helpers here may run in a uthread, in vcore context or on a foreign
// pthread; none blocks or yields.
#pragma once

#include <pthread.h>
#include <sched.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>

namespace parlib {

// The libc definition of `name` (the next one after libparlib), looked up
// once. Aborts naming the symbol if it cannot be found.
void *real_symbol(const char *name);

template <class Fn>
Fn real_fn(std::atomic<void *> &cache, const char *name) {
    void *p = cache.load(std::memory_order_acquire);
    if (!p) {
        p = real_symbol(name);
        cache.store(p, std::memory_order_release);
    }
    return reinterpret_cast<Fn>(p);
}

// Installs the SIGSETXID trampoline now if glibc's handler is in place
// (setxid_guards.cpp); called once the vcore threads exist.
void setxid_install_early();

// Writes "parlib: <msg>\n" to stderr the first time `flag` is seen clear.
void warn_once(std::atomic<bool> &flag, const char *msg);

// What a pthread_t (= a TCB address) is to parlib.
enum class TcbKind {
    kForeign,  // an ordinary thread
    kVcore,    // a vcore's kernel thread (its own TLS)
    kUthread,  // a full-TLS uthread's TLS (its parked backing thread), or
               // the main uthread's (the parked original main thread)
};
TcbKind tcb_kind(pthread_t th);

// The calling kernel thread's id (raw syscall: never touches errno).
pid_t raw_gettid();

// The vcore whose kernel thread has id `tid`, or -1.
int vcore_of_tid(pid_t tid);

// The set of CPUs a uthread may run on: those the vcores are pinned to, or
// the process's affinity when they are not pinned (PARLIB_PIN=0). Returns
// 0, or EINVAL when `size` bytes cannot hold the highest CPU
// (affinity_guards.cpp).
int vcore_cpu_set(size_t size, cpu_set_t *set);

// Gives the calling kernel thread the affinity the process had when
// libparlib was loaded (before any vcore was pinned); it stays on the CPU
// it runs on. Raw system call: touches no TLS.
void take_process_affinity();

// While alive, the calling kernel thread is pinned to the CPU it runs on,
// and a calling uthread has notifications disabled (so it stays on that
// kernel thread); the destructor restores the thread's affinity. For
// creating threads that the creator waits for (tls_pool.cpp): the kernel
// places a new thread by its (inherited) affinity when it wakes it, so
// pinned it runs where its creator blocks rather than preempting a busy
// vcore on another CPU; the new thread should then take_process_affinity.
// No-op pinning when the thread is already on one CPU or the process's
// affinity is unknown. Must not yield in between (asserted: the same
// kernel thread restores what it pinned).
class PinnedToThisCpu {
public:
    PinnedToThisCpu();
    ~PinnedToThisCpu();
    PinnedToThisCpu(const PinnedToThisCpu &) = delete;
    PinnedToThisCpu &operator=(const PinnedToThisCpu &) = delete;

private:
    cpu_set_t saved_;
    pid_t tid_;
    bool changed_ = false;
};

}  // namespace parlib
