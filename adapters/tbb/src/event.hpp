// event.hpp: lithe_tbb::Event, a one-shot flag that lithe contexts and
// foreign threads can wait for.
//
// Waiting blocks a lithe context (its hart goes back to its scheduler);
// a caller that is not a lithe context (a foreign pthread, e.g. in a TLS
// destructor at thread exit) polls with short sleeps instead, since it has
// no hart to give back. Never called in hart context: a hart cannot wait.
// lock_ guards set_ and the waiter list; waiters are nodes on the waiting
// contexts' stacks, unlinked by set() before it unblocks them.
#pragma once

#include <lithe/lithe.hpp>
#include <lithe/spinlock.hpp>

#include <atomic>
#include <time.h>

namespace lithe_tbb {

class Event {
  public:
    void set() noexcept {
        lock_.lock();
        set_.store(true, std::memory_order_release);
        Node *w = head_;
        head_ = nullptr;
        lock_.unlock();
        while (w) {
            Node *next = w->next;  // w's frame ends once it runs again
            lithe::unblock(w->ctx);
            w = next;
        }
    }
    bool is_set() const noexcept {
        return set_.load(std::memory_order_acquire);
    }
    void wait() noexcept {
        if (is_set()) return;
        if (!lithe_context_self()) {
            const struct timespec ts = {0, 50 * 1000};
            while (!is_set()) nanosleep(&ts, nullptr);
            return;
        }
        Node n;
        lithe::block([this, &n](lithe_context_t *self) {
            lock_.lock();
            bool done = set_.load(std::memory_order_relaxed);
            if (!done) {
                n.ctx = self;
                n.next = head_;
                head_ = &n;
            }
            lock_.unlock();  // n may be gone now: locals only
            if (done) lithe::unblock(self);
        });
    }

  private:
    struct Node {
        lithe_context_t *ctx = nullptr;
        Node *next = nullptr;
    };
    lithe::SpinLock lock_;
    std::atomic<bool> set_{false};
    Node *head_ = nullptr;
};

}  // namespace lithe_tbb
