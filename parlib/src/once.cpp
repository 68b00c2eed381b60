// once.cpp: one-time initialisation (parlib/once.h) on the user-space
// futex. `state` goes kNotRun -> kRunning (the CAS winner runs fn) ->
// kDone; losers sleep on the futex while it reads kRunning.
#include "parlib/once.h"

#include <climits>

#include "parlib/futex.h"

namespace {
enum : uint32_t { kNotRun = 0, kRunning = 1, kDone = 2 };
}

extern "C" {

void uth_once(uth_once_t *once, void (*fn)(void)) {
    uint32_t s = __atomic_load_n(&once->state, __ATOMIC_ACQUIRE);
    if (s == kDone) return;
    if (s == kNotRun &&
        __atomic_compare_exchange_n(&once->state, &s, kRunning, false,
                                    __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)) {
        fn();
        __atomic_store_n(&once->state, kDone, __ATOMIC_RELEASE);
        uth_futex_wake(&once->state, INT_MAX);
        return;
    }
    while (__atomic_load_n(&once->state, __ATOMIC_ACQUIRE) != kDone)
        uth_futex_wait(&once->state, kRunning, -1);
}

}  // extern "C"
