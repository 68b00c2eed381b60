// ticks.cpp: parlib_ticks and its conversion to ns (parlib/ticks.h).
//
// g_clock is decided once (the first call, or this file's constructor,
// whichever comes first; a function-local static, so concurrent first
// calls agree) and then only read. g_ns_per_tick is written only with the
// final, 50 ms-or-longer calibration; a racing writer stores the same kind
// of value, so relaxed stores suffice.
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include <parlib/ticks.h>

namespace {

uint64_t monotonic_ns() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + ts.tv_nsec;
}

#if defined(__x86_64__)
bool kernel_keeps_time_with_tsc() {
    int fd = open("/sys/devices/system/clocksource/clocksource0/"
                  "current_clocksource",
                  O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char buf[16];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    return n >= 3 && memcmp(buf, "tsc", 3) == 0 && (n == 3 || buf[3] == '\n');
}
#endif

struct Clock {
    bool tsc = false;
    uint64_t origin_ticks = 0;  // readings of both clocks at the decision,
    uint64_t origin_ns = 0;     // the start of the calibration span
};

const Clock &clock_choice() {
    static const Clock c = [] {
        Clock k;
#if defined(__x86_64__)
        k.tsc = kernel_keeps_time_with_tsc();
        if (k.tsc) {
            k.origin_ns = monotonic_ns();
            k.origin_ticks = __builtin_ia32_rdtsc();
        }
#endif
        return k;
    }();
    return c;
}

constexpr uint64_t kFinalSpanNs = 50'000'000;
std::atomic<uint64_t> g_ns_per_tick{0};  // 32.32 fixed point; 0: not final

__attribute__((constructor)) void decide_clock_early() { clock_choice(); }

}  // namespace

// A plain rdtsc: ~10 ns in a loop here; lfence + rdtsc (ordered against
// earlier loads, as the kernel's rdtsc_ordered) ~19 ns, clock_gettime ~24,
// and in lithe's hart transfers the lfence's pipeline drain cost more than
// that (hart yield round trip 161 ns unordered, 205 ordered). ticks.h
// states what this gives up.
extern "C" uint64_t parlib_ticks(void) {
#if defined(__x86_64__)
    if (clock_choice().tsc) return __builtin_ia32_rdtsc();
#endif
    return monotonic_ns();
}

extern "C" uint64_t parlib_ticks_to_ns(uint64_t ticks) {
    const Clock &c = clock_choice();
    if (!c.tsc) return ticks;
    uint64_t rate = g_ns_per_tick.load(std::memory_order_relaxed);
    if (!rate) {
#if defined(__x86_64__)
        uint64_t ns = monotonic_ns() - c.origin_ns;
        uint64_t dt = __builtin_ia32_rdtsc() - c.origin_ticks;
        if (!dt || !ns) return ticks;  // no span yet: about 1 ns per tick
        rate = static_cast<uint64_t>((static_cast<unsigned __int128>(ns) << 32) / dt);
        if (ns >= kFinalSpanNs)
            g_ns_per_tick.store(rate, std::memory_order_relaxed);
#endif
    }
    return static_cast<uint64_t>(
        (static_cast<unsigned __int128>(ticks) * rate) >> 32);
}
