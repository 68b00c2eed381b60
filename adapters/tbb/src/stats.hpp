// stats.hpp: the adapter's process-wide counters (what lithe_tbb_get_stats
// and LITHE_TBB_REPORT show). Relaxed atomics, written from any context or
// hart; readers get a snapshot.
#pragma once

#include <atomic>
#include <cstdint>

namespace lithe_tbb {

struct Counters {
    std::atomic<uint64_t> servers{0};
    std::atomic<uint64_t> servers_closed{0};
    std::atomic<uint64_t> jobs{0};
    std::atomic<uint64_t> process_calls{0};
    std::atomic<uint64_t> in_process{0};  // workers inside process() now
    std::atomic<uint64_t> peak_workers{0};
    std::atomic<int> refused{0};  // the refused TBB interface version
    std::atomic<int> foreign_start{0};  // make_server refused: not a context
    // Where the TBB scheduler's harts go (LITHE_TBB_REPORT's second line):
    std::atomic<uint64_t> context_yields{0};  // worker/holder yields to us
    std::atomic<uint64_t> adjusts_up{0};      // adjust_job_count_estimate(> 0)
    std::atomic<uint64_t> adjusts_down{0};    // adjust_job_count_estimate(<= 0)
    std::atomic<uint64_t> parks{0};           // workers parked (slack < 0)
    std::atomic<uint64_t> wakes{0};           // parked workers woken
    std::atomic<uint64_t> spin_rests{0};      // TbbScheduler::rest
    std::atomic<uint64_t> rests_cut{0};       // ... ended early by end_rests

    void enter_process() noexcept {
        process_calls.fetch_add(1, std::memory_order_relaxed);
        uint64_t now = in_process.fetch_add(1, std::memory_order_relaxed) + 1;
        uint64_t peak = peak_workers.load(std::memory_order_relaxed);
        while (now > peak &&
               !peak_workers.compare_exchange_weak(peak, now,
                                                   std::memory_order_relaxed)) {
        }
    }
    void leave_process() noexcept {
        in_process.fetch_sub(1, std::memory_order_relaxed);
    }
};

extern Counters counters;

}  // namespace lithe_tbb
