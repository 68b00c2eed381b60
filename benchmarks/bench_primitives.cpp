// bench_primitives: the machine operations parlib's switch path is made of,
// measured on the machine at hand (costs differ between CPU vendors: e.g.
// wrfsbase and stmxcsr are far slower on some AMD parts than on Intel), so
// that docs/perf.md can explain where a yield's time goes. Plain process, no
// parlib runtime. One op = one instruction (or short sequence) in a loop.
#include <sys/auxv.h>

#include <atomic>
#include <cstdint>

#include "harness.hpp"

namespace {

std::atomic<bool> g_flag{false};
std::atomic<uint64_t> g_counter{0};
std::atomic<uint32_t> g_state{1};
uint64_t g_fs;
uint32_t g_mxcsr, g_mxcsr_flag;
uint16_t g_x87cw;

}  // namespace

int main() {
    bool fsgsbase = (getauxval(AT_HWCAP2) & 2) != 0;
    asm volatile("mov %%fs:0, %0" : "=r"(g_fs));
    asm volatile("stmxcsr %0; fnstcw %1" : "=m"(g_mxcsr), "=m"(g_x87cw));
    g_mxcsr_flag = g_mxcsr | 0x20;  // + the sticky precision flag

    bench::Suite s("primitives");
    const int64_t n = 200'000;
    s.add_timed("loop overhead", n, [](int64_t k) {
        for (int64_t i = 0; i < k; ++i) asm volatile("");
    });
    if (fsgsbase)
        s.add_timed("wrfsbase (same value)", n, [](int64_t k) {
            for (int64_t i = 0; i < k; ++i)
                asm volatile("wrfsbase %0" ::"r"(g_fs));
        });
    s.add_timed("stmxcsr", n, [](int64_t k) {
        for (int64_t i = 0; i < k; ++i) {
            uint32_t x;
            asm volatile("stmxcsr %0" : "=m"(x));
        }
    });
    s.add_timed("stmxcsr + compare (parlib resume)", n, [](int64_t k) {
        for (int64_t i = 0; i < k; ++i) {
            uint32_t x;
            asm volatile("stmxcsr %0" : "=m"(x));
            if ((x ^ g_mxcsr) & 0xffc0) asm volatile("ldmxcsr %0" ::"m"(g_mxcsr));
        }
    });
    s.add_timed("fnstcw", n, [](int64_t k) {
        for (int64_t i = 0; i < k; ++i) {
            uint16_t c;
            asm volatile("fnstcw %0" : "=m"(c));
        }
    });
    s.add_timed("ldmxcsr, same value", n, [](int64_t k) {
        for (int64_t i = 0; i < k; ++i) asm volatile("ldmxcsr %0" ::"m"(g_mxcsr));
    });
    s.add_timed("ldmxcsr, flags differ", n, [](int64_t k) {
        for (int64_t i = 0; i < k; ++i) {
            const uint32_t &v = (i & 1) ? g_mxcsr_flag : g_mxcsr;
            asm volatile("ldmxcsr %0" ::"m"(v));
        }
        asm volatile("ldmxcsr %0" ::"m"(g_mxcsr));
    });
    s.add_timed("fldcw, same value", n, [](int64_t k) {
        for (int64_t i = 0; i < k; ++i) asm volatile("fldcw %0" ::"m"(g_x87cw));
    });
    s.add_timed("locked xchg + store (spinlock pair)", n, [](int64_t k) {
        for (int64_t i = 0; i < k; ++i) {
            g_flag.exchange(true, std::memory_order_acquire);
            g_flag.store(false, std::memory_order_release);
        }
    });
    s.add_timed("lock xadd (atomic counter)", n, [](int64_t k) {
        for (int64_t i = 0; i < k; ++i)
            g_counter.fetch_add(1, std::memory_order_relaxed);
    });
    s.add_timed("lock cmpxchg (state CAS)", n, [](int64_t k) {
        for (int64_t i = 0; i < k; ++i) {
            uint32_t e = 1;
            g_state.compare_exchange_strong(e, 1);
        }
    });
    s.add_timed("clock_gettime(MONOTONIC)", n / 10, [](int64_t k) {
        for (int64_t i = 0; i < k; ++i) bench::now_ns();
    });
    s.run(3 * bench::rounds_from_env());  // short rounds: afford many
    s.print("Machine primitives on the switch path",
            "Throughput of each operation in a tight loop (plain process). "
            "They explain the yield costs: a full-TLS yield through "
            "vcore context does two wrfsbase, one stmxcsr on save and one "
            "stmxcsr + compare on resume, and several locked operations "
            "(see the analysis).");
    return 0;
}
