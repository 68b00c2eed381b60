// service.cpp: the service kernel thread (service.hpp).
//
// Owns: the epoll instance and the thread that waits on it.
// The thread is a parlib helper thread (parlib/helper_thread.h: every
// signal blocked, the process's CPU mask rather than a pinned creator's).
//
// Start-up is a three-state flag (not started / starting / up) rather than a
// mutex or std::call_once: the first caller may be in vcore context, which
// must never sleep in the kernel; late callers spin for the few microseconds
// that start-up takes.
#include "service.hpp"

#include "parlib/helper_thread.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "check.hpp"
#include "context.hpp"

namespace parlib {
namespace {

enum : int { kNotStarted = 0, kStarting = 1, kUp = 2 };
std::atomic<int> g_state{kNotStarted};
int g_epfd = -1;

constexpr int kBatch = 64;

void *service_main(void *) {
    epoll_event evs[kBatch];
    for (;;) {
        int n = epoll_wait(g_epfd, evs, kBatch, -1);
        if (n < 0) {
            PARLIB_CHECK(errno == EINTR, "parlib service: epoll_wait: %s",
                         strerror(errno));
            continue;
        }
        for (int i = 0; i < n; ++i) io_ready(evs[i].data.ptr, evs[i].events);
    }
}

void start() {
    g_epfd = epoll_create1(EPOLL_CLOEXEC);
    PARLIB_CHECK(g_epfd >= 0, "parlib service: epoll_create1: %s",
                 strerror(errno));
    register_ev_handler(EV_IO, io_event_handler, nullptr);

    int rc = parlib_helper_thread_start("parlib-service", 256 << 10,
                                        service_main, nullptr);
    PARLIB_CHECK(rc == 0, "parlib service: pthread_create: %s", strerror(rc));
}

}  // namespace

void service_start() {
    if (g_state.load(std::memory_order_acquire) == kUp) return;
    int expected = kNotStarted;
    if (g_state.compare_exchange_strong(expected, kStarting,
                                        std::memory_order_acquire)) {
        start();
        g_state.store(kUp, std::memory_order_release);
        return;
    }
    while (g_state.load(std::memory_order_acquire) != kUp) cpu_relax();
}

int service_epoll_fd() { return g_epfd; }

bool io_poll_idle() {
    if (g_state.load(std::memory_order_acquire) != kUp || io_waiters() == 0)
        return false;
    epoll_event evs[kBatch];
    // EINTR (a notification signal) or any error: nothing taken; the
    // service thread still polls.
    int n = epoll_wait(g_epfd, evs, kBatch, 0);
    for (int i = 0; i < n; ++i) io_ready(evs[i].data.ptr, evs[i].events);
    return n > 0;
}

}  // namespace parlib
