// server.hpp: lithe_tbb::Server, our rml::tbb_server: one per TBB "market"
// (TBB makes one at start and after each tbb::finalize).
//
// TBB's job-count estimate becomes worker contexts on the TBB scheduler:
// slack_ = estimate - active workers (active = not parked). While slack_ is
// positive, adjust_job_count_estimate wakes a parked worker or makes a new
// one (one context per TBB job, at most max_job_count(); made in the
// caller's context, or by the TBB scheduler's holder context when the
// caller is a foreign thread, which cannot make contexts); a worker whose
// process() returned parks while slack_ is negative, else calls process()
// again after yielding its hart. A worker runs its job only in its own
// context with its own TLS, never a TBB caller's (the thread-identity rule
// of docs/tbb.md), and runs TBB's cleanup(job) itself, so TBB clears its
// per-thread pointer in that same TLS.
//
// Close: request_close_connection sets closing_, wakes parked workers and
// drops the connection's reference; each worker drops one after
// cleanup(job); whoever drops the last calls acknowledge_close_connection
// and sets closed_. The closing caller waits for closed_ unless it is one
// of our workers (TBB may close from inside process()). self_ keeps the
// server alive from make_server until the acknowledgement (TBB holds only a
// raw pointer); workers and the closer hold their own references.
//
// lock_ guards slack_ changes, jobs_, refs_, closing_ changes and idle_
// (slack_ and closing_ are atomics so the worker loop may peek without it).
// Never held while calling into TBB: TBB calls back into us from workers.
#pragma once

#include "event.hpp"
#include "rml_abi.hpp"
#include "tbb_scheduler.hpp"

#include <lithe/context.hpp>
#include <lithe/spinlock.hpp>

#include <atomic>
#include <memory>

namespace lithe_tbb {

class Server;

// A TBB worker: a lithe context running one TBB job for its whole life.
struct Worker final : TbbContext {
    std::shared_ptr<Server> server;  // keeps the server until we are reaped
    ::rml::job *job = nullptr;
    Worker *next_idle = nullptr;     // Server::idle_ link, under its lock
};

class Server final : public rml::tbb_server,
                     public std::enable_shared_from_this<Server> {
  public:
    // Made by make_server; lives until TBB's close is acknowledged.
    static Server *create(rml::tbb_client &client, TbbScheduler &sched);

    version_type version() const override { return 2; }
    void request_close_connection(bool exiting) override;
    void yield() override;
    void independent_thread_number_changed(int) override {}
    unsigned default_concurrency() const override;
    void adjust_job_count_estimate(int delta) override;

    bool closing() const noexcept {
        return closing_.load(std::memory_order_acquire);
    }

  private:
    Server(rml::tbb_client &client, TbbScheduler &sched);
    void spawn();
    void worker_main(Worker &w);
    void park(Worker &w);
    void release_ref();

    rml::tbb_client &client_;
    TbbScheduler &sched_;
    const unsigned max_jobs_;
    lithe::SpinLock lock_;
    std::atomic<int> slack_{0};
    std::atomic<bool> closing_{false};
    unsigned jobs_ = 0;
    int refs_ = 1;  // the connection + one per worker not yet cleaned up
    Worker *idle_ = nullptr;
    Event closed_;
    std::shared_ptr<Server> self_;  // under lock_: dropped after the ack
};

}  // namespace lithe_tbb
