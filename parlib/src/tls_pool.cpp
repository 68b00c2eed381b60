// tls_pool.cpp: see tls_pool.hpp.
//
// Locking: pool().mu protects the free lists, the release queue and the
// fill/keeper state; it is a plain std::mutex because it is only taken
// outside vcore context's hot path (acquire/release are called from
// uthread_init/cleanup) and never while holding another parlib lock. No
// thread is created or waited for while holding it, except the keeper's own
// creation. Lock order: release_mu, then mu.
//
// A uthread holds either lock only with its notifications disabled
// (PoolLock), so it cannot be paused (time-sliced) while holding it. A
// holder paused there waits for a vcore, and the uthreads waiting for the
// lock may be what holds the vcores: glibc's mutex blocks their vcores in
// the kernel, and liblithe_pthread's, which the std::mutex becomes when that
// adapter is loaded (it interposes pthread_mutex_lock), spins in a uthread
// whose notifications are disabled (lithe's context creation). That
// livelocked benchmarks/bench_server.c (pthreads creating pthreads whose
// OpenMP regions create contexts, under the adapter's slicer) in about one
// run in five.
#include "tls_pool.hpp"

#include <signal.h>
#include <sys/auxv.h>
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
#include "libc_guards.hpp"
#include "parlib/uthread.h"
#include "vcore_internal.hpp"

namespace parlib {
namespace {

// Holds `m` with the calling uthread's notifications disabled (see the top
// of the file); a plain lock outside uthreads (the keeper, vcore context).
class PoolLock {
public:
    explicit PoolLock(std::mutex &m) : m_(m) {
        uth_disable_notifs();
        m_.lock();
    }
    ~PoolLock() {
        m_.unlock();
        uth_enable_notifs();  // takes a notification that came meanwhile
    }
    PoolLock(const PoolLock &) = delete;
    PoolLock &operator=(const PoolLock &) = delete;

private:
    std::mutex &m_;
};

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
    // The first acquire fills the warm pool itself (kFilling until done);
    // the keeper is asked for refills only after that.
    enum class Fill { kNone, kFilling, kDone } fill = Fill::kNone;
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

// Between a parked backing thread's frame and the top of its uthread's
// stack. The parked thread blocks every signal it may (glibc keeps its own
// SIGSETXID deliverable: setuid and friends run a handler on every thread),
// so the gap need only hold one signal frame (AT_MINSIGSTKSZ: ~3.3 KiB with
// AVX-512, ~11 KiB with AMX) and a short handler. No larger: glibc frees
// (MADV_DONTNEED) a thread's stack below its exit frame less 16 KiB when
// it exits, and hands the stack to the next thread it creates; the uthread
// stack pages above that line stay mapped for the next uthread, so neither
// takes a page fault there (a 16 KiB gap put them all below it: two faults
// and two zapped pages per thread, ~6 µs of a create + join pair).
size_t gap() {
    static const size_t g = [] {
        constexpr size_t kPage = 4096, kMin = 8 << 10;
        size_t frame = getauxval(AT_MINSIGSTKSZ);
        size_t need = (frame + kPage + kPage - 1) / kPage * kPage;
        return need > kMin ? need : kMin;
    }();
    return g;
}

void *backing_main(void *arg) {
    auto *s = static_cast<TlsSlot *>(arg);
    // A thread inherits its creator's name (the keeper's, parlib-keeper,
    // for refills; a vcore's, whatever the program named it); a uthread's
    // pthread_getname_np reads its backing thread's, which should be the
    // program's.
    prctl(PR_SET_NAME, process_name());
    take_process_affinity();  // its creator may have pinned itself
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
    auto hi = (reinterpret_cast<uintptr_t>(stack_pointer()) - gap()) &
              ~uintptr_t{63};
    s->stack_lo = static_cast<char *>(lo);
    s->stack_hi = reinterpret_cast<char *>(hi);
    // Touch the top pages now, on this (pool) thread's time: otherwise the
    // first frame written by uthread_init takes a page fault (~3 µs here)
    // on the creating uthread's path when the stack is fresh (a stack
    // glibc reuses keeps them: gap()).
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

// The creator waits for the new thread, so callers that create several
// pin themselves to their CPU meanwhile (fill_default_class), and the new
// thread runs there instead of preempting a vcore elsewhere; backing_main
// then takes the process's affinity, so that when it is released it may
// exit on any CPU. Created through pthread_create as the program would
// (a sanitizer's interceptor must see it).
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

size_t default_class() { return size_class(config().stack_size); }
size_t warm_target() { return static_cast<size_t>(config().tls_pool); }

// Creates slots of the default size class until its free list holds the
// warm target (at most that many: the keeper has releases to do too),
// pinned to this CPU meanwhile, and adds each to the list as soon as it is
// made. An acquire that finds the list empty meanwhile creates a slot of
// its own; so in a create + join loop the vcore and the keeper each make
// part of the slots, in parallel (they used to be published at the end of
// the fill: the vcore made most of them while the keeper's waited). False
// if a creation failed (out of threads or memory).
bool fill_default_class() {
    const size_t cls = default_class(), warm = warm_target();
    // Nothing that may yield a uthread while pinned (PinnedToThisCpu); the
    // pool lock is held only to count and publish.
    PinnedToThisCpu pin;
    for (size_t made = 0; made < warm; ++made) {
        {
            PoolLock lk(pool().mu);
            if (pool().free[cls].size() >= warm) break;
        }
        TlsSlot *s = create_slot(cls);
        if (!s) return false;
        PoolLock lk(pool().mu);
        pool().free[cls].push_back(s);
    }
    return true;
}

// The keeper: keeps the default size class warm and performs releases.
// With nothing to do it sleeps without a timeout (an idle process has no
// thread waking up); released slots are gathered for up to 10 ms, or until
// a batch is full, so that a burst of exits costs one wake-up.
void keeper_main() {
    const size_t cls = default_class(), warm = warm_target();
    std::vector<TlsSlot *> batch;
    bool refill_failed = false;  // out of threads or memory: retry later
    for (;;) {
        {
            Pool &p = pool();
            std::unique_lock<std::mutex> lk(p.mu);  // a kernel thread: no notifications
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
        }
        {
            // Take the batch only while holding release_mu, so that
            // tls_pool_flush never sees an empty queue while a batch it must
            // wait for is still unreleased here.
            PoolLock rl(pool().release_mu);
            {
                PoolLock lk(pool().mu);
                batch.swap(pool().to_release);
            }
            release_now(batch);
        }
        refill_failed = !fill_default_class();
    }
}

void start_keeper_locked() {
    pool().keeper_started = true;
    std::thread([] {
        // Started by whichever thread first needs it, often a uthread on a
        // pinned vcore, whose pinning it inherits when libparlib's
        // pthread_create guard is not the definition reached (a program
        // that links or preloads liblithe_omp or liblithe_tbb reaches
        // libc's first). So pinned, it and the threads it creates would
        // compete with that vcore for its CPU while the others idle.
        take_process_affinity();
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, nullptr);
        // Named so that tools (tests/compose's sampler) can tell it apart.
        pthread_setname_np(pthread_self(), "parlib-keeper");
        keeper_main();
    }).detach();
}

// Hands the keeper work: started on the first need (a process that never
// needs a refill or a release has no keeper), woken after that.
void wake_keeper_locked() {
    if (pool().keeper_started)
        pool().keeper_cv.notify_one();
    else
        start_keeper_locked();
}

}  // namespace

TlsSlot *tls_slot_acquire(size_t stack_size) {
    const size_t cls = size_class(stack_size);
    Pool &p = pool();
    bool fill = false;
    {
        PoolLock lk(p.mu);
        if (p.fill == Pool::Fill::kNone) {
            p.fill = Pool::Fill::kFilling;
            fill = true;
        }
    }
    // The first acquire fills the pool itself, before the program's work
    // has begun in earnest: done by the keeper, concurrently, the fill's
    // thread creations would preempt the vcores while they run that work.
    // A failed creation leaves the pool short; the keeper retries when
    // acquires find it low.
    if (fill) fill_default_class();
    {
        PoolLock lk(p.mu);
        if (fill) {
            PARLIB_ASSERT(p.fill == Pool::Fill::kFilling);  // one fill, once
            p.fill = Pool::Fill::kDone;
        }
        auto &fl = p.free[cls];
        TlsSlot *s = nullptr;
        if (!fl.empty()) {
            s = fl.back();
            fl.pop_back();
        }
        // Below half the target: refill, unless the first fill is still
        // running (it fills up to the target itself).
        if (cls == default_class() && p.fill == Pool::Fill::kDone &&
            p.free[cls].size() < warm_target() / 2)
            wake_keeper_locked();
        if (s) return s;
    }
    return create_slot(cls);
}

void tls_slot_release(TlsSlot *slot) {
    PoolLock lk(pool().mu);
    auto &q = pool().to_release;
    q.push_back(slot);
    // The first slot wakes the keeper to start gathering, a full batch
    // ends its gathering early.
    if (q.size() == 1 || q.size() >= kReleaseBatch) wake_keeper_locked();
}

void tls_pool_flush() {
    std::vector<TlsSlot *> batch;
    PoolLock rl(pool().release_mu);  // waits for the keeper's
    {
        PoolLock lk(pool().mu);
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
