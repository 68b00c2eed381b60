// futex.hpp: raw kernel futex calls used inside parlib to park kernel
// threads. Not the uthread futex (parlib/futex.h).
//
// These use an inline `syscall` instruction rather than libc's syscall():
// a parked backing thread shares its TCB with a running uthread, so it must
// not write errno (or touch any other TLS) while parked.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>

#include <atomic>
#include <cstdint>

namespace parlib {

inline long raw_syscall4(long nr, long a, long b, long c, long d) {
    long ret;
    register long r10 asm("r10") = d;
    asm volatile("syscall"
                 : "=a"(ret)
                 : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
                 : "rcx", "r11", "memory");
    return ret;  // -errno on failure
}

// Sleeps while *word == expected (spurious returns allowed). Returns 0 or
// -errno (-ETIMEDOUT, -EAGAIN, -EINTR).
inline long kfutex_wait(std::atomic<uint32_t> *word, uint32_t expected,
                        const struct timespec *rel_timeout = nullptr) {
    return raw_syscall4(SYS_futex, reinterpret_cast<long>(word),
                        FUTEX_WAIT | FUTEX_PRIVATE_FLAG, expected,
                        reinterpret_cast<long>(rel_timeout));
}

inline void kfutex_wake(std::atomic<uint32_t> *word, int n) {
    raw_syscall4(SYS_futex, reinterpret_cast<long>(word),
                 FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n, 0);
}

}  // namespace parlib
