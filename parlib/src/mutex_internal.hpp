// mutex_internal.hpp: what the condition variable needs from the mutex:
// releasing it on behalf of a waiter once the waiter is queued (possibly in
// vcore context, where "the caller" is not the owner), and re-acquiring it
// to the depth it had.
#pragma once

#include <cstdint>

#include "parlib/mutex.h"
#include "wait_queue.hpp"

namespace parlib {

struct MutexRelease {
    uth_mutex_t *m;
    uint32_t depth;  // out: the owner's depth at release
};

// A ReleaseHook (arg: MutexRelease*): releases `m` completely whoever runs
// it; returns the waiter to wake. The owner must have been checked.
Waiter *mutex_release_hook(void *arg);

// True if the calling thread owns `m`.
bool mutex_held_by_caller(uth_mutex_t *m);

// Locks `m` and restores the depth saved by mutex_release_hook.
void mutex_relock(uth_mutex_t *m, uint32_t depth, const char *who);

}  // namespace parlib
