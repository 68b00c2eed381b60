// sleep_guard.cpp: nanosleep, clock_nanosleep, usleep and sleep called
// from a lithe context sleep the context in user space instead of the
// vcore's kernel thread, so the hart runs other work meanwhile.
//
// Why: a context asleep in the kernel keeps its hart for the whole sleep.
// Runtimes and programs poll with short sleeps: LLVM's libomp test
// worksharing/for/kmp_sch_simd_guided.c has team members wait for a flag
// with usleep(10) while the master, which sets it, needs a hart; with as
// many sleepers as harts it crawled at the pace of time slicing (timed out
// at 20 s; docs/omp.md, "Conformance").
//
// In a context that may switch (may_switch.hpp) a sleep becomes a series of
// uth_sleep_us (parlib alarms: the context blocks, its scheduler gets
// context_block / context_unblock, the hart runs others) until the
// deadline has passed on the clock the caller named, re-read after every
// wake-up, so a sleep never ends early. A request for zero time yields
// the context once (what such calls are for). Less than 50 us left is
// waited out by yielding the context until the deadline: an alarm's round
// trip (timerfd, parlib's service thread, an event to a vcore that may be
// parked) costs about as much, and the kernel's own sleeps overshoot by up
// to 50 us (its default timer slack); kmp_sch_simd_guided's usleep(10)
// polls are of this kind. Everything else, a foreign pthread,
// vcore context, a context with notifications disabled (holding a lithe
// or parlib spinlock, inside the OpenMP runtime's region start/end), makes
// the real libc call. libc's internal sleeps never get here (hidden
// aliases), and parlib sleeps in the kernel only outside uthreads.
//
// The POSIX contract, as seen by the caller:
// - Invalid times (tv_nsec outside [0, 1e9), tv_sec < 0) fail with EINVAL
//   before any sleep: nanosleep returns -1 with errno, clock_nanosleep
//   returns the error; a NULL request goes to libc (EFAULT).
// - clock_nanosleep: CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME and
//   CLOCK_TAI in user space, relative or TIMER_ABSTIME; other clocks (CPU
//   time, invalid ids) go to libc, which answers them (EINVAL, or a
//   kernel sleep). Relative sleeps are measured on CLOCK_MONOTONIC, as the
//   kernel does (unaffected by setting the clock). Absolute sleeps on a
//   settable clock re-read it at least every 100 ms, so setting the clock
//   forward ends them within 100 ms.
// - *rem (relative sleeps) is set to 0: the sleep always completes.
// - EINTR never happens: a signal cannot be delivered to a uthread
//   (docs/parlib.md: process-directed signals run their handler on some
//   vcore's kernel thread, pthread_kill of a uthread is refused), so no
//   handler interrupts the sleeping context and the sleep runs to its end.
//   A program that relies on a signal to cut a sleep short (an alarm()
//   timeout around sleep) waits the full time instead.
// - usleep returns 0 and sleep returns 0 (nothing left unslept); errno is
//   preserved.
//
// Compiled into every adapter library, for the reason sched_yield_guard.cpp
// gives. liblithe_omp exports them under libc's default nodes
// (abi/interpose.syms): nanosleep, usleep, sleep GLIBC_2.2.5,
// clock_nanosleep GLIBC_2.17. Runs in the caller's context; no state but
// the cached libc addresses.
#include <lithe/lithe.h>
#include <parlib/alarm.h>

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <limits>

#include "may_switch.hpp"
#include "next_symbol.hpp"

namespace {

using lithe_adapters::next_symbol;

constexpr int64_t kNsPerSec = 1'000'000'000;
constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
// Time left below which the context yields instead of starting an alarm
// (see the top: Linux's default timer slack).
constexpr int64_t kYieldBelowNs = 50'000;
// Longest single user-level sleep towards a deadline on a settable clock.
constexpr int64_t kSettableRecheckNs = 100'000'000;

std::atomic<void *> g_next_nanosleep{nullptr}, g_next_clock_nanosleep{nullptr},
    g_next_usleep{nullptr}, g_next_sleep{nullptr};

bool valid(const struct timespec *t) {
    return t->tv_sec >= 0 && t->tv_nsec >= 0 && t->tv_nsec < kNsPerSec;
}

// Nanoseconds of a valid timespec, saturated at kNever (292 years).
int64_t to_ns(const struct timespec &t) {
    if (t.tv_sec > (kNever - t.tv_nsec) / kNsPerSec) return kNever;
    return t.tv_sec * kNsPerSec + t.tv_nsec;
}

int64_t now_ns(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return to_ns(t);
}

bool user_level_clock(clockid_t c) {
    return c == CLOCK_REALTIME || c == CLOCK_MONOTONIC || c == CLOCK_BOOTTIME ||
           c == CLOCK_TAI;
}

// Blocks the calling context until `clock` reads at least `deadline`.
void sleep_until(clockid_t clock, int64_t deadline) {
    const bool settable = clock == CLOCK_REALTIME || clock == CLOCK_TAI;
    int saved = errno;
    for (;;) {
        int64_t left = deadline - now_ns(clock);
        if (left <= 0) break;
        if (left < kYieldBelowNs) {
            lithe_context_yield();
            continue;
        }
        if (settable) left = std::min(left, kSettableRecheckNs);
        uth_sleep_us(static_cast<uint64_t>((left + 999) / 1000));
    }
    errno = saved;
}

// A relative sleep of `req` (valid) in user space.
void sleep_for(const struct timespec &req) {
    int64_t d = to_ns(req);
    if (d == 0) {
        lithe_context_yield();
        return;
    }
    int64_t start = now_ns(CLOCK_MONOTONIC);
    sleep_until(CLOCK_MONOTONIC, d > kNever - start ? kNever : start + d);
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int nanosleep(const struct timespec *req,
                                                     struct timespec *rem) {
    if (!req || !lithe_adapters::may_switch_context())
        return next_symbol<int (*)(const struct timespec *, struct timespec *)>(
            g_next_nanosleep, "nanosleep")(req, rem);
    if (!valid(req)) {
        errno = EINVAL;
        return -1;
    }
    sleep_for(*req);
    if (rem) *rem = {0, 0};
    return 0;
}

__attribute__((visibility("default"))) int clock_nanosleep(
    clockid_t clock, int flags, const struct timespec *req,
    struct timespec *rem) {
    if (!req || !user_level_clock(clock) || !lithe_adapters::may_switch_context())
        return next_symbol<int (*)(clockid_t, int, const struct timespec *,
                                   struct timespec *)>(
            g_next_clock_nanosleep, "clock_nanosleep")(clock, flags, req, rem);
    if (!valid(req)) return EINVAL;
    if (flags & TIMER_ABSTIME) {
        sleep_until(clock, to_ns(*req));
        return 0;
    }
    sleep_for(*req);
    if (rem) *rem = {0, 0};
    return 0;
}

__attribute__((visibility("default"))) int usleep(useconds_t usec) {
    if (!lithe_adapters::may_switch_context())
        return next_symbol<int (*)(useconds_t)>(g_next_usleep, "usleep")(usec);
    const struct timespec t = {static_cast<time_t>(usec / 1000000),
                               static_cast<long>(usec % 1000000) * 1000};
    sleep_for(t);
    return 0;
}

__attribute__((visibility("default"))) unsigned int sleep(unsigned int seconds) {
    if (!lithe_adapters::may_switch_context())
        return next_symbol<unsigned (*)(unsigned)>(g_next_sleep, "sleep")(seconds);
    const struct timespec t = {static_cast<time_t>(seconds), 0};
    sleep_for(t);
    return 0;
}

}  // extern "C"
