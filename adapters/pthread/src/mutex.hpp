// mutex.hpp: the adapter's pthread mutex (mutex.cpp), also used by the
// condition variable (cond.cpp) to release and retake the caller's mutex.
//
// The lock lives in the object's own storage, glibc's layout
// (pthread_mutex_t::__data): __lock is the lock word (0 free, 1 held, 2
// held and maybe waited for), __owner the holder's id (owner_id(): per
// thread, i.e. per context for contexts, since it is kept in TLS), __count
// the recursion depth, __nusers the number of holders (so glibc's
// pthread_mutex_destroy still answers EBUSY for a held mutex), __kind
// glibc's kind as pthread_mutex_init or a static initializer left it.
// Waiters wait as wait.hpp says, so contexts and kernel threads may share
// a mutex. Kinds this does not implement (robust, priority-inheriting or
// -protecting, process-shared) are left to glibc for every caller, so each
// object follows exactly one protocol.
#pragma once

#include <pthread.h>

#include "wait.hpp"

namespace lithe_pthread {

// The caller's owner id: nonzero, unique per thread (per context, since it
// is kept in TLS). Also the write owner of the adapter's rwlocks.
int owner_id();

// Is `m` of a kind the adapter implements?
bool mutex_ours(const pthread_mutex_t *m);
// For a mutex of ours: pthread_mutex_lock (with `d`: timedlock) and
// pthread_mutex_unlock.
int mutex_lock(pthread_mutex_t *m, const struct timespec *abstime,
               clockid_t clock);
int mutex_unlock(pthread_mutex_t *m);

// The next definitions (glibc's), for kinds that are not ours.
int next_mutex_lock(pthread_mutex_t *m);
int next_mutex_unlock(pthread_mutex_t *m);

}  // namespace lithe_pthread
