// mutex.cpp: pthread_mutex_lock, _trylock, _timedlock, _clocklock and
// _unlock on the object's own storage (mutex.hpp), for every caller: a
// context that blocks gives its hart to other work; a foreign kernel thread
// sleeps in the kernel; hart context and contexts that must not switch
// re-check with the kernel thread yielding (wait.hpp).
//
// Semantics follow glibc's per kind: normal and adaptive (a second lock by
// the holder deadlocks; unlock does not check the owner), errorcheck
// (EDEADLK, EPERM), recursive (EAGAIN when the count would overflow,
// EPERM); trylock answers EBUSY, also to an errorcheck holder; a destroyed
// mutex (glibc sets __kind to -1) and the kinds the adapter does not
// implement go to glibc, which answers EINVAL or does the work.
// Timed locks: EINVAL for a bad time only when they would have to wait,
// ETIMEDOUT once the time on the clock has passed.
//
// Contention: a locker that finds the word held spins while the holder
// runs on another vcore (parlib's uthread_running_elsewhere on the holder
// recorded at lock time), for at most parlib's spin window
// (vcore_spin_window_us: 0 when vcores outnumber CPUs), then sleeps. So
// with one hart nobody spins (the holder cannot run while the waiter has
// the only hart), nor does anyone spin on a holder that sleeps, was paused
// by the slicer or waits for a hart. The spinner polls the word at growing
// intervals (kFirstPollNs, doubling up to kMaxPollNs): each poll pulls the
// word's cache line away from the holder, and a poll that finds the word
// free moves the lock (and the data it guards) to the spinner's hart, so
// polling at every pause made a lock whose holder re-takes it at once
// bounce between harts (bench_pthread mutex, 4 threads at 2 harts: 65-77
// ns per lock + unlock against 15-18 with these intervals and NPTL's
// 25-50, docs/perf.md). A spinner sees a release at most about as late as
// it has already waited. A timed lock spins no longer than its time.
// Locks barge: an unlock frees the word and wakes one sleeper, and whoever
// takes the word first has it. A locker that has slept takes the word as
// 2 ever after, also by spinning, so its unlock wakes the next sleeper
// (wait.hpp's lock_word_contended; taking it as 1 would strand them:
// pthread_mutex.cpp's mutex_stress hangs).
#include "mutex.hpp"

#include <parlib/futex.h>
#include <parlib/ticks.h>
#include <parlib/uthread.h>
#include <parlib/vcore.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>

#include "../../common/next_symbol.hpp"

namespace lithe_pthread {
namespace {

using lithe_adapters::next_symbol;

// glibc's __kind bits (nptl/pthreadP.h).
constexpr int kKindMask = 3;            // normal, recursive, errorcheck, adaptive
constexpr int kElisionBits = 256 | 512; // lock elision hints: no meaning here
constexpr int kRecursive = PTHREAD_MUTEX_RECURSIVE_NP;
constexpr int kErrorCheck = PTHREAD_MUTEX_ERRORCHECK_NP;

std::atomic<void *> g_next_lock{nullptr}, g_next_trylock{nullptr},
    g_next_timedlock{nullptr}, g_next_clocklock{nullptr}, g_next_unlock{nullptr};

std::atomic<int> g_next_id{1};
__attribute__((tls_model("initial-exec"))) thread_local int tl_id = 0;

int kind_of(const pthread_mutex_t *m) {
    return __atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED) & ~kElisionBits;
}

uint32_t *word(pthread_mutex_t *m) {
    return reinterpret_cast<uint32_t *>(&m->__data.__lock);
}

bool try_take(pthread_mutex_t *m) { return try_lock_word(word(m)); }

// The caller's uthread (NULL: not a uthread). uthread_self() is a call into
// libparlib, ~4% of an uncontended lock + unlock, so a uthread with its own
// TLS keeps it in that TLS: no other uthread ever runs on it (docs/parlib.md,
// "Per-uthread TLS"). Lightweight uthreads share their vcore's TLS, and a
// thread that is no uthread yet may become one (the main thread): those ask
// each time.
__attribute__((tls_model("initial-exec"))) thread_local const struct uthread
    *tl_uthread = nullptr;
__attribute__((noinline)) const struct uthread *ask_uthread() {
    const struct uthread *u = uthread_self();
    if (u && (u->flags & UTHREAD_F_OWN_TLS)) tl_uthread = u;
    return u;
}
const struct uthread *self_uthread() {
    return tl_uthread ? tl_uthread : ask_uthread();
}

// The holder's uthread, for lockers that spin. It lives in __list.__prev,
// glibc's robust-list link, which the kinds implemented here never use.
// Written after the word is taken, so a spinner may read the previous
// holder for a moment: it only decides whether to go on spinning.
void note_holder(pthread_mutex_t *m) {
    __atomic_store_n(&m->__data.__list.__prev,
                     reinterpret_cast<__pthread_list_t *>(
                         const_cast<struct uthread *>(self_uthread())),
                     __ATOMIC_RELAXED);
}
const struct uthread *holder(pthread_mutex_t *m) {
    return reinterpret_cast<const struct uthread *>(
        __atomic_load_n(&m->__data.__list.__prev, __ATOMIC_RELAXED));
}

void set_held(pthread_mutex_t *m, int self) {
    note_holder(m);
    m->__data.__owner = self;
    m->__data.__count = 1;
    ++m->__data.__nusers;
}

constexpr uint64_t kFirstPollNs = 250, kMaxPollNs = 4000;

// Spins while the word is held by a holder that runs on another vcore, for
// at most the spin window and what is left of a timed lock's time (`d`);
// true once it took the word, setting it to `take`.
bool spin_for_holder(pthread_mutex_t *m, uint32_t take, const Deadline &d) {
    uint64_t window_ns = vcore_spin_window_us() * 1000;
    if (window_ns != 0 && d.set)
        window_ns = std::min<uint64_t>(window_ns, uint64_t(d.left_us()) * 1000);
    if (window_ns == 0) return false;
    uint32_t *w = word(m);
    uint64_t start = parlib_ticks();
    for (uint64_t gap = kFirstPollNs;; gap = std::min(2 * gap, kMaxPollNs)) {
        if (!uthread_running_elsewhere(holder(m))) return false;
        uint64_t now = parlib_ticks_to_ns(parlib_ticks() - start);
        if (now >= window_ns) return false;
        while (parlib_ticks_to_ns(parlib_ticks() - start) < now + gap)
            __builtin_ia32_pause();
        uint32_t expect = 0;
        if (__atomic_load_n(w, __ATOMIC_RELAXED) == 0 &&
            __atomic_compare_exchange_n(w, &expect, take, false,
                                        __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return true;
    }
}

// After the fast attempt failed: spins, then sleeps on the word (wait.hpp)
// until it takes it; 0, ETIMEDOUT, or EINVAL for a bad `abstime`.
__attribute__((noinline)) int lock_contended(pthread_mutex_t *m,
                                             const struct timespec *abstime,
                                             clockid_t clock) {
    Deadline d;
    if (abstime) {
        if (!valid_timespec(abstime)) return EINVAL;
        d = Deadline::at(clock, *abstime);
    }
    return lock_word_contended(word(m), d, [m, &d](uint32_t take) {
        return spin_for_holder(m, take, d);
    });
}

// The holder's checks before taking it: -1 to go on, else the result.
int relock_by_holder(pthread_mutex_t *m, int kind, int self, bool trying) {
    if (kind != kRecursive && kind != kErrorCheck) return -1;  // as glibc:
    // normal and adaptive deadlock (or answer EBUSY to trylock)
    if (__atomic_load_n(&m->__data.__owner, __ATOMIC_RELAXED) != self) return -1;
    if (kind == kErrorCheck) return trying ? EBUSY : EDEADLK;
    if (m->__data.__count == UINT_MAX) return EAGAIN;
    ++m->__data.__count;
    return 0;
}

}  // namespace

int owner_id() {
    if (tl_id == 0) tl_id = g_next_id.fetch_add(1, std::memory_order_relaxed);
    return tl_id;
}

bool mutex_ours(const pthread_mutex_t *m) {
    int k = kind_of(m);
    return k >= 0 && (k & ~kKindMask) == 0;
}

int mutex_lock(pthread_mutex_t *m, const struct timespec *abstime,
               clockid_t clock) {
    int kind = kind_of(m) & kKindMask, self = owner_id();
    if (int rc = relock_by_holder(m, kind, self, false); rc >= 0) return rc;
    if (!try_take(m))
        if (int rc = lock_contended(m, abstime, clock)) return rc;
    set_held(m, self);
    return 0;
}

int mutex_unlock(pthread_mutex_t *m) {
    int kind = kind_of(m) & kKindMask;
    if (kind == kRecursive || kind == kErrorCheck) {
        if (__atomic_load_n(&m->__data.__owner, __ATOMIC_RELAXED) != owner_id() ||
            __atomic_load_n(word(m), __ATOMIC_RELAXED) == 0)
            return EPERM;
        if (kind == kRecursive && --m->__data.__count != 0) return 0;
    }
    m->__data.__owner = 0;
    m->__data.__count = 0;
    --m->__data.__nusers;
    unlock_word(word(m));
    return 0;
}

// Out of line and cold: the entry points keep only the fast path in
// registers.
__attribute__((noinline, cold)) int next_mutex_lock(pthread_mutex_t *m) {
    return next_symbol<int (*)(pthread_mutex_t *)>(g_next_lock,
                                                   "pthread_mutex_lock")(m);
}

__attribute__((noinline, cold)) int next_mutex_unlock(pthread_mutex_t *m) {
    return next_symbol<int (*)(pthread_mutex_t *)>(g_next_unlock,
                                                   "pthread_mutex_unlock")(m);
}

}  // namespace lithe_pthread

using namespace lithe_pthread;

extern "C" {

// flatten: the uncontended lock and unlock in one function each, as
// glibc's.
__attribute__((visibility("default"), flatten)) int pthread_mutex_lock(
    pthread_mutex_t *m) noexcept {
    if (!mutex_ours(m)) return next_mutex_lock(m);
    return mutex_lock(m, nullptr, CLOCK_REALTIME);
}

__attribute__((visibility("default"))) int pthread_mutex_trylock(
    pthread_mutex_t *m) noexcept {
    if (!mutex_ours(m))
        return next_symbol<int (*)(pthread_mutex_t *)>(
            g_next_trylock, "pthread_mutex_trylock")(m);
    int kind = kind_of(m) & kKindMask, self = owner_id();
    if (int rc = relock_by_holder(m, kind, self, true); rc >= 0) return rc;
    if (!try_take(m)) return EBUSY;
    set_held(m, self);
    return 0;
}

__attribute__((visibility("default"))) int pthread_mutex_timedlock(
    pthread_mutex_t *m, const struct timespec *abstime) noexcept {
    if (!mutex_ours(m))
        return next_symbol<int (*)(pthread_mutex_t *, const struct timespec *)>(
            g_next_timedlock, "pthread_mutex_timedlock")(m, abstime);
    return mutex_lock(m, abstime, CLOCK_REALTIME);
}

__attribute__((visibility("default"))) int pthread_mutex_clocklock(
    pthread_mutex_t *m, clockid_t clock, const struct timespec *abstime) noexcept {
    if (!mutex_ours(m))
        return next_symbol<int (*)(pthread_mutex_t *, clockid_t,
                                   const struct timespec *)>(
            g_next_clocklock, "pthread_mutex_clocklock")(m, clock, abstime);
    if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return EINVAL;
    return mutex_lock(m, abstime, clock);
}

__attribute__((visibility("default"), flatten)) int pthread_mutex_unlock(
    pthread_mutex_t *m) noexcept {
    if (!mutex_ours(m)) return next_mutex_unlock(m);
    return mutex_unlock(m);
}

}  // extern "C"
