// check.hpp: parlib's invariant checks and fatal errors.
//
// PARLIB_ASSERT is compiled in when LITHE_ASSERTS is on (the default for every
// build that runs tests; benchmarks turn it off). parlib_fatal is always on:
// it is for API misuse that would otherwise corrupt state, and names the call.
// Both write with write(2) only, so they are safe in vcore context and in
// signal handlers.
#pragma once

namespace parlib {

[[noreturn]] void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

}  // namespace parlib

#if defined(LITHE_ASSERTS) && LITHE_ASSERTS
#define PARLIB_ASSERT(cond)                                                   \
    do {                                                                      \
        if (__builtin_expect(!(cond), 0))                                     \
            ::parlib::fatal("assertion failed: %s (%s:%d, %s)", #cond,        \
                            __FILE__, __LINE__, __func__);                    \
    } while (0)
#else
#define PARLIB_ASSERT(cond) ((void)0)
#endif

// Misuse checks stay on in every build.
#define PARLIB_CHECK(cond, ...)                                               \
    do {                                                                      \
        if (__builtin_expect(!(cond), 0)) ::parlib::fatal(__VA_ARGS__);       \
    } while (0)
