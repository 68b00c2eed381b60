// io_wait.cpp: see io_wait.hpp.
#include "io_wait.hpp"

#include <parlib/io.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#include "internal_caller.hpp"

namespace lithe_pthread {

FdClass classify(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0) return FdClass::kPlain;
    if (S_ISSOCK(st.st_mode)) return FdClass::kSocket;
    if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) || S_ISDIR(st.st_mode))
        return FdClass::kPlain;
    return FdClass::kOther;
}

int64_t monotonic_ns() {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return int64_t(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

int64_t deadline_after_ms(int timeout_ms) {
    return timeout_ms < 0 ? kNever : monotonic_ns() + int64_t(timeout_ms) * 1'000'000;
}

int64_t deadline_after(const struct timespec &t) {
    int64_t now = monotonic_ns();
    if (t.tv_sec >= (kNever - now) / 1'000'000'000 - 1) return kNever;  // centuries
    return now + int64_t(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

bool waits_for_all(int fd, int flags) {
    if (!(flags & MSG_WAITALL) || (flags & MSG_PEEK)) return false;
    int type = 0, saved = errno;
    socklen_t len = sizeof type;
    bool stream = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
                  type == SOCK_STREAM;
    errno = saved;
    return stream;
}

namespace {

// uth_wait_fd's timeout for `deadline`: -1 none, else >= 0 us (rounded up).
int64_t timeout_us(int64_t deadline) {
    if (deadline == kNever) return -1;
    int64_t left = deadline - monotonic_ns();
    return left <= 0 ? 0 : (left + 999) / 1000;
}

bool listening(int fd) {
    int on = 0;
    socklen_t len = sizeof on;
    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on;
}

}  // namespace

bool nonblocking(int fd) {
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & O_NONBLOCK);
}

// A zero timeval means no timeout, as for the kernel.
int64_t socket_deadline(int fd, int opt) {
    struct timeval tv;
    socklen_t len = sizeof tv;
    if (getsockopt(fd, SOL_SOCKET, opt, &tv, &len) != 0 ||
        (tv.tv_sec == 0 && tv.tv_usec == 0))
        return kNever;
    return monotonic_ns() + int64_t(tv.tv_sec) * 1'000'000'000 +
           int64_t(tv.tv_usec) * 1000;
}

int ms_left(int64_t deadline) {
    if (deadline == kNever) return -1;
    int64_t left = deadline - monotonic_ns();
    return left <= 0 ? 0 : int((left + 999'999) / 1'000'000);
}

IoCall::Next IoCall::wait() {
    if (!decided_) {
        decided_ = true;
        if (nonblocking(fd_)) {
            errno = EAGAIN;
            return Next::kFail;
        }
        if (called_by_lithe(caller_) || (listening_ && !listening(fd_)))
            return Next::kPlain;
        deadline();
    }
    if (timeout_us(deadline_) == 0) {  // the socket's timeout passed:
        errno = EAGAIN;                 // the kernel says EAGAIN
        return Next::kFail;
    }
    // Ready, or timed out: one more try. An fd parlib cannot watch (epoll
    // refuses it, a number past parlib's table): the plain call.
    return wait_fd_until(fd_, events_, deadline_) >= 0 ? Next::kRetry : Next::kPlain;
}

int64_t IoCall::deadline() {
    if (!deadline_known_) {
        deadline_known_ = true;
        if (timeo_) deadline_ = socket_deadline(fd_, timeo_);
    }
    return deadline_;
}

bool IoCall::stops_after_partial() {
    bool stop = !decided_ && nonblocking(fd_);
    errno = saved_errno_;
    return stop;
}

int IoCall::ready_now() {
    struct pollfd p = {fd_, events_, 0};
    struct timespec zero = {0, 0};
    int n;
    do {  // EINTR here is a vcore's signal, not an answer
        n = ppoll(&p, 1, &zero, nullptr);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -1 : p.revents;
}

int wait_fd_until(int fd, short events, int64_t deadline) {
    return uth_wait_fd(fd, events, timeout_us(deadline));
}

}  // namespace lithe_pthread
