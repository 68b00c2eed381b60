// server.cpp: Server, the rml::tbb_server TBB's workers run through (see
// server.hpp).
//
// Entry points run in: a TBB master's context (adjust, close, from any
// scheduler of the tree), a worker context (adjust from inside process(),
// sometimes close), a foreign thread (close from a TLS destructor), and
// worker_main in our worker contexts. Nothing here runs in hart context
// except park's block callback.
#include "server.hpp"

#include "stats.hpp"

#include <lithe/lithe.hpp>

#include <cstdio>
#include <sched.h>

namespace lithe_tbb {

namespace {
// The worker the calling context is (contexts have their own TLS, so this
// is per worker context, not per hart).
thread_local Worker *tls_worker = nullptr;
}  // namespace

Server::Server(rml::tbb_client &client, TbbScheduler &sched)
    : client_(client), sched_(sched), max_jobs_(client.max_job_count()) {}

Server *Server::create(rml::tbb_client &client, TbbScheduler &sched) {
    std::shared_ptr<Server> s(new Server(client, sched));
    s->self_ = s;
    return s.get();
}

void Server::yield() {
    if (lithe_context_self())
        lithe::yield();
    else
        sched_yield();
}

// Workers are contexts, not threads: we can run as many as TBB may ask for.
unsigned Server::default_concurrency() const { return max_jobs_; }

// TBB's demand grew: besides making or waking workers for the slack, end
// the rests of resting workers (they are inside process(), and TBB counts
// them as present in its arenas, so it expects them to find the new work).
void Server::adjust_job_count_estimate(int delta) {
    (delta > 0 ? counters.adjusts_up : counters.adjusts_down)
        .fetch_add(1, std::memory_order_relaxed);
    if (delta > 0) sched_.end_rests();
    lock_.lock();
    slack_.fetch_add(delta, std::memory_order_relaxed);
    lock_.unlock();
    for (;;) {
        Worker *wake = nullptr;
        bool make = false;
        lock_.lock();
        if (!closing() && slack_.load(std::memory_order_relaxed) > 0) {
            if (idle_) {
                wake = idle_;
                idle_ = wake->next_idle;
            } else if (jobs_ < max_jobs_) {
                ++jobs_;
                ++refs_;
                make = true;
            }
            if (wake || make) slack_.fetch_sub(1, std::memory_order_relaxed);
        }
        lock_.unlock();
        if (wake) {
            counters.wakes.fetch_add(1, std::memory_order_relaxed);
            wake->unblock();
        } else if (make) {
            if (lithe_context_self()) {
                spawn();
            } else {  // a foreign thread: let the holder make the context
                auto self = shared_from_this();
                sched_.defer([self] { self->spawn(); });
            }
        } else {
            return;
        }
    }
}

// Makes a worker context in the calling context (a lithe context) and
// hands it to the TBB scheduler. jobs_, refs_ and slack_ already count it.
void Server::spawn() {
    auto *w = new Worker;
    w->server = shared_from_this();
    struct lithe_context_attr attr = {client_.min_stack_size(), true};
    if (w->init([w] { w->server->worker_main(*w); }, &attr) != LITHE_OK) {
        std::fprintf(stderr, "lithe_tbb: cannot make a TBB worker context\n");
        std::abort();
    }
    sched_.adopt(*w);
}

void Server::worker_main(Worker &w) {
    tls_worker = &w;
    if (closing()) {  // made while TBB was closing: no job to make
        tls_worker = nullptr;
        release_ref();
        return;
    }
    w.job = client_.create_one_job();
    counters.jobs.fetch_add(1, std::memory_order_relaxed);
    while (!closing()) {
        if (slack_.load(std::memory_order_acquire) >= 0) {
            counters.enter_process();
            client_.process(*w.job);
            counters.leave_process();
            lithe::yield();  // let the scheduler choose who runs next
        } else {
            park(w);
        }
    }
    client_.cleanup(*w.job);  // clears TBB's pointer in *this* TLS
    tls_worker = nullptr;
    release_ref();
}

// Blocks the worker while TBB wants fewer workers than are active; the
// decision is retaken under the lock in hart context, after the save.
void Server::park(Worker &w) {
    lithe::block([this, &w](lithe_context_t *self) {
        lock_.lock();
        bool stay = !closing() && slack_.load(std::memory_order_relaxed) < 0;
        if (stay) {
            counters.parks.fetch_add(1, std::memory_order_relaxed);
            slack_.fetch_add(1, std::memory_order_relaxed);
            w.next_idle = idle_;
            idle_ = &w;
        }
        lock_.unlock();  // w may be running again: locals only
        if (!stay) lithe::unblock(self);
    });
}

void Server::request_close_connection(bool) {
    std::shared_ptr<Server> keep = shared_from_this();
    lock_.lock();
    closing_.store(true, std::memory_order_release);
    Worker *idle = idle_;
    idle_ = nullptr;
    lock_.unlock();
    while (idle) {
        Worker *next = idle->next_idle;
        idle->unblock();
        idle = next;
    }
    release_ref();
    if (!tls_worker) closed_.wait();
}

void Server::release_ref() {
    lock_.lock();
    int left = --refs_;
    lock_.unlock();
    if (left > 0) return;
    lock_.lock();
    std::shared_ptr<Server> keep = std::move(self_);
    lock_.unlock();
    client_.acknowledge_close_connection();
    counters.servers_closed.fetch_add(1, std::memory_order_relaxed);
    closed_.set();
}

}  // namespace lithe_tbb
