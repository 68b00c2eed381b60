// spinlock.cpp: test-and-test-and-set spinlocks and their pdr variant
// (parlib/spinlock.h).
//
// The lock word is only ever written by an exchange (acquire) or a release
// store by the holder. The pdr variant brackets the plain lock with
// uth_disable_notifs/uth_enable_notifs, which are no-ops outside uthreads,
// so the same calls serve vcore context and foreign threads.
#include "parlib/spinlock.h"

#include "parlib/uthread.h"
#include "spin_backoff.hpp"

extern "C" {

void spinlock_init(spinlock_t *lock) {
    __atomic_store_n(&lock->locked, 0, __ATOMIC_RELAXED);
}

void spin_lock(spinlock_t *lock) {
    parlib::SpinBackoff backoff;
    while (__atomic_exchange_n(&lock->locked, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&lock->locked, __ATOMIC_RELAXED))
            backoff.pause();
}

bool spin_trylock(spinlock_t *lock) {
    return !__atomic_load_n(&lock->locked, __ATOMIC_RELAXED) &&
           !__atomic_exchange_n(&lock->locked, 1, __ATOMIC_ACQUIRE);
}

void spin_unlock(spinlock_t *lock) {
    __atomic_store_n(&lock->locked, 0, __ATOMIC_RELEASE);
}

bool spin_locked(const spinlock_t *lock) {
    return __atomic_load_n(&lock->locked, __ATOMIC_RELAXED) != 0;
}

void spin_pdr_init(spin_pdr_lock_t *pdr) { spinlock_init(&pdr->lock); }

void spin_pdr_lock(spin_pdr_lock_t *pdr) {
    uth_disable_notifs();
    spin_lock(&pdr->lock);
}

bool spin_pdr_trylock(spin_pdr_lock_t *pdr) {
    uth_disable_notifs();
    if (spin_trylock(&pdr->lock)) return true;
    uth_enable_notifs();
    return false;
}

void spin_pdr_unlock(spin_pdr_lock_t *pdr) {
    spin_unlock(&pdr->lock);
    uth_enable_notifs();
}

bool spin_pdr_locked(const spin_pdr_lock_t *pdr) {
    return spin_locked(&pdr->lock);
}

}  // extern "C"
