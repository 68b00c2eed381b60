// pthread_sched.cpp: see pthread_sched.hpp.
#include "pthread_sched.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>

#include "thread.hpp"

namespace lithe_pthread {
namespace {

// 0: not made; 1: being made (the anchor has not entered it yet); 2: ready;
// 3: failed.
std::atomic<int> g_state{0};
PthreadScheduler *g_sched = nullptr;  // written before g_state = 2

// The anchor: a context of the base that enters the scheduler and blocks
// for good as its main context. Its stack stays allocated (small: it only
// ever holds this frame).
void anchor_main(PthreadScheduler *s) {
    if (int rc = s->enter(); rc != LITHE_OK) {
        std::fprintf(stderr, "liblithe_pthread: entering the pthread "
                             "scheduler failed: %s\n", lithe_strerror(rc));
        std::abort();
    }
    g_sched = s;
    g_state.store(2, std::memory_order_release);
    lithe::block([](lithe_context_t *) {});  // never unblocked
    std::abort();
}

// Per hart (hart context only): a thread yielded here, so the base is owed
// a turn; a child gave this hart back, so our threads come first.
__attribute__((tls_model("initial-exec"))) thread_local bool tl_turn_owed = false;
__attribute__((tls_model("initial-exec"))) thread_local bool tl_returned = false;

}  // namespace

PthreadScheduler *PthreadScheduler::get() {
    int st = g_state.load(std::memory_order_acquire);
    if (st == 2) return g_sched;
    if (st == 0 && g_state.compare_exchange_strong(st, 1)) {
        // Leaked on purpose: the scheduler stays entered until the process
        // ends (destroying an entered lithe::Scheduler is fatal).
        auto *s = new (std::nothrow) PthreadScheduler;
        auto *anchor = new (std::nothrow) lithe::Context;
        struct lithe_context_attr a {64 << 10, true};
        if (!s || !anchor || anchor->init([s] { anchor_main(s); }, &a) != LITHE_OK ||
            anchor->reassociate(lithe_sched_base()) != LITHE_OK ||
            anchor->unblock() != LITHE_OK) {
            g_state.store(3, std::memory_order_release);
            return nullptr;
        }
    }
    while ((st = g_state.load(std::memory_order_acquire)) == 1)
        lithe_context_yield();
    return st == 2 ? g_sched : nullptr;
}

void PthreadScheduler::push(lithe::Context &c) {
    lock_.lock();
    queue_.push_back(&c);
    lock_.unlock();
}

void PthreadScheduler::hart_enter() {
    if (tl_turn_owed) {
        tl_turn_owed = false;
        if (lithe_sched_parent_turn(native())) lithe_hart_yield();
    }
    bool returned = tl_returned;
    tl_returned = false;
    if (!returned) grant_to_children();  // returns if no child wants it
    lock_.lock();
    lithe::Context *next = nullptr;
    if (!queue_.empty()) {
        next = queue_.front();
        queue_.pop_front();
    }
    lock_.unlock();
    if (next) next->run();  // never returns
    if (returned) grant_to_children();
    lithe_hart_yield();
}

void PthreadScheduler::hart_return(lithe_sched_t *) { tl_returned = true; }

void PthreadScheduler::context_block(lithe::Context &) { lithe_hart_request(-1); }

void PthreadScheduler::context_unblock(lithe::Context &c) {
    push(c);  // before the request: a granted hart finds it
    lithe_hart_request(+1);
}

void PthreadScheduler::context_yield(lithe::Context &c) {
    push(c);
    tl_turn_owed = true;
}

void PthreadScheduler::context_exit(lithe::Context &c) {
    lithe_hart_request(-1);
    thread_exited(static_cast<Thread &>(c));  // only threads ever exit here
}

}  // namespace lithe_pthread
