// service.cpp: the service kernel thread (service.hpp).
//
// Owns: the epoll instance and the thread that waits on it.
// The thread is created with every signal blocked (process-directed signals
// must go to threads that expect them) and with the main thread's CPU mask,
// not the creator's: a vcore creating it is pinned to one CPU.
//
// Start-up is a three-state flag (not started / starting / up) rather than a
// mutex or std::call_once: the first caller may be in vcore context, which
// must never sleep in the kernel; late callers spin for the few microseconds
// that start-up takes.
#include "service.hpp"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
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

    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 256 << 10);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    sigset_t all;
    sigfillset(&all);
    pthread_attr_setsigmask_np(&a, &all);
    cpu_set_t cpus;
    if (sched_getaffinity(getpid(), sizeof cpus, &cpus) == 0)
        pthread_attr_setaffinity_np(&a, sizeof cpus, &cpus);
    pthread_t t;
    int rc = pthread_create(&t, &a, service_main, nullptr);
    pthread_attr_destroy(&a);
    PARLIB_CHECK(rc == 0, "parlib service: pthread_create: %s", strerror(rc));
    pthread_setname_np(t, "parlib-service");
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

}  // namespace parlib
