// spin_backoff.hpp: how parlib's public spinning locks wait for a holder.
//
// Each poll executes `pause`; after kPollsBeforeYield polls every further
// poll also calls sched_yield. Vcores are pinned and may outnumber CPUs
// (PARLIB_VCORES), and foreign threads take these locks too, so the holder
// can be a descheduled kernel thread on our own CPU: without the yield a
// contender would burn its whole time slice before the holder could run.
// sched_yield never blocks, so this is safe in vcore context.
#pragma once

#include <sched.h>

#include "context.hpp"

namespace parlib {

class SpinBackoff {
  public:
    void pause() {
        cpu_relax();
        if (++polls_ > kPollsBeforeYield) sched_yield();
    }

  private:
    static constexpr unsigned kPollsBeforeYield = 128;
    unsigned polls_ = 0;
};

}  // namespace parlib
