// libc_guard_forwards.cpp: libparlib's libc guards (parlib/src/
// libc_interposers.list) re-exported by every adapter library, each a
// forward to libparlib's own definition: the setuid family,
// sched_setaffinity, pthread_setaffinity_np, pthread_getaffinity_np,
// sched_getaffinity, pthread_kill, pthread_cancel and thrd_exit.
//
// Why: a guard works only if the program's calls bind to it, i.e. if its
// definition precedes libc's in symbol lookup. A program that links an
// adapter (before libc in its DT_NEEDED list) or preloads it has libparlib
// only as that library's dependency, loaded after libc, so every such call
// bound to libc and the guards were never reached: a setgid() in main
// under LD_PRELOAD=liblithe_pthread.so hung the process (glibc's setxid
// broadcast to a vcore running a uthread's TCB, setxid_guards.cpp), and
// pthread_setaffinity_np from a context re-pinned its vcore's kernel
// thread. The adapter's definitions come first and call libparlib's,
// found by dlsym on libparlib's own handle (the object that defines
// vcore_id), so the guard logic stays in one place. sched_yield_guard.cpp
// gives the same reason for the guards that live in the adapters.
//
// The definitions are the same in every adapter, so whichever the program
// binds to first serves them all. sched_getaffinity is here too, with
// liblithe_tbb's part (libtbb sizes itself by the harts, tbb_concurrency.cpp)
// found by name at run time rather than defined differently in that one
// library: otherwise whichever adapter came first in lookup order would
// decide for all, and a context asking about itself under liblithe_omp or
// liblithe_pthread saw its vcore's pin. Two guarded calls are not here,
// because liblithe_pthread defines them differently: pthread_create and
// pthread_exit (its threads are contexts; thread.cpp forwards the calls it
// does not take to libparlib's guards with parlib_definition). liblithe_omp
// exports these names under glibc's version nodes (adapters/omp/abi/
// interpose.syms). Any context; no state but the cached pointers.
#include <dlfcn.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <threads.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include <parlib/vcore.h>

#include "parlib_definition.hpp"

namespace lithe_adapters {

void *parlib_definition(std::atomic<void *> &cache, const char *name) {
    void *p = cache.load(std::memory_order_acquire);
    if (p) return p;
    static void *const parlib = [] {
        Dl_info info{};
        void *h = nullptr;
        if (dladdr(reinterpret_cast<void *>(&vcore_id), &info) && info.dli_fname)
            h = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
        return h;
    }();
    p = parlib ? dlsym(parlib, name) : nullptr;
    if (!p) {
        std::fprintf(stderr, "lithe adapters: libparlib's %s not found (%s)\n", name,
                     dlerror());
        std::abort();
    }
    cache.store(p, std::memory_order_release);
    return p;
}

}  // namespace lithe_adapters

using lithe_adapters::parlib_definition;

// FORWARD(ret, name, (params), (args)): `name` calls libparlib's `name`.
#define FORWARD(ret, name, params, args)                                    \
    extern "C" __attribute__((visibility("default"))) ret name params {     \
        static std::atomic<void *> cache{nullptr};                         \
        return reinterpret_cast<ret(*) params>(parlib_definition(cache, #name)) args; \
    }

FORWARD(int, setuid, (uid_t u), (u))
FORWARD(int, setgid, (gid_t g), (g))
FORWARD(int, seteuid, (uid_t u), (u))
FORWARD(int, setegid, (gid_t g), (g))
FORWARD(int, setreuid, (uid_t r, uid_t e), (r, e))
FORWARD(int, setregid, (gid_t r, gid_t e), (r, e))
FORWARD(int, setresuid, (uid_t r, uid_t e, uid_t s), (r, e, s))
FORWARD(int, setresgid, (gid_t r, gid_t e, gid_t s), (r, e, s))
FORWARD(int, setgroups, (size_t n, const gid_t *l), (n, l))
FORWARD(int, initgroups, (const char *user, gid_t g), (user, g))
FORWARD(int, sched_setaffinity, (pid_t p, size_t n, const cpu_set_t *s), (p, n, s))
FORWARD(int, pthread_setaffinity_np, (pthread_t t, size_t n, const cpu_set_t *s), (t, n, s))
FORWARD(int, pthread_getaffinity_np, (pthread_t t, size_t n, cpu_set_t *s), (t, n, s))
FORWARD(int, pthread_kill, (pthread_t t, int sig), (t, sig))

// libparlib's guard (a context asking about itself gets the CPUs it may run
// on), then, for the process's mask, liblithe_tbb's adjustment if that
// library is loaded (it may be dlopened later, so a miss is looked up
// again: a rare call, made once by each runtime sizing itself).
extern "C" __attribute__((visibility("default"))) int sched_getaffinity(
    pid_t pid, size_t size, cpu_set_t *set) {
    static std::atomic<void *> cache{nullptr}, adjust{nullptr};
    int rc = reinterpret_cast<int (*)(pid_t, size_t, cpu_set_t *)>(
        parlib_definition(cache, "sched_getaffinity"))(pid, size, set);
    if (rc != 0 || pid == 0 || pid != getpid()) return rc;
    void *a = adjust.load(std::memory_order_acquire);
    if (!a && (a = dlsym(RTLD_DEFAULT, "lithe_tbb_adjust_process_mask")))
        adjust.store(a, std::memory_order_release);
    if (a)
        reinterpret_cast<void (*)(const void *, size_t, cpu_set_t *)>(a)(
            __builtin_return_address(0), size, set);
    return rc;
}
FORWARD(int, pthread_cancel, (pthread_t t), (t))

extern "C" __attribute__((visibility("default"), noreturn)) void thrd_exit(int res) {
    static std::atomic<void *> cache{nullptr};
    reinterpret_cast<void (*)(int)>(parlib_definition(cache, "thrd_exit"))(res);
    __builtin_unreachable();
}
