// poll.cpp: poll, __poll_chk and epoll_wait called from a lithe context
// that may switch block the context instead of its hart while nothing is
// ready; every other caller gets the libc call unchanged.
//
// Both first ask with a zero timeout (the answer, if anything is ready or
// the timeout is 0). Then:
//   epoll_wait  the context waits (uth_wait_fd) for the epoll fd itself to
//               become readable (it is when one of its entries has an
//               event), and asks again;
//   poll        parlib waits on one fd at a time, so the call builds a
//               temporary epoll instance holding the pollfds' fds with the
//               union of their events, waits for it as above and asks
//               again; it is closed before returning. Fds epoll refuses
//               (regular files: always ready, so the first answer already
//               had them) are left out. Costs an epoll_create1, one
//               epoll_ctl per fd and a close per call that waits.
// The answer is always the libc call's own (revents, counts, POLLNVAL,
// EINVAL, EBADF); a wait that ends without events repeats until the
// timeout (measured on CLOCK_MONOTONIC) has passed. EINTR: as io_wait.hpp.
// If the temporary instance cannot be made, or the caller is lithe itself
// (internal_caller.hpp), the rest of the wait is the libc call's.
//
// Runs in the caller's context; no state but the cached libc addresses.
#undef _FORTIFY_SOURCE
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "../../common/next_symbol.hpp"
#include "internal_caller.hpp"
#include "io_wait.hpp"

extern "C" [[noreturn]] void __chk_fail(void);

namespace lithe_pthread {
namespace {

using lithe_adapters::next_symbol;

std::atomic<void *> g_poll{nullptr}, g_epoll_wait{nullptr};

int next_poll(struct pollfd *fds, nfds_t n, int timeout) {
    return next_symbol<int (*)(struct pollfd *, nfds_t, int)>(g_poll, "poll")(
        fds, n, timeout);
}
int next_epoll_wait(int ep, struct epoll_event *ev, int max, int timeout) {
    return next_symbol<int (*)(int, struct epoll_event *, int, int)>(
        g_epoll_wait, "epoll_wait")(ep, ev, max, timeout);
}

// The zero-timeout answer. EINTR from it is a vcore's signal, not an answer.
template <class Ask>
int ask_now(Ask ask) {
    int r;
    do {
        r = ask(0);
    } while (r < 0 && errno == EINTR);
    return r;
}

constexpr uint32_t kPollEvents = POLLIN | POLLPRI | POLLOUT | POLLRDNORM |
                                 POLLRDBAND | POLLWRNORM | POLLWRBAND | POLLMSG |
                                 POLLRDHUP;  // the same bits as EPOLL*

// An epoll instance watching every fd of `fds` (the union of the events of
// its entries), or -1.
int watch_all(const struct pollfd *fds, nfds_t n) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return -1;
    for (nfds_t i = 0; i < n; ++i) {
        if (fds[i].fd < 0) continue;
        struct epoll_event e{};
        e.events = static_cast<uint16_t>(fds[i].events) & kPollEvents;
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

// Waits until `ep` is readable and asks again, until an answer or the
// deadline; the plain call finishes the wait if the context cannot wait.
template <class Ask>
int wait_then_ask(int ep, int64_t deadline, int saved, Ask ask) {
    for (;;) {
        if (wait_fd_until(ep, POLLIN, deadline) < 0) {
            errno = saved;
            return ask(ms_left(deadline));
        }
        int r = ask_now(ask);
        if (r != 0 || ms_left(deadline) == 0) {
            if (r >= 0) errno = saved;
            return r;
        }
    }
}

int ctx_poll(struct pollfd *fds, nfds_t n, int timeout, const void *caller) {
    auto ask = [&](int t) { return next_poll(fds, n, t); };
    if (timeout == 0) return ask(0);
    int saved = errno;
    const int64_t deadline = deadline_after_ms(timeout);
    if (int r = ask_now(ask); r != 0) return r;
    int ep = called_by_lithe(caller) ? -1 : watch_all(fds, n);
    if (ep < 0) {
        errno = saved;
        return ask(ms_left(deadline));
    }
    int r = wait_then_ask(ep, deadline, saved, ask);
    int e = errno;
    close(ep);
    errno = e;
    return r;
}

int ctx_epoll_wait(int ep, struct epoll_event *ev, int max, int timeout,
                   const void *caller) {
    auto ask = [&](int t) { return next_epoll_wait(ep, ev, max, t); };
    if (timeout == 0) return ask(0);
    int saved = errno;
    const int64_t deadline = deadline_after_ms(timeout);
    if (int r = ask_now(ask); r != 0) return r;
    if (called_by_lithe(caller)) return ask(ms_left(deadline));
    return wait_then_ask(ep, deadline, saved, ask);
}

}  // namespace
}  // namespace lithe_pthread

using namespace lithe_pthread;

extern "C" {

__attribute__((visibility("default"))) int poll(struct pollfd *fds, nfds_t n,
                                                int timeout) {
    if (io_passes_through()) return next_poll(fds, n, timeout);
    return ctx_poll(fds, n, timeout, __builtin_return_address(0));
}

__attribute__((visibility("default"))) int __poll_chk(struct pollfd *fds, nfds_t n,
                                                      int timeout, size_t fdslen) {
    if (fdslen / sizeof(*fds) < n) __chk_fail();
    if (io_passes_through()) return next_poll(fds, n, timeout);
    return ctx_poll(fds, n, timeout, __builtin_return_address(0));
}

__attribute__((visibility("default"))) int epoll_wait(int ep, struct epoll_event *ev,
                                                      int max, int timeout) {
    if (io_passes_through()) return next_epoll_wait(ep, ev, max, timeout);
    return ctx_epoll_wait(ep, ev, max, timeout, __builtin_return_address(0));
}

}  // extern "C"
