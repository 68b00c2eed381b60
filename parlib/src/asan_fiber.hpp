// asan_fiber.hpp: tells AddressSanitizer which stack the code runs on when a
// lightweight uthread is switched in or out (no-ops without ASan).
//
// ASan finds the running thread through TLS, so full-TLS uthreads need no
// help: their FS base is a backing pthread whose stack they run on, and
// vcore context runs on the vcore thread's own stack. A lightweight uthread
// runs on its own mmap'd stack with the vcore's TLS: without these calls ASan
// believes the vcore's stack is current, ignores __asan_handle_no_return (so
// frames abandoned by uthread_exit or a throw stay poisoned) and may report
// false positives on reused stacks. Fake stacks (detect_stack_use_after_return)
// are not supported: the saved fake-stack pointer is dropped.
#pragma once

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define PARLIB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PARLIB_ASAN 1
#endif
#endif
#ifdef PARLIB_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace parlib {

// Before switching to a stack [lo, lo + size); `dying`: the code being left
// never runs again.
inline void asan_switch_to(const void *lo, size_t size, bool dying) {
#ifdef PARLIB_ASAN
    void *fake = nullptr;
    __sanitizer_start_switch_fiber(dying ? nullptr : &fake, lo, size);
#else
    (void)lo, (void)size, (void)dying;
#endif
}

// First thing on the new stack after such a switch.
inline void asan_switched() {
#ifdef PARLIB_ASAN
    __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
}

}  // namespace parlib
