// lsan_roots.hpp: makes LeakSanitizer scan the stacks of live uthreads
// (no-ops without a leak-checking sanitizer).
//
// LSan finds live objects from globals, TLS and each kernel thread's stack
// from its stack pointer up. A uthread's stack is none of these: a full-TLS
// uthread runs on the part of its parked backing thread's stack below the
// parked frame (tls_pool.hpp), which LSan skips as "below the stack
// pointer", and a lightweight one on an mmap'd region. So an object that a
// blocked or not yet finished uthread alone refers to (from a local, or a
// saved register) was reported leaked by a leak check made meanwhile, e.g.
// the one at exit. uthread_init registers the stack as an LSan root region
// and uthread_cleanup unregisters it (the region is then scanned whole, so
// stale words below the uthread's stack pointer can hide a real leak: the
// price of not knowing a blocked uthread's stack pointer at the check).
// Both calls take LSan's lock; they are on the create / cleanup path only.
#pragma once

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define PARLIB_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define PARLIB_LSAN 1
#endif
#endif
#ifdef PARLIB_LSAN
#include <sanitizer/lsan_interface.h>
#endif

namespace parlib {

inline void lsan_add_stack(const void *lo, size_t size) {
#ifdef PARLIB_LSAN
    __lsan_register_root_region(lo, size);
#else
    (void)lo, (void)size;
#endif
}

// Exactly the (lo, size) given to lsan_add_stack.
inline void lsan_remove_stack(const void *lo, size_t size) {
#ifdef PARLIB_LSAN
    __lsan_unregister_root_region(lo, size);
#else
    (void)lo, (void)size;
#endif
}

}  // namespace parlib
