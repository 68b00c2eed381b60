// lithe/sched_guard.hpp: lithe::SchedGuard, a scope during which the
// calling context runs inside a scheduler ("a parallel function call").
//
// The constructor enters the scheduler (lithe_sched_enter: the scheduler
// becomes a child of the caller's current scheduler and the calling context
// its main context); the destructor exits it (lithe_sched_exit). Both run
// in the same context, the one that made the guard.
//
// Errors: a failed enter throws lithe::Error (only possible under
// LITHE_MISUSE_RETURN, or LITHE_ENOMEM; under the default policy misuse
// aborts in lithe). A failed exit is fatal in the destructor: it means the
// scheduler still owns contexts or children (LITHE_EBUSY: join them before
// the scope ends), or the guards are not nested (an inner scheduler entered
// in the scope was not exited), and there is no way to leave the scheduler
// safely. In particular, do not let an exception leave the scope while
// contexts of the scheduler are live: catch it, join, then rethrow (as
// lithe::parallel_invoke does).
#pragma once

#include <lithe/error.hpp>
#include <lithe/lithe.h>
#include <lithe/scheduler.hpp>

namespace lithe {

class SchedGuard {
  public:
    explicit SchedGuard(Scheduler &s) : s_(s.native()) {
        detail::check(s.enter(), "lithe_sched_enter");
    }
    explicit SchedGuard(lithe_sched_t *s) : s_(s) {
        detail::check(lithe_sched_enter(s), "lithe_sched_enter");
    }
    SchedGuard(const SchedGuard &) = delete;
    SchedGuard &operator=(const SchedGuard &) = delete;
    ~SchedGuard() {
        if (lithe_sched_current() != s_)
            detail::fatal("lithe::SchedGuard: the guarded scheduler is not "
                          "the current one at scope exit (an inner scheduler "
                          "was not exited)");
        int rc = lithe_sched_exit();
        if (rc != LITHE_OK)
            detail::fatal("lithe::SchedGuard: lithe_sched_exit failed", rc);
    }

  private:
    lithe_sched_t *s_;
};

}  // namespace lithe
