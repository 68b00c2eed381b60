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
#include "mutex.hpp"

#include <parlib/futex.h>

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

void set_held(pthread_mutex_t *m, int self) {
    m->__data.__owner = self;
    m->__data.__count = 1;
    ++m->__data.__nusers;
}

// After the fast attempt failed: waits for the word (wait.hpp); 0,
// ETIMEDOUT, or EINVAL for a bad `abstime`.
__attribute__((noinline)) int lock_contended(pthread_mutex_t *m,
                                             const struct timespec *abstime,
                                             clockid_t clock) {
    Deadline d;
    if (abstime) {
        if (!valid_timespec(abstime)) return EINVAL;
        d = Deadline::at(clock, *abstime);
    }
    return lock_word_contended(word(m), d);
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

int next_mutex_lock(pthread_mutex_t *m) {
    return next_symbol<int (*)(pthread_mutex_t *)>(g_next_lock,
                                                   "pthread_mutex_lock")(m);
}

int next_mutex_unlock(pthread_mutex_t *m) {
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
