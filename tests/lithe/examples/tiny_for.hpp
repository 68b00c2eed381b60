// tiny_for.hpp: tiny::parallel_for, a complete lithe-aware runtime. It is
// the worked example of docs/writing-a-scheduler.md, which shows this file
// verbatim; tests/lithe/test_doc_example.cpp runs it (nested in itself and
// in the fork-join scheduler) and fails if the doc and this file differ.
//
// Policy: one scheduler per call. Chunks of the range are claimed from an
// atomic cursor by the caller's context and by up to num_harts()-1 worker
// contexts made up front. Runnable contexts wait in one FIFO. An arriving
// hart serves children first (round robin), then the oldest runnable
// context, else goes back to the parent.
// Requests: +1 when a context becomes runnable (made, unblocked), -1 when
// one blocks or exits, so our sum of requests = runnable-or-running
// contexts - 1 (the hart we entered on). Children's requests are forwarded.
// lock_ guards queue_, children_, rr_, live_ and waiter_; it is never held
// across a switch, except by a grant, whose unlock callback releases it.
#pragma once

#include <lithe/lithe.hpp>

#include <algorithm>
#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

namespace tiny {

class ForScheduler final : public lithe::Scheduler {
  public:
    ForScheduler(long begin, long end, long grain,
                 std::function<void(long)> body)
        : next_(begin), end_(end), grain_(std::max(1L, grain)),
          body_(std::move(body)) {}

    // The main context, between enter and exit: fork, work, join.
    void run() {
        long chunks = (end_ - next_.load() + grain_ - 1) / grain_;
        long extra = std::min<long>(lithe::num_harts(), chunks) - 1;
        for (long i = 0; i < extra; ++i) {
            auto w = std::make_unique<lithe::Context>();
            if (w->init([this] { work(); }) != LITHE_OK) break;
            lock_.lock();
            ++live_;
            lock_.unlock();
            make_runnable(*w);
            workers_.push_back(std::move(w));
        }
        work();
        join();
        workers_.clear();  // ~Context cleans up each exited worker
    }

  private:
    void work() {
        for (long lo; (lo = next_.fetch_add(grain_)) < end_;)
            for (long i = lo; i < std::min(lo + grain_, end_); ++i) body_(i);
    }
    void join() {
        lithe::block([this](lithe_context_t *self) {  // hart context
            lock_.lock();
            bool done = live_ == 0;
            if (!done) waiter_ = self;
            lock_.unlock();  // the lambda may be gone now: locals only
            if (done) lithe::unblock(self);
        });
    }
    void make_runnable(lithe::Context &c) {
        lock_.lock();
        queue_.push_back(&c);
        lock_.unlock();
        lithe::hart_request(+1);
    }
    static void unlock(void *self) {
        static_cast<ForScheduler *>(self)->lock_.unlock();
    }

    // --- callbacks: hart context, except hart_request, context_unblock ---
    void hart_request(lithe_sched_t *, int delta) override {
        lithe::hart_request(delta);  // our parent's harts reach us first
    }
    void child_enter(lithe_sched_t *child) override {
        lock_.lock();
        children_.push_back(child);
        lock_.unlock();
    }
    void child_exit(lithe_sched_t *child) override {
        lock_.lock();
        children_.erase(std::find(children_.begin(), children_.end(), child));
        lock_.unlock();
        struct lithe_sched_stats st {};
        lithe_sched_stats(child, &st);  // withdraw what it still asked for
        if (st.requested != 0) lithe::hart_request(-int(st.requested));
    }
    void hart_return(lithe_sched_t *) override {}  // lithe counts harts
    void hart_enter() override {
        lock_.lock();
        for (size_t k = 0, n = children_.size(); k < n; ++k) {
            lithe_sched_t *c = children_[(rr_ + k) % n];
            struct lithe_sched_stats st {};
            lithe_sched_stats(c, &st);
            if (st.subtree_harts <= st.requested) {
                rr_ = (rr_ + k + 1) % n;
                lithe::hart_grant(c, unlock, this);  // returns if c exits
            }
        }
        lithe::Context *next = nullptr;
        if (!queue_.empty()) {
            next = queue_.front();
            queue_.pop_front();
        }
        lock_.unlock();
        if (next) next->run();  // never returns
        lithe::hart_yield();    // nothing to do: back to the parent
    }
    void sched_enter() override {}  // nothing to set up per entry
    void sched_exit() override {}
    void context_block(lithe::Context &) override {
        lithe::hart_request(-1);
    }
    void context_unblock(lithe::Context &c) override { make_runnable(c); }
    void context_yield(lithe::Context &c) override {
        lock_.lock();
        queue_.push_back(&c);  // still runnable: no new request
        lock_.unlock();
    }
    void context_exit(lithe::Context &) override {
        lithe::hart_request(-1);
        lock_.lock();
        lithe_context_t *w = --live_ == 0 ? waiter_ : nullptr;
        lock_.unlock();
        if (w) lithe::unblock(w);
    }

    std::atomic<long> next_;
    const long end_, grain_;
    const std::function<void(long)> body_;
    lithe::SpinLock lock_;
    std::deque<lithe::Context *> queue_;
    std::vector<lithe_sched_t *> children_;
    size_t rr_ = 0;
    int live_ = 0;
    lithe_context_t *waiter_ = nullptr;
    std::vector<std::unique_ptr<lithe::Context>> workers_;  // main's only
};

// Calls body(i) for every i in [begin, end), in parallel, from a lithe
// context (any scheduler: ours nest in each other and in anyone else's).
inline void parallel_for(long begin, long end, long grain,
                         std::function<void(long)> body) {
    if (begin >= end) return;
    ForScheduler s(begin, end, grain, std::move(body));
    lithe::SchedGuard guard(s);  // enter now, exit at scope end
    s.run();
}

}  // namespace tiny
