// tls_pool.cpp: see tls_pool.hpp.
//
// Locking: pool().mu protects the free lists and the release queue; it is a
// plain std::mutex because it is only taken outside vcore context's hot path
// (acquire/release are called from uthread_init/cleanup) and never while
// holding another parlib lock. Lock order: release_mu, then mu.
#include "tls_pool.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"
#include "context.hpp"
#include "futex.hpp"
#include "vcore_internal.hpp"

namespace parlib {
namespace {

constexpr size_t kGap = 16 << 10;       // between parked frame and uthread
constexpr size_t kOverhead = 96 << 10;  // TCB, static TLS, parked frames
constexpr int kReleaseBatch = 16;

// Immortal (never destroyed): the keeper thread and parked uthreads may
// still use the pool while static destructors run at exit.
struct Pool {
    std::mutex mu;
    std::mutex release_mu;  // held from taking a batch until it is released
    std::condition_variable keeper_cv;
    std::map<size_t, std::vector<TlsSlot *>> free;  // size class -> slots
    std::vector<TlsSlot *> to_release;
    bool keeper_started = false;
};
Pool &pool() {
    static Pool *p = new Pool;
    return *p;
}

size_t size_class(size_t s) {
    size_t c = 64 << 10;
    while (c < s) c <<= 1;
    return c;
}

// The process's name, as the main thread had it when parlib started.
const char *process_name() {
    static const std::string name = [] {
        std::ifstream f("/proc/self/comm");
        std::string n;
        std::getline(f, n);
        return n;
    }();
    return name.c_str();
}

void *backing_main(void *arg) {
    auto *s = static_cast<TlsSlot *>(arg);
    // A thread inherits its creator's name, and the keeper that creates
    // most of these is named parlib-keeper; a uthread's pthread_getname_np
    // reads its backing thread's, which should be the program's.
    prctl(PR_SET_NAME, process_name());
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, nullptr);  // signals go to vcores
    tls_detach_rseq();
    pthread_attr_t a;
    void *lo = nullptr;
    size_t sz = 0;
    pthread_getattr_np(pthread_self(), &a);
    pthread_attr_getstack(&a, &lo, &sz);
    pthread_attr_destroy(&a);
    auto hi = (reinterpret_cast<uintptr_t>(stack_pointer()) - kGap) &
              ~uintptr_t{63};
    s->stack_lo = static_cast<char *>(lo);
    s->stack_hi = reinterpret_cast<char *>(hi);
    // Touch the top pages now, on this (pool) thread's time: otherwise the
    // first frame written by uthread_init takes a page fault (~3 µs here)
    // on the creating uthread's path.
    for (uintptr_t p = (hi - 8192) & ~uintptr_t{4095}; p < hi; p += 4096)
        *reinterpret_cast<volatile char *>(p) = 0;
    s->fsbase = read_fsbase();
    s->ready.store(1, std::memory_order_release);
    kfutex_wake(&s->ready, 1);
    while (s->release.load(std::memory_order_acquire) == 0)
        kfutex_wait(&s->release, 0);
    // From here this thread is itself again: forget the uthread.
    tls_self = nullptr;
    tls_vcore = nullptr;
    return nullptr;  // glibc now runs thread_local and key destructors
}

TlsSlot *create_slot(size_t cls) {
    auto *s = new TlsSlot;
    s->stack_size = cls;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, cls + kOverhead);
    int rc = pthread_create(&s->thread, &a, backing_main, s);
    pthread_attr_destroy(&a);
    if (rc) {
        delete s;
        errno = rc;
        return nullptr;
    }
    while (s->ready.load(std::memory_order_acquire) == 0)
        kfutex_wait(&s->ready, 0);
    PARLIB_ASSERT(static_cast<size_t>(s->stack_hi - s->stack_lo) >= cls);
    return s;
}

// Lets the backing threads exit and joins them (so their destructors have
// run when this returns).
void release_now(std::vector<TlsSlot *> &v) {
    for (TlsSlot *s : v) {
        s->release.store(1, std::memory_order_release);
        kfutex_wake(&s->release, 1);
    }
    for (TlsSlot *s : v) {
        pthread_join(s->thread, nullptr);
        delete s;
    }
    v.clear();
}

// The keeper: keeps the default size class warm and performs releases.
// With nothing to do it sleeps without a timeout (an idle process has no
// thread waking up); released slots are gathered for up to 10 ms, or until
// a batch is full, so that a burst of exits costs one wake-up.
void keeper_main() {
    size_t cls = size_class(config().stack_size);
    const size_t warm = static_cast<size_t>(config().tls_pool);
    std::vector<TlsSlot *> batch;
    bool refill_failed = false;  // out of threads or memory: retry later
    for (;;) {
        size_t have;
        {
            Pool &p = pool();
            std::unique_lock<std::mutex> lk(p.mu);
            if (refill_failed)
                p.keeper_cv.wait_for(lk, std::chrono::milliseconds(10));
            else
                p.keeper_cv.wait(lk, [&] {
                    return !p.to_release.empty() || p.free[cls].size() < warm;
                });
            if (p.free[cls].size() >= warm)
                p.keeper_cv.wait_for(lk, std::chrono::milliseconds(10), [&] {
                    return p.to_release.size() >= kReleaseBatch ||
                           p.free[cls].size() < warm;
                });
            have = p.free[cls].size();
        }
        {
            // Take the batch only while holding release_mu, so that
            // tls_pool_flush never sees an empty queue while a batch it must
            // wait for is still unreleased here.
            std::lock_guard<std::mutex> rl(pool().release_mu);
            {
                std::lock_guard<std::mutex> lk(pool().mu);
                batch.swap(pool().to_release);
            }
            release_now(batch);
        }
        refill_failed = false;
        while (have < warm) {
            TlsSlot *s = create_slot(cls);
            if (!s) {
                refill_failed = true;
                break;
            }
            std::lock_guard<std::mutex> lk(pool().mu);
            pool().free[cls].push_back(s);
            have = pool().free[cls].size();
        }
    }
}

void start_keeper_locked() {
    if (pool().keeper_started) return;
    pool().keeper_started = true;
    std::thread([] {
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, nullptr);
        // Named so that tools (tests/compose's sampler) can tell it apart.
        pthread_setname_np(pthread_self(), "parlib-keeper");
        keeper_main();
    }).detach();
}

}  // namespace

TlsSlot *tls_slot_acquire(size_t stack_size) {
    size_t cls = size_class(stack_size);
    {
        std::lock_guard<std::mutex> lk(pool().mu);
        start_keeper_locked();
        auto &fl = pool().free[cls];
        if (!fl.empty()) {
            TlsSlot *s = fl.back();
            fl.pop_back();
            if (fl.size() < static_cast<size_t>(config().tls_pool) / 2)
                pool().keeper_cv.notify_one();
            return s;
        }
    }
    return create_slot(cls);
}

void tls_slot_release(TlsSlot *slot) {
    std::lock_guard<std::mutex> lk(pool().mu);
    auto &q = pool().to_release;
    q.push_back(slot);
    // The first slot wakes the keeper to start gathering, a full batch
    // ends its gathering early.
    if (q.size() == 1 || q.size() >= kReleaseBatch) pool().keeper_cv.notify_one();
}

void tls_pool_flush() {
    std::vector<TlsSlot *> batch;
    std::lock_guard<std::mutex> rl(pool().release_mu);  // waits for the keeper's
    {
        std::lock_guard<std::mutex> lk(pool().mu);
        batch.swap(pool().to_release);
    }
    release_now(batch);
}

void tls_detach_rseq() {
#ifdef RSEQ_SIG
    if (__rseq_size > 0) {
        auto *rs = reinterpret_cast<struct rseq *>(
            reinterpret_cast<char *>(__builtin_thread_pointer()) +
            __rseq_offset);
        // The kernel wants the registered length (32), not __rseq_size.
        if (syscall(SYS_rseq, rs, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) == 0)
            rs->cpu_id = static_cast<uint32_t>(RSEQ_CPU_ID_REGISTRATION_FAILED);
    }
#endif
}

}  // namespace parlib
