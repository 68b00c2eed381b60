// service.cpp: the service kernel thread (service.hpp).
//
// Owns: the epoll instance, the timerfd, and the thread that waits on them.
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
#include <sys/timerfd.h>
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
int g_timerfd = -1;
// epoll data.ptr of the timerfd; fd records (io.cpp) are other addresses.
char g_timer_tag;

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
        bool timer = false;
        for (int i = 0; i < n; ++i) {
            if (evs[i].data.ptr == &g_timer_tag) {
                uint64_t ticks;
                // EAGAIN is fine: a re-arm may have reset the count.
                (void)!read(g_timerfd, &ticks, sizeof ticks);
                timer = true;
            } else {
                io_ready(evs[i].data.ptr, evs[i].events);
            }
        }
        if (timer) alarm_expire();
    }
}

void start() {
    g_epfd = epoll_create1(EPOLL_CLOEXEC);
    PARLIB_CHECK(g_epfd >= 0, "parlib service: epoll_create1: %s",
                 strerror(errno));
    g_timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    PARLIB_CHECK(g_timerfd >= 0, "parlib service: timerfd_create: %s",
                 strerror(errno));
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.ptr = &g_timer_tag;
    PARLIB_CHECK(epoll_ctl(g_epfd, EPOLL_CTL_ADD, g_timerfd, &e) == 0,
                 "parlib service: epoll_ctl(timerfd): %s", strerror(errno));
    register_ev_handler(EV_ALARM, alarm_event_handler, nullptr);
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

void service_arm_timer(uint64_t abs_us) {
    // An all-zero it_value would disarm: a deadline of 0 (or any past time)
    // must fire at once, and 1 µs after boot is always past.
    if (abs_us == 0) abs_us = 1;
    itimerspec its{};
    its.it_value.tv_sec = static_cast<time_t>(abs_us / 1000000);
    its.it_value.tv_nsec = static_cast<long>(abs_us % 1000000) * 1000;
    PARLIB_CHECK(
        timerfd_settime(g_timerfd, TFD_TIMER_ABSTIME, &its, nullptr) == 0,
        "parlib service: timerfd_settime: %s", strerror(errno));
}

}  // namespace parlib
