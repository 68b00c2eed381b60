// io.cpp: read, write, recv, recvfrom, send, sendto, accept, accept4,
// connect and the _FORTIFY_SOURCE forms __read_chk, __recv_chk,
// __recvfrom_chk, called from a lithe context that may switch, block the
// context instead of its hart (io_wait.hpp); every other caller gets the
// libc call (the next definition) unchanged.
//
// Per call:
//   read, write      one fstat (classify()): regular files, block devices
//                    and directories get the plain call; other fds try
//                    preadv2/pwritev2 with RWF_NOWAIT (fds without it: poll,
//                    then the plain call), sockets are bounded by
//                    SO_RCVTIMEO / SO_SNDTIMEO.
//   recv*, send*     MSG_DONTWAIT (a call that already has it is plain);
//                    no fstat: on a non-socket the attempt fails as the
//                    plain call would (ENOTSOCK).
//   accept, accept4  no per-call "don't wait" exists: poll, then the plain
//                    call; contexts accepting on one listener take turns
//                    (fd_turn.hpp), else every waiter would be woken by a
//                    connection and all but one would block their harts
//                    in the kernel's accept.
//   connect          O_NONBLOCK set around the connect() call only, then a
//                    wait for POLLOUT bounded by SO_SNDTIMEO (EINPROGRESS
//                    when it passes, as the kernel's) and SO_ERROR.
// A blocking write or send returns once every byte is queued (or with the
// count so far when an error or the timeout stops it), recv with
// MSG_WAITALL on a stream socket once `n` bytes, EOF or an error came, as
// the kernel's blocking calls do; on an O_NONBLOCK fd they stop after the
// first partial transfer, as the plain call would.
//
// Runs in the caller's context; no state but the cached libc addresses.
#undef _FORTIFY_SOURCE
#include <parlib/alarm.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "../../common/next_symbol.hpp"
#include "fd_turn.hpp"
#include "internal_caller.hpp"
#include "io_wait.hpp"

extern "C" [[noreturn]] void __chk_fail(void);

namespace lithe_pthread {
namespace {

using lithe_adapters::next_symbol;

std::atomic<void *> g_read{nullptr}, g_write{nullptr}, g_recvfrom{nullptr},
    g_sendto{nullptr}, g_accept4{nullptr}, g_connect{nullptr};

ssize_t next_read(int fd, void *buf, size_t n) {
    return next_symbol<ssize_t (*)(int, void *, size_t)>(g_read, "read")(fd, buf, n);
}
ssize_t next_write(int fd, const void *buf, size_t n) {
    return next_symbol<ssize_t (*)(int, const void *, size_t)>(g_write, "write")(
        fd, buf, n);
}
// recv and send are recvfrom and sendto without an address (POSIX).
ssize_t next_recvfrom(int fd, void *buf, size_t n, int flags,
                      struct sockaddr *addr, socklen_t *len) {
    return next_symbol<ssize_t (*)(int, void *, size_t, int, struct sockaddr *,
                                   socklen_t *)>(g_recvfrom, "recvfrom")(
        fd, buf, n, flags, addr, len);
}
ssize_t next_sendto(int fd, const void *buf, size_t n, int flags,
                    const struct sockaddr *addr, socklen_t len) {
    return next_symbol<ssize_t (*)(int, const void *, size_t, int,
                                   const struct sockaddr *, socklen_t)>(
        g_sendto, "sendto")(fd, buf, n, flags, addr, len);
}
int next_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
    return next_symbol<int (*)(int, struct sockaddr *, socklen_t *, int)>(
        g_accept4, "accept4")(fd, addr, len, flags);
}
int next_connect(int fd, const struct sockaddr *addr, socklen_t len) {
    return next_symbol<int (*)(int, const struct sockaddr *, socklen_t)>(
        g_connect, "connect")(fd, addr, len);
}

ssize_t ctx_read(int fd, void *buf, size_t n, const void *caller) {
    struct iovec iov = {buf, n};
    return read_call(
        fd, caller, [&] { return preadv2(fd, &iov, 1, -1, RWF_NOWAIT); },
        [&] { return next_read(fd, buf, n); });
}

ssize_t ctx_write(int fd, const void *buf, size_t n, const void *caller) {
    const char *p = static_cast<const char *>(buf);
    return write_call(
        fd, caller, [n] { return n; },
        [&](size_t done) {
            struct iovec iov = {const_cast<char *>(p + done), n - done};
            return pwritev2(fd, &iov, 1, -1, RWF_NOWAIT);
        },
        [&](size_t done) { return next_write(fd, p + done, n - done); });
}

ssize_t ctx_recvfrom(int fd, void *buf, size_t n, int flags,
                     struct sockaddr *addr, socklen_t *alen, const void *caller) {
    if (flags & MSG_DONTWAIT) return next_recvfrom(fd, buf, n, flags, addr, alen);
    IoCall call(fd, POLLIN, SO_RCVTIMEO, caller);
    char *p = static_cast<char *>(buf);
    auto now = [&](size_t done) {
        return next_recvfrom(fd, p + done, n - done, flags | MSG_DONTWAIT, addr, alen);
    };
    auto plain = [&](size_t done) {
        return next_recvfrom(fd, p + done, n - done, flags, addr, alen);
    };
    if (waits_for_all(fd, flags)) return transfer_all(call, [n] { return n; }, now, plain);
    return call.run([&] { return now(0); }, [&] { return plain(0); });
}

ssize_t ctx_sendto(int fd, const void *buf, size_t n, int flags,
                   const struct sockaddr *addr, socklen_t alen, const void *caller) {
    if (flags & MSG_DONTWAIT) return next_sendto(fd, buf, n, flags, addr, alen);
    IoCall call(fd, POLLOUT, SO_SNDTIMEO, caller);
    const char *p = static_cast<const char *>(buf);
    return transfer_all(
        call, [n] { return n; },
        [&](size_t done) {
            return next_sendto(fd, p + done, n - done, flags | MSG_DONTWAIT, addr, alen);
        },
        [&](size_t done) {
            return next_sendto(fd, p + done, n - done, flags, addr, alen);
        });
}

// Contexts accepting on one blocking listener take turns (fd_turn.hpp);
// on an O_NONBLOCK one (or a bad fd) the plain call is the answer.
int ctx_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags,
                const void *caller) {
    auto plain = [&] { return next_accept4(fd, addr, len, flags); };
    int saved = errno;
    int fl = fcntl(fd, F_GETFL);
    errno = saved;
    if (fl < 0 || (fl & O_NONBLOCK)) return plain();
    IoCall call(fd, POLLIN, SO_RCVTIMEO, caller);
    call.polled();
    call.listening_only();
    FdTurn turn(fd);
    const int64_t deadline = call.deadline();
    if (!turn.take({deadline != kNever, CLOCK_MONOTONIC, deadline})) {
        errno = EAGAIN;  // SO_RCVTIMEO passed while others had the turn
        return -1;
    }
    return static_cast<int>(call.run(plain, plain));
}

// The blocking connect of a socket that is not O_NONBLOCK, without holding
// the hart. Another thread changing the fd's flags during the connect()
// call could be undone by the restore (docs/pthread.md).
int ctx_connect(int fd, const struct sockaddr *addr, socklen_t len,
                const void *caller) {
    int saved = errno;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (fl & O_NONBLOCK) || called_by_lithe(caller)) {
        errno = saved;
        return next_connect(fd, addr, len);
    }
    const int64_t deadline = socket_deadline(fd, SO_SNDTIMEO);
    for (;;) {
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        int r = next_connect(fd, addr, len);
        int e = errno;
        fcntl(fd, F_SETFL, fl);
        if (r == 0) {
            errno = saved;
            return 0;
        }
        if (e == EAGAIN && addr && addr->sa_family == AF_UNIX) {
            // A full listen backlog, which nothing can be polled for: the
            // kernel's blocking connect waits (up to SO_SNDTIMEO); retry.
            if (monotonic_ns() >= deadline) break;
            uth_sleep_us(1000);
            continue;
        }
        if (e != EINPROGRESS) {
            errno = e;
            return -1;
        }
        int w = wait_fd_until(fd, POLLOUT, deadline);
        if (w == 0) {  // SO_SNDTIMEO passed: the kernel says EINPROGRESS
            errno = EINPROGRESS;
            return -1;
        }
        if (w < 0) {
            errno = -w;
            return -1;
        }
        int so = 0;
        socklen_t sl = sizeof so;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) != 0) return -1;
        if (so != 0) {
            errno = so;
            return -1;
        }
        errno = saved;
        return 0;
    }
    errno = EAGAIN;
    return -1;
}

}  // namespace
}  // namespace lithe_pthread

using namespace lithe_pthread;

#define LITHE_CALLER __builtin_return_address(0)

extern "C" {

__attribute__((visibility("default"))) ssize_t read(int fd, void *buf, size_t n) {
    if (io_passes_through()) return next_read(fd, buf, n);
    return ctx_read(fd, buf, n, LITHE_CALLER);
}

__attribute__((visibility("default"))) ssize_t __read_chk(int fd, void *buf,
                                                          size_t n, size_t buflen) {
    if (n > buflen) __chk_fail();
    if (io_passes_through()) return next_read(fd, buf, n);
    return ctx_read(fd, buf, n, LITHE_CALLER);
}

__attribute__((visibility("default"))) ssize_t write(int fd, const void *buf,
                                                     size_t n) {
    if (io_passes_through()) return next_write(fd, buf, n);
    return ctx_write(fd, buf, n, LITHE_CALLER);
}

__attribute__((visibility("default"))) ssize_t recv(int fd, void *buf, size_t n,
                                                    int flags) {
    if (io_passes_through()) return next_recvfrom(fd, buf, n, flags, nullptr, nullptr);
    return ctx_recvfrom(fd, buf, n, flags, nullptr, nullptr, LITHE_CALLER);
}

__attribute__((visibility("default"))) ssize_t __recv_chk(int fd, void *buf,
                                                          size_t n, size_t buflen,
                                                          int flags) {
    if (n > buflen) __chk_fail();
    if (io_passes_through()) return next_recvfrom(fd, buf, n, flags, nullptr, nullptr);
    return ctx_recvfrom(fd, buf, n, flags, nullptr, nullptr, LITHE_CALLER);
}

__attribute__((visibility("default"))) ssize_t recvfrom(int fd, void *buf, size_t n,
                                                        int flags,
                                                        struct sockaddr *addr,
                                                        socklen_t *alen) {
    if (io_passes_through()) return next_recvfrom(fd, buf, n, flags, addr, alen);
    return ctx_recvfrom(fd, buf, n, flags, addr, alen, LITHE_CALLER);
}

__attribute__((visibility("default"))) ssize_t __recvfrom_chk(
    int fd, void *buf, size_t n, size_t buflen, int flags, struct sockaddr *addr,
    socklen_t *alen) {
    if (n > buflen) __chk_fail();
    if (io_passes_through()) return next_recvfrom(fd, buf, n, flags, addr, alen);
    return ctx_recvfrom(fd, buf, n, flags, addr, alen, LITHE_CALLER);
}

__attribute__((visibility("default"))) ssize_t send(int fd, const void *buf,
                                                    size_t n, int flags) {
    if (io_passes_through()) return next_sendto(fd, buf, n, flags, nullptr, 0);
    return ctx_sendto(fd, buf, n, flags, nullptr, 0, LITHE_CALLER);
}

__attribute__((visibility("default"))) ssize_t sendto(int fd, const void *buf,
                                                      size_t n, int flags,
                                                      const struct sockaddr *addr,
                                                      socklen_t alen) {
    if (io_passes_through()) return next_sendto(fd, buf, n, flags, addr, alen);
    return ctx_sendto(fd, buf, n, flags, addr, alen, LITHE_CALLER);
}

__attribute__((visibility("default"))) int accept(int fd, struct sockaddr *addr,
                                                  socklen_t *len) {
    if (io_passes_through()) return next_accept4(fd, addr, len, 0);
    return ctx_accept4(fd, addr, len, 0, LITHE_CALLER);
}

__attribute__((visibility("default"))) int accept4(int fd, struct sockaddr *addr,
                                                   socklen_t *len, int flags) {
    if (io_passes_through()) return next_accept4(fd, addr, len, flags);
    return ctx_accept4(fd, addr, len, flags, LITHE_CALLER);
}

__attribute__((visibility("default"))) int connect(int fd,
                                                   const struct sockaddr *addr,
                                                   socklen_t len) {
    if (io_passes_through()) return next_connect(fd, addr, len);
    return ctx_connect(fd, addr, len, LITHE_CALLER);
}

}  // extern "C"
