// poll.cpp: poll, ppoll, __poll_chk, __ppoll_chk, epoll_wait, epoll_pwait
// and epoll_pwait2 called from a lithe context that may switch block the
// context instead of its hart while nothing is ready (poll_wait.hpp);
// every other caller gets the libc call unchanged.
//
//   epoll_wait, epoll_pwait*  the context waits for the epoll fd itself to
//               become readable (it is when one of its entries has an
//               event), and asks again;
//   poll, ppoll parlib waits on one fd at a time, so the call builds a
//               temporary epoll instance holding the pollfds' fds with the
//               union of their events (watch_all), waits for it as above
//               and asks again. Costs an epoll_create1, one epoll_ctl per
//               fd and a close per call that waits.
// A timeout of 0 and an invalid one (EINVAL) get the plain call (with the
// signal mask of ppoll, epoll_pwait*). A call that waits does not apply
// its signal mask: signals are not delivered to contexts, so no signal
// could interrupt the wait anyway; it never fails with EINTR, whatever the
// mask lets through (io_wait.hpp). (The plain call instead would block the
// hart, set the mask of a vcore's kernel thread, and fail with EINTR when
// parlib's notification signal, SIGRTMIN+4, reached that vcore.) The answer is always the libc call's own (revents, counts,
// POLLNVAL, EINVAL, EBADF); a wait that ends without events repeats until
// the timeout (measured on CLOCK_MONOTONIC) has passed. ppoll and
// epoll_pwait2 wait until their timespec (the ms timeout a fallback passes
// on is rounded up).
//
// Runs in the caller's context; no state but the cached libc addresses.
#undef _FORTIFY_SOURCE
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "../../common/next_symbol.hpp"
#include "io_wait.hpp"
#include "poll_wait.hpp"

extern "C" [[noreturn]] void __chk_fail(void);

namespace lithe_pthread {
namespace {

using lithe_adapters::next_symbol;

std::atomic<void *> g_poll{nullptr}, g_ppoll{nullptr}, g_epoll_wait{nullptr},
    g_epoll_pwait{nullptr}, g_epoll_pwait2{nullptr};

int next_poll(struct pollfd *fds, nfds_t n, int timeout) {
    return next_symbol<int (*)(struct pollfd *, nfds_t, int)>(g_poll, "poll")(
        fds, n, timeout);
}
int next_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t,
               const sigset_t *mask) {
    return next_symbol<int (*)(struct pollfd *, nfds_t, const struct timespec *,
                               const sigset_t *)>(g_ppoll, "ppoll")(fds, n, t, mask);
}
int next_epoll_wait(int ep, struct epoll_event *ev, int max, int timeout) {
    return next_symbol<int (*)(int, struct epoll_event *, int, int)>(
        g_epoll_wait, "epoll_wait")(ep, ev, max, timeout);
}
int next_epoll_pwait(int ep, struct epoll_event *ev, int max, int timeout,
                     const sigset_t *mask) {
    return next_symbol<int (*)(int, struct epoll_event *, int, int, const sigset_t *)>(
        g_epoll_pwait, "epoll_pwait")(ep, ev, max, timeout, mask);
}
int next_epoll_pwait2(int ep, struct epoll_event *ev, int max,
                      const struct timespec *t, const sigset_t *mask) {
    return next_symbol<int (*)(int, struct epoll_event *, int, const struct timespec *,
                               const sigset_t *)>(g_epoll_pwait2, "epoll_pwait2")(
        ep, ev, max, t, mask);
}

// `ms` (>= 0) as a timespec for the libc call; nullptr for -1 (none).
const struct timespec *ms_timespec(int ms, struct timespec *t) {
    if (ms < 0) return nullptr;
    *t = {ms / 1000, (ms % 1000) * 1'000'000L};
    return t;
}

// A timespec timeout the adapter waits for: valid, not zero.
bool waits_for(const struct timespec *t) {
    return !t || (t->tv_sec >= 0 && t->tv_nsec >= 0 && t->tv_nsec < 1'000'000'000 &&
                  (t->tv_sec || t->tv_nsec));
}

int64_t deadline_of(const struct timespec *t) { return t ? deadline_after(*t) : kNever; }

constexpr uint32_t kPollEvents = POLLIN | POLLPRI | POLLOUT | POLLRDNORM |
                                 POLLRDBAND | POLLWRNORM | POLLWRBAND | POLLMSG |
                                 POLLRDHUP;  // the same bits as EPOLL*

int ctx_poll(struct pollfd *fds, nfds_t n, int timeout, const void *caller) {
    auto ask = [&](int t) { return next_poll(fds, n, t); };
    if (timeout == 0) return ask(0);
    return wait_for_fds(fds, n, deadline_after_ms(timeout), false, caller, ask);
}

int ctx_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t,
              const sigset_t *mask, const void *caller) {
    if (!waits_for(t)) return next_ppoll(fds, n, t, mask);
    return wait_for_fds(fds, n, deadline_of(t), false, caller, [&](int ms) {
        struct timespec left;
        return next_ppoll(fds, n, ms_timespec(ms, &left), nullptr);
    });
}

int ctx_epoll_wait(int ep, struct epoll_event *ev, int max, int timeout,
                   const void *caller) {
    auto ask = [&](int t) { return next_epoll_wait(ep, ev, max, t); };
    if (timeout == 0) return ask(0);
    return wait_for_epoll(ep, deadline_after_ms(timeout), caller, ask);
}

int ctx_epoll_pwait2(int ep, struct epoll_event *ev, int max,
                     const struct timespec *t, const sigset_t *mask,
                     const void *caller) {
    if (!waits_for(t)) return next_epoll_pwait2(ep, ev, max, t, mask);
    return wait_for_epoll(ep, deadline_of(t), caller, [&](int ms) {
        struct timespec left;
        return next_epoll_pwait2(ep, ev, max, ms_timespec(ms, &left), nullptr);
    });
}

}  // namespace

int watch_all(const struct pollfd *fds, nfds_t n, uint32_t extra) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return -1;
    for (nfds_t i = 0; i < n; ++i) {
        if (fds[i].fd < 0) continue;
        struct epoll_event e{};
        e.events = (static_cast<uint16_t>(fds[i].events) & kPollEvents) | extra;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i].fd, &e) == 0) continue;
        if (errno == EEXIST) {  // the fd again: watch the union
            for (nfds_t j = 0; j < i; ++j)
                if (fds[j].fd == fds[i].fd)
                    e.events |= static_cast<uint16_t>(fds[j].events) & kPollEvents;
            if (epoll_ctl(ep, EPOLL_CTL_MOD, fds[i].fd, &e) == 0) continue;
        }
        if (errno == EPERM) continue;  // always ready: the first answer had it
        close(ep);
        return -1;
    }
    return ep;
}

void drain(int ep) {
    struct epoll_event ev[16];
    int n;
    do {
        n = next_epoll_wait(ep, ev, 16, 0);
    } while (n == 16 || (n < 0 && errno == EINTR));
}

}  // namespace lithe_pthread

using namespace lithe_pthread;

#define LITHE_CALLER __builtin_return_address(0)

extern "C" {

__attribute__((visibility("default"))) int poll(struct pollfd *fds, nfds_t n,
                                                int timeout) {
    if (io_passes_through()) return next_poll(fds, n, timeout);
    return ctx_poll(fds, n, timeout, LITHE_CALLER);
}

__attribute__((visibility("default"))) int __poll_chk(struct pollfd *fds, nfds_t n,
                                                      int timeout, size_t fdslen) {
    if (fdslen / sizeof(*fds) < n) __chk_fail();
    if (io_passes_through()) return next_poll(fds, n, timeout);
    return ctx_poll(fds, n, timeout, LITHE_CALLER);
}

__attribute__((visibility("default"))) int ppoll(struct pollfd *fds, nfds_t n,
                                                 const struct timespec *t,
                                                 const sigset_t *mask) {
    if (io_passes_through()) return next_ppoll(fds, n, t, mask);
    return ctx_ppoll(fds, n, t, mask, LITHE_CALLER);
}

__attribute__((visibility("default"))) int __ppoll_chk(struct pollfd *fds, nfds_t n,
                                                       const struct timespec *t,
                                                       const sigset_t *mask,
                                                       size_t fdslen) {
    if (fdslen / sizeof(*fds) < n) __chk_fail();
    if (io_passes_through()) return next_ppoll(fds, n, t, mask);
    return ctx_ppoll(fds, n, t, mask, LITHE_CALLER);
}

__attribute__((visibility("default"))) int epoll_wait(int ep, struct epoll_event *ev,
                                                      int max, int timeout) {
    if (io_passes_through()) return next_epoll_wait(ep, ev, max, timeout);
    return ctx_epoll_wait(ep, ev, max, timeout, LITHE_CALLER);
}

__attribute__((visibility("default"))) int epoll_pwait(int ep, struct epoll_event *ev,
                                                       int max, int timeout,
                                                       const sigset_t *mask) {
    if (io_passes_through() || timeout == 0)
        return next_epoll_pwait(ep, ev, max, timeout, mask);
    return ctx_epoll_wait(ep, ev, max, timeout, LITHE_CALLER);
}

__attribute__((visibility("default"))) int epoll_pwait2(int ep, struct epoll_event *ev,
                                                        int max,
                                                        const struct timespec *t,
                                                        const sigset_t *mask) {
    if (io_passes_through()) return next_epoll_pwait2(ep, ev, max, t, mask);
    return ctx_epoll_pwait2(ep, ev, max, t, mask, LITHE_CALLER);
}

}  // extern "C"
