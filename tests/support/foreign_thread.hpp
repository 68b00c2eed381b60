// foreign_thread.hpp: a kernel thread that is not a uthread ("foreign"),
// for tests that mix such threads with uthreads. join() called from a
// uthread yields until the thread has finished instead of blocking its
// vcore in the kernel: with one vcore, a blocked vcore would stop the very
// uthreads the foreign thread may be waiting for.
#pragma once

#include <atomic>
#include <functional>
#include <thread>

#include "fifo_sched.hpp"

namespace fifo {

class ForeignThread {
  public:
    explicit ForeignThread(std::function<void()> fn)
        : thread_([this, fn = std::move(fn)] {
              fn();
              done_.store(true, std::memory_order_release);
          }) {}
    ForeignThread(const ForeignThread &) = delete;
    ForeignThread &operator=(const ForeignThread &) = delete;
    ~ForeignThread() {
        if (thread_.joinable()) join();
    }

    void join() {
        while (!done_.load(std::memory_order_acquire))
            if (uthread_self()) fifo::yield();
        thread_.join();
    }

  private:
    std::atomic<bool> done_{false};
    std::thread thread_;
};

}  // namespace fifo
