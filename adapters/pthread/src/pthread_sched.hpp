// pthread_sched.hpp: the pthread scheduler, the lithe scheduler whose
// contexts are the threads made by pthread_create (thread.hpp).
//
// One per process, made on the first pthread_create from a lithe context
// and never left. It is a child of the base scheduler: an "anchor" context
// of the base enters it (becoming its main context) and then blocks for
// good, so the base's own contexts (main) stay where they were and the
// threads' harts come from the base like any child's. A thread that runs
// an OpenMP region or TBB work enters that runtime's scheduler as a child
// of this one.
//
// Policy (thesis §2.6.1's upthread, simplified): one FIFO of runnable
// threads; an arriving hart serves children first (round robin,
// lithe::Scheduler::grant_to_children), then the oldest runnable thread,
// else goes back to the base. Requests: +1 when a thread becomes runnable
// (made, unblocked), -1 when one blocks or exits, nothing on yield, so the
// scheduler asks for one hart per runnable thread (the base grants up to
// the harts there are) and gives each back as soon as it finds the queue
// empty.
//
// One turn for the parent (the fork-join scheduler's rule, docs/lithe.md):
// threads that spin with sched_yield are always runnable, so after a
// thread yields on a hart, that hart goes to the base once if the rest of
// the base's subtree (main, another runtime) wants more harts than it
// holds and our requests will bring the hart back; and a hart a child gave
// back runs our own threads before it serves children again.
//
// lock_ guards queue_; never held across a switch. Callbacks run in hart
// context except context_unblock (wherever the unblock was made) and
// hart_request. The per-hart flags (pthread_sched.cpp) are thread-locals
// of hart context, i.e. of the vcore's own TLS: one per hart, touched only
// there.
#pragma once

#include <lithe/lithe.hpp>

#include <deque>

namespace lithe_pthread {

class PthreadScheduler final : public lithe::Scheduler {
  public:
    // The scheduler, made and entered on first use; nullptr if that failed
    // (out of memory). Called from a lithe context that may switch: the
    // first call waits (yielding) until the anchor has entered it.
    static PthreadScheduler *get();

  private:
    PthreadScheduler() = default;
    void push(lithe::Context &c);

    void hart_enter() override;
    void hart_return(lithe_sched_t *child) override;
    void context_block(lithe::Context &) override;
    void context_unblock(lithe::Context &c) override;
    void context_yield(lithe::Context &c) override;
    void context_exit(lithe::Context &c) override;

    lithe::SpinLock lock_;
    std::deque<lithe::Context *> queue_;
};

}  // namespace lithe_pthread
