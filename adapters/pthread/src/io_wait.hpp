// io_wait.hpp: how an interposed blocking I/O call (io.cpp, vec_io.cpp,
// msg_io.cpp; poll.cpp and select.cpp through poll_wait.hpp) made by a
// lithe context waits for its fd without holding the hart.
//
// An IoCall is one such call in progress; read_call and write_call (below)
// are the shape every read-like and write-like call shares. The interposer first makes the
// operation without blocking (RWF_NOWAIT, MSG_DONTWAIT, or a zero-timeout
// poll followed by the plain call for fds that have no per-call "don't
// wait"). Only when that says "would block" (EAGAIN) does IoCall decide,
// once per call, what a blocking call would do:
//   - the fd is O_NONBLOCK: the plain call would have said EAGAIN: say it;
//   - the caller is lithe itself (internal_caller.hpp): make the plain call;
//   - else wait with parlib's uth_wait_fd (the context blocks; its hart
//     runs other work) until the fd is ready or the socket's timeout
//     (SO_RCVTIMEO / SO_SNDTIMEO) passes, then try again.
// So the fast path (data is there) costs one fstat (classify()) on top of
// the call itself, and the checks above are paid only by calls that wait.
// Fds parlib cannot watch (epoll's EPERM, ...) get the plain call. errno
// is as the libc call leaves it: restored when the call succeeds after a
// failed attempt.
//
// EINTR: a context's wait is never interrupted (signals are not delivered
// to contexts: docs/pthread.md), so these calls behave as if every handler
// had SA_RESTART, and a timed-out socket call says EAGAIN, as the kernel's.
//
// Runs in the calling context (may_switch_context() holds); no shared state.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <cerrno>
#include <cstdint>

#include "../../common/may_switch.hpp"

namespace lithe_pthread {

// What an fd's calls need (one fstat). kPlain: regular files, block
// devices, directories (always "ready", and RWF_NOWAIT on them could make a
// short read a blocking read would not make) and fds fstat rejects (the
// plain call reports the error).
enum class FdClass { kPlain, kSocket, kOther };
FdClass classify(int fd);

// Is the fd's O_NONBLOCK set? (False for a bad fd.)
bool nonblocking(int fd);

// Is the call's caller one that must not block its context here? (In the
// child of a fork, no one may: no vcores, no I/O service thread would ever
// wake it; may_switch_context() says no there.)
inline bool io_passes_through() { return !lithe_adapters::may_switch_context(); }

// Monotonic deadline in ns; kNever when none.
constexpr int64_t kNever = INT64_MAX;
int64_t monotonic_ns();
int64_t deadline_after_ms(int timeout_ms);  // poll/epoll style: < 0 = none
int64_t deadline_after(const struct timespec &t);  // a valid relative time

class IoCall {
  public:
    // `events` (POLLIN/POLLOUT) is what the call waits for; `timeo` the
    // socket option bounding it (SO_RCVTIMEO, SO_SNDTIMEO), 0 for none;
    // `caller` the interposer's return address.
    IoCall(int fd, short events, int timeo, const void *caller)
        : fd_(fd), events_(events), timeo_(timeo), caller_(caller),
          saved_errno_(errno) {}

    // One operation: `now` makes it without blocking (EAGAIN: would
    // block); `plain` is the libc call. Returns as the libc call would.
    template <class Now, class Plain>
    ssize_t run(Now now, Plain plain) {
        for (;;) {
            ssize_t r = polled_ ? poll_then(plain) : now();
            if (r < 0 && rwf_ && !polled_ && errno == EOPNOTSUPP) {
                polled_ = true;  // this fd has no RWF_NOWAIT (a tty, ...)
                continue;
            }
            if (r >= 0) errno = saved_errno_;
            if (r >= 0 || errno != EAGAIN) return r;
            switch (wait()) {
                case Next::kRetry: continue;
                case Next::kPlain: return plain();
                case Next::kFail: return -1;
            }
        }
    }

    // Use poll-then-plain from the start (calls that have no non-blocking
    // form: accept).
    void polled() { polled_ = true; }
    // `now` is preadv2/pwritev2 with RWF_NOWAIT: EOPNOTSUPP means the fd
    // does not support it (ttys, some devices), and run() falls back to
    // poll-then-plain for the rest of the call.
    void rwf_nowait() { rwf_ = true; }
    // The call is accept: on an fd that is not a listening socket it fails
    // at once (the plain call reports why) instead of waiting for POLLIN.
    void listening_only() { listening_ = true; }

    // After a partial transfer of a call that goes on (write, send,
    // MSG_WAITALL): true if the plain call would have stopped here (an
    // O_NONBLOCK fd). Restores errno.
    bool stops_after_partial();
    int saved_errno() const { return saved_errno_; }
    // The call's deadline (CLOCK_MONOTONIC ns, kNever if none): the
    // socket's timeout from the first time it is asked for.
    int64_t deadline();

  private:
    enum class Next { kRetry, kPlain, kFail };  // kFail: errno is set

    // After EAGAIN: what a blocking call does (see the top).
    Next wait();
    // A zero-timeout poll; if ready (or the poll fails), the plain call,
    // else -1 with EAGAIN.
    template <class Plain>
    ssize_t poll_then(Plain plain) {
        if (ready_now() == 0) {
            errno = EAGAIN;
            return -1;
        }
        return plain();
    }
    int ready_now();  // revents of a zero-timeout poll, or -1

    int fd_;
    short events_;
    int timeo_;
    const void *caller_;
    int saved_errno_;
    bool polled_ = false, rwf_ = false, listening_ = false;
    bool decided_ = false;  // the first wait() made its checks
    bool deadline_known_ = false;
    int64_t deadline_ = kNever;
};

// Blocks the context until `fd` has one of `events` or `deadline` passes:
// uth_wait_fd's result (the events, 0 when the deadline passed, -errno).
int wait_fd_until(int fd, short events, int64_t deadline);
// The socket's SO_RCVTIMEO or SO_SNDTIMEO (`opt`) as a deadline from now.
int64_t socket_deadline(int fd, int opt);
// poll's timeout (ms, -1 none) left until `deadline`, rounded up.
int ms_left(int64_t deadline);
// Does a blocking recv* with `flags` on `fd` wait for all its bytes?
// MSG_WAITALL does so only on stream sockets, and not with MSG_PEEK (the
// kernel's rule). Keeps errno.
bool waits_for_all(int fd, int flags);

// Repeats call.run(now(done), plain(done)) until total() bytes moved, EOF
// (0), an error (then the count so far if any, errno untouched), or a
// partial transfer the plain call would have stopped at. total() is asked
// only after a part moved bytes (the kernel has checked the buffers then:
// a bad iovec pointer is the kernel's EFAULT, not a crash here).
template <class Total, class Now, class Plain>
ssize_t transfer_all(IoCall &call, Total total, Now now, Plain plain) {
    size_t done = 0;
    for (;;) {
        ssize_t r = call.run([&] { return now(done); }, [&] { return plain(done); });
        if (r < 0) {
            if (done == 0) return -1;
            errno = call.saved_errno();
            return static_cast<ssize_t>(done);
        }
        done += static_cast<size_t>(r);
        if (r == 0 || done >= total() || call.stops_after_partial())
            return static_cast<ssize_t>(done);
    }
}

// The read-like calls (read, readv, pread, preadv): one fstat decides
// (classify()); `nowait` is the preadv2 with RWF_NOWAIT, `plain` the libc
// call.
template <class Now, class Plain>
ssize_t read_call(int fd, const void *caller, Now nowait, Plain plain) {
    FdClass c = classify(fd);
    if (c == FdClass::kPlain) return plain();
    IoCall call(fd, POLLIN, c == FdClass::kSocket ? SO_RCVTIMEO : 0, caller);
    call.rwf_nowait();
    return call.run(nowait, plain);
}

// The write-like calls (write, writev, pwrite, pwritev): as read_call, and
// a blocking one moves all total() bytes (transfer_all); nowait(done) and
// plain(done) move the bytes after the first `done`.
template <class Total, class Now, class Plain>
ssize_t write_call(int fd, const void *caller, Total total, Now nowait, Plain plain) {
    FdClass c = classify(fd);
    if (c == FdClass::kPlain) return plain(0);
    IoCall call(fd, POLLOUT, c == FdClass::kSocket ? SO_SNDTIMEO : 0, caller);
    call.rwf_nowait();
    return transfer_all(call, total, nowait, plain);
}

}  // namespace lithe_pthread
