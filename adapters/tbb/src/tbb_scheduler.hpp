// tbb_scheduler.hpp: the process-wide lithe scheduler whose contexts are
// TBB's workers (one context per TBB job).
//
// Place in the tree: a child of the base scheduler, entered once by a
// dedicated "holder" context made at the first server creation. The holder
// becomes the scheduler's main context and never exits, so the scheduler
// stays entered (and a child of the base) for the rest of the process:
// servers come and go (tbb::finalize), the scheduler does not. Worker
// contexts of every server run here, so their harts always come from the
// base scheduler, wherever the TBB callers (masters) sit in the tree.
// The holder is blocked except when it runs deferred work: a TBB master on
// a foreign thread cannot make a context (no current scheduler), so it
// queues the job with defer() and the holder, a context of ours, runs it.
//
// Request accounting (docs/writing-a-scheduler.md): +1 when a context is
// made runnable (adopted or unblocked), -1 when it blocks, rests or
// exits, nothing on yield. The holder's first block takes the sum to -1,
// so the sum is "runnable contexts (workers, the holder when woken) - 1"
// plus forwarded requests of children (schedulers entered by TBB tasks
// running in worker contexts).
//
// Contexts that yielded wait in yielded_ until the hart has been back to
// the parent once (`passed`); one that nothing else wanted the hart for
// (a spinner) is then re-run at once while its spin budget lasts (TBB
// counts yields before it decides anything), else it rests: counted as
// blocked, in clock_ (rest_clock.hpp) until its rest ends or TBB's demand
// grows (end_rests), see hart_enter.
//
// lock_ guards queue_, yielded_, dead_, deferred_ and parked_holder_; it is
// never held across a switch, nor together with clock_'s lock. Exited
// contexts are deleted (lithe_context_cleanup) by the next hart_enter.
#pragma once

#include "event.hpp"
#include "rest_clock.hpp"

#include <lithe/context.hpp>
#include <lithe/scheduler.hpp>
#include <lithe/spinlock.hpp>

#include <deque>
#include <functional>
#include <vector>

namespace lithe_tbb {

// A worker context of the TBB scheduler: every context associated with it
// is one except the holder, which after entering the scheduler is its main
// context (lithe::Scheduler::main_context(), a plain lithe::Context; see
// worker()). The other fields are the scheduler's, touched
// in hart context while the context is saved (hart_enter, context_yield,
// context_block; the RestClock while it rests): when it was last run
// (parlib_ticks), how many more of its yields are re-run at once before
// it rests, the length of its last rest in this idle spell (0: none yet),
// when the current rest ends, and the RestClock's alarm and list link
// (under the clock's lock).
struct TbbContext : lithe::Context {
    uint64_t run_ticks = 0;
    unsigned spin_budget = 0;
    uint64_t rest_us = 0;
    uint64_t rest_until_us = 0;
    RestLink rest;
};

class TbbScheduler final : public lithe::Scheduler {
  public:
    // The scheduler, made and entered on first use. NULL when the caller
    // is not a lithe context (nothing to make the holder from).
    static TbbScheduler *instance();

    // Takes a never-run context made by the caller (owned by the caller's
    // scheduler) and makes it runnable here. The context is deleted by the
    // scheduler after it exits.
    void adopt(TbbContext &c);

    // Ends every rest now (TBB wants more workers: resting ones may find
    // work at once). Any context or foreign thread, not hart context.
    void end_rests();

    // Runs fn in the holder context (a lithe context of this scheduler)
    // soon. Callable anywhere, also on foreign threads.
    void defer(std::function<void()> fn);

    // lithe's accounting of the scheduler (hart time, grants, yields);
    // false if it was never made. Callable anywhere (a racy snapshot).
    static bool sched_stats(struct lithe_sched_stats &out);

  private:
    TbbScheduler() = default;
    bool start();
    void holder_main();
    void reap();
    void rest(TbbContext &c);
    static void new_spell(TbbContext &c);
    TbbContext *worker(lithe::Context *c);

    void hart_enter() override;
    void context_block(lithe::Context &c) override;
    void context_unblock(lithe::Context &c) override;
    void context_yield(lithe::Context &c) override;
    void context_exit(lithe::Context &c) override;

    lithe::Context holder_;
    Event entered_;
    lithe::SpinLock lock_;
    std::deque<lithe::Context *> queue_;
    struct Yielded {
        lithe::Context *ctx;
        bool passed;  // the hart went back to the parent since it yielded
    };
    std::deque<Yielded> yielded_;
    std::vector<lithe::Context *> dead_;
    std::deque<std::function<void()>> deferred_;
    lithe_context_t *parked_holder_ = nullptr;
    RestClock clock_;
};

}  // namespace lithe_tbb
