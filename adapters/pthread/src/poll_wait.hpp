// poll_wait.hpp: how a poll-like call (poll, ppoll: poll.cpp; select,
// pselect: select.cpp; epoll_wait, epoll_pwait*: poll.cpp) made by a lithe
// context waits without holding its hart.
//
// Every answer is the libc call's own: `ask(ms)` makes it with a timeout
// in ms (-1 none, 0 now). It is asked with timeout 0 first (the answer if
// anything is ready); then the context waits (uth_wait_fd) for an epoll
// fd to become readable and asks again, until an answer or the deadline
// (CLOCK_MONOTONIC). That epoll fd is the caller's own (epoll_wait) or a
// temporary instance holding the call's fds (watch_all), closed before
// returning. If the instance cannot be made or the caller is lithe itself
// (internal_caller.hpp), the rest of the wait is the libc call's. EINTR:
// as io_wait.hpp (a vcore's signal during a zero-timeout ask is no answer).
//
// Runs in the calling context (may_switch_context() holds); no state.
#pragma once

#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "internal_caller.hpp"
#include "io_wait.hpp"

namespace lithe_pthread {

// The zero-timeout answer.
template <class Ask>
int ask_now(Ask ask) {
    int r;
    do {
        r = ask(0);
    } while (r < 0 && errno == EINTR);
    return r;
}

// An epoll instance watching every fd of `fds` (the union of the events of
// its entries, with `extra` epoll flags: EPOLLET), or -1. Fds epoll refuses
// (always ready: the first answer had them) are left out.
int watch_all(const struct pollfd *fds, nfds_t n, uint32_t extra);
// Empties the ready list of an edge-triggered instance (epoll_wait, 0).
void drain(int ep);

// Waits until `ep` is readable and asks again, until an answer or the
// deadline; the plain call finishes the wait if the context cannot wait.
// `edge`: `ep` is edge-triggered and drained after each wake-up (for calls
// that do not count every event epoll reports: select).
template <class Ask>
int wait_then_ask(int ep, int64_t deadline, int saved, bool edge, Ask ask) {
    for (;;) {
        if (wait_fd_until(ep, POLLIN, deadline) < 0) {
            errno = saved;
            return ask(ms_left(deadline));
        }
        if (edge) drain(ep);
        int r = ask_now(ask);
        if (r != 0 || ms_left(deadline) == 0) {
            if (r >= 0) errno = saved;
            return r;
        }
    }
}

// The wait of a call on the fds of `fds` (poll, ppoll, select, pselect),
// whose deadline is not now.
template <class Ask>
int wait_for_fds(const struct pollfd *fds, nfds_t n, int64_t deadline, bool edge,
                 const void *caller, Ask ask) {
    int saved = errno;
    if (int r = ask_now(ask); r != 0) return r;
    int ep = called_by_lithe(caller) ? -1 : watch_all(fds, n, edge ? uint32_t(EPOLLET) : 0u);
    if (ep < 0) {
        errno = saved;
        return ask(ms_left(deadline));
    }
    int r = wait_then_ask(ep, deadline, saved, edge, ask);
    int e = errno;
    close(ep);
    errno = e;
    return r;
}

// The wait of epoll_wait and epoll_pwait* on `ep`, whose deadline is not now.
template <class Ask>
int wait_for_epoll(int ep, int64_t deadline, const void *caller, Ask ask) {
    int saved = errno;
    if (int r = ask_now(ask); r != 0) return r;
    if (called_by_lithe(caller)) return ask(ms_left(deadline));
    return wait_then_ask(ep, deadline, saved, false, ask);
}

}  // namespace lithe_pthread
