// mcs_lock.cpp: MCS queue lock (parlib/mcs_lock.h).
//
// Protocol: a contender initialises its qnode, swaps itself in as `tail`,
// and if there was a predecessor links itself as the predecessor's `next`
// and spins on its own `locked`. Unlock hands over by clearing the
// successor's `locked`; with no visible successor it tries to CAS `tail`
// back to NULL, and if that fails a successor is between its swap and its
// link, so it waits for `next` to appear. A qnode is written by its owner,
// by its predecessor (`locked`) and by its successor (`next`) only.
#include "parlib/mcs_lock.h"

#include "parlib/uthread.h"
#include "spin_backoff.hpp"

extern "C" {

void mcs_lock_init(mcs_lock_t *lock) {
    __atomic_store_n(&lock->tail, nullptr, __ATOMIC_RELAXED);
}

void mcs_lock_lock(mcs_lock_t *lock, mcs_lock_qnode_t *qnode) {
    qnode->next = nullptr;
    qnode->locked = 1;
    mcs_lock_qnode_t *pred =
        __atomic_exchange_n(&lock->tail, qnode, __ATOMIC_ACQ_REL);
    if (!pred) return;
    __atomic_store_n(&pred->next, qnode, __ATOMIC_RELEASE);
    parlib::SpinBackoff backoff;
    while (__atomic_load_n(&qnode->locked, __ATOMIC_ACQUIRE)) backoff.pause();
}

bool mcs_lock_trylock(mcs_lock_t *lock, mcs_lock_qnode_t *qnode) {
    qnode->next = nullptr;
    qnode->locked = 0;
    mcs_lock_qnode_t *expected = nullptr;
    return __atomic_compare_exchange_n(&lock->tail, &expected, qnode, false,
                                       __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

void mcs_lock_unlock(mcs_lock_t *lock, mcs_lock_qnode_t *qnode) {
    mcs_lock_qnode_t *next = __atomic_load_n(&qnode->next, __ATOMIC_ACQUIRE);
    if (!next) {
        mcs_lock_qnode_t *expected = qnode;
        if (__atomic_compare_exchange_n(&lock->tail, &expected, nullptr, false,
                                        __ATOMIC_RELEASE, __ATOMIC_RELAXED))
            return;
        parlib::SpinBackoff backoff;
        while (!(next = __atomic_load_n(&qnode->next, __ATOMIC_ACQUIRE)))
            backoff.pause();
    }
    __atomic_store_n(&next->locked, 0, __ATOMIC_RELEASE);
}

void mcs_pdr_lock(mcs_lock_t *lock, mcs_lock_qnode_t *qnode) {
    uth_disable_notifs();
    mcs_lock_lock(lock, qnode);
}

void mcs_pdr_unlock(mcs_lock_t *lock, mcs_lock_qnode_t *qnode) {
    mcs_lock_unlock(lock, qnode);
    uth_enable_notifs();
}

}  // extern "C"
