// rest_clock.hpp: RestClock, the kernel thread that ends resting TBB
// workers' rests (TbbScheduler::rest, docs/tbb.md "Liveness").
//
// A resting context is saved and counted blocked; it runs again only when
// its rest is ended (lithe unblock), so the end must come whatever the
// vcores are doing. It is therefore not a parlib alarm: an alarm is
// delivered to one vcore, as an event that vcore handles when it next
// enters vcore context, and a vcore whose context sleeps in the kernel
// never does. That lost tbb.preload.concurrent: the TBB master slept in
// TBB's raw futex wait (its wait_context) on the very vcore the rests'
// alarms were queued to, waiting for work held by the resting workers
// (docs/tbb.md). The clock is a plain pthread named "lithe-tbb-rest", with
// every signal blocked, that sleeps in a futex wait until the earliest
// rest ends, then unblocks every context whose rest is due (from that
// foreign thread: lithe_context_unblock asks the tree for a hart, waking a
// parked vcore if need be).
//
// Ownership: a context is resting iff it is in `resting_`; whoever removes
// it (the clock thread when due, end_all on new TBB demand) unblocks it,
// exactly once. lock_ guards resting_, the contexts' rest_next links and
// sleeping_until_; it is never held across an unblock or a system call.
// seq_ is the futex word: add() bumps it (under lock_) when the new rest
// ends before the time the thread sleeps until, and wakes the thread; the
// thread waits only while seq_ still has the value it read under lock_, so
// no such change is missed.
#pragma once

#include <lithe/spinlock.hpp>

#include <atomic>
#include <cstdint>

namespace lithe_tbb {

struct TbbContext;

class RestClock {
  public:
    // Starts the thread. Call once, from a thread that may block (not
    // hart context).
    void start();

    // Hart context (or anywhere): c is saved and counted blocked, its
    // rest_until_us set; it is unblocked once parlib_now_us() reaches it
    // (or by end_all). Never blocks.
    void add(TbbContext &c);

    // Anywhere but hart context: ends every rest now (unblocks the
    // contexts); returns how many.
    unsigned end_all();

  private:
    [[noreturn]] void run();
    void unblock_list(TbbContext *list);

    static constexpr uint64_t kNever = UINT64_MAX;
    lithe::SpinLock lock_;
    TbbContext *resting_ = nullptr;
    uint64_t sleeping_until_ = kNever;
    std::atomic<uint32_t> seq_{0};
};

}  // namespace lithe_tbb
