// msg_io.cpp: recvmsg, sendmsg, recvmmsg and sendmmsg called from a lithe
// context that may switch block the context instead of its hart, as recv
// and send do (io.cpp): MSG_DONTWAIT first (a call that already has it is
// the plain call), then a wait bounded by SO_RCVTIMEO / SO_SNDTIMEO;
// O_NONBLOCK sockets say EAGAIN.
//
//   sendmsg  a blocking one moves every byte, as send (and the kernel's
//            blocking sendmsg on a stream socket) does; the parts after a
//            partial transfer carry no control data (it went with the
//            first, as in the kernel) and the rest of the iovecs
//            (iov_rest.hpp).
//   recvmsg  one call, except MSG_WAITALL on a stream socket (without
//            MSG_PEEK), which gathers the rest of the iovecs as recv does.
//            Its parts reuse the caller's name and control buffers; the
//            gathering stops after a part that carried control data (the
//            kernel's own call stops after passed fds, and a later part
//            would overwrite it); msg_flags is the union of the parts'.
//            It reads the caller's msghdr before the first call (to keep
//            the buffer sizes the calls overwrite): a bad msghdr pointer
//            crashes there instead of failing with EFAULT.
//   recvmmsg, sendmmsg  the kernel's loop over the entries (net/socket.c),
//            each entry one recvmsg / sendmsg as above: at most IOV_MAX
//            entries; recvmmsg's MSG_WAITFORONE makes the entries after
//            the first MSG_DONTWAIT, its timeout is checked after each
//            entry (it does not bound the wait for one: the kernel's
//            documented bug) and gets the time left when entries came;
//            vlen 0 is the plain call (EBADF, ENOTSOCK or 0);
//            an entry with MSG_OOB ends it; sendmmsg stops after an entry
//            it could only send part of. An error after the first entry
//            returns the count so far, errno untouched (the kernel also
//            keeps a non-EAGAIN error for the socket's next call: not
//            done here). One system call per entry, not one per batch.
//
// Runs in the caller's context; no state but the cached libc addresses.
#include <limits.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>

#include "../../common/next_symbol.hpp"
#include "io_wait.hpp"
#include "iov_rest.hpp"

namespace lithe_pthread {
namespace {

using lithe_adapters::next_symbol;

std::atomic<void *> g_recvmsg{nullptr}, g_sendmsg{nullptr}, g_recvmmsg{nullptr},
    g_sendmmsg{nullptr};

ssize_t next_recvmsg(int fd, struct msghdr *msg, int flags) {
    return next_symbol<ssize_t (*)(int, struct msghdr *, int)>(g_recvmsg, "recvmsg")(
        fd, msg, flags);
}
ssize_t next_sendmsg(int fd, const struct msghdr *msg, int flags) {
    return next_symbol<ssize_t (*)(int, const struct msghdr *, int)>(g_sendmsg,
                                                                     "sendmsg")(
        fd, msg, flags);
}

int next_recvmmsg(int fd, struct mmsghdr *vec, unsigned vlen, int flags,
                  struct timespec *t) {
    return next_symbol<int (*)(int, struct mmsghdr *, unsigned, int, struct timespec *)>(
        g_recvmmsg, "recvmmsg")(fd, vec, vlen, flags, t);
}
int next_sendmmsg(int fd, struct mmsghdr *vec, unsigned vlen, int flags) {
    return next_symbol<int (*)(int, struct mmsghdr *, unsigned, int)>(g_sendmmsg,
                                                                      "sendmmsg")(
        fd, vec, vlen, flags);
}

ssize_t ctx_sendmsg(int fd, const struct msghdr *msg, int flags, const void *caller) {
    if (flags & MSG_DONTWAIT) return next_sendmsg(fd, msg, flags);
    IoCall call(fd, POLLOUT, SO_SNDTIMEO, caller);
    IovRest rest(nullptr, 0);  // set after the first part: msg is valid then
    struct msghdr part;
    auto rest_of = [&](size_t done) -> const struct msghdr * {
        if (done == 0) return msg;
        rest = IovRest(msg->msg_iov, msg->msg_iovlen);
        IovRest::Part p = rest.after(done);
        part = *msg;
        part.msg_iov = const_cast<struct iovec *>(p.iov);
        part.msg_iovlen = p.cnt;
        part.msg_control = nullptr;
        part.msg_controllen = 0;
        return &part;
    };
    return transfer_all(
        call, [&] { return IovRest(msg->msg_iov, msg->msg_iovlen).total(); },
        [&](size_t done) { return next_sendmsg(fd, rest_of(done), flags | MSG_DONTWAIT); },
        [&](size_t done) { return next_sendmsg(fd, rest_of(done), flags); });
}

ssize_t ctx_recvmsg(int fd, struct msghdr *msg, int flags, const void *caller) {
    if (flags & MSG_DONTWAIT) return next_recvmsg(fd, msg, flags);
    IoCall call(fd, POLLIN, SO_RCVTIMEO, caller);
    if (!waits_for_all(fd, flags))
        return call.run([&] { return next_recvmsg(fd, msg, flags | MSG_DONTWAIT); },
                        [&] { return next_recvmsg(fd, msg, flags); });
    const struct msghdr asked = *msg;  // the calls overwrite the lengths
    IovRest rest(asked.msg_iov, asked.msg_iovlen);
    int got_flags = 0;
    bool got_control = false;
    auto part = [&](size_t done, int fl) {
        struct msghdr m = asked;
        IovRest::Part p = rest.after(done);
        m.msg_iov = const_cast<struct iovec *>(p.iov);
        m.msg_iovlen = p.cnt;
        ssize_t r = next_recvmsg(fd, &m, fl);
        if (r >= 0) {
            got_flags |= m.msg_flags;
            got_control = m.msg_controllen != 0;
            msg->msg_namelen = m.msg_namelen;
            msg->msg_controllen = m.msg_controllen;
            msg->msg_flags = got_flags;
        }
        return r;
    };
    // A part with control data ends the call (total() 0: "all moved").
    return transfer_all(
        call, [&] { return got_control ? 0 : rest.total(); },
        [&](size_t done) { return part(done, flags | MSG_DONTWAIT); },
        [&](size_t done) { return part(done, flags); });
}

// The kernel's blocking recvmmsg (see the top).
int ctx_recvmmsg(int fd, struct mmsghdr *vec, unsigned vlen, int flags,
                 struct timespec *timeout, const void *caller) {
    if (timeout && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 ||
                    timeout->tv_nsec >= 1'000'000'000))
        return next_recvmmsg(fd, vec, vlen, flags, timeout);  // EINVAL
    const int64_t deadline = timeout ? deadline_after(*timeout) : kNever;
    const int saved = errno;
    vlen = std::min(vlen, unsigned(IOV_MAX));
    unsigned done = 0;
    while (done < vlen) {
        ssize_t r = ctx_recvmsg(fd, &vec[done].msg_hdr, flags & ~MSG_WAITFORONE, caller);
        if (r < 0) break;
        vec[done].msg_len = static_cast<unsigned>(r);
        ++done;
        if (flags & MSG_WAITFORONE) flags |= MSG_DONTWAIT;
        if (deadline != kNever && monotonic_ns() >= deadline) break;
        if (vec[done - 1].msg_hdr.msg_flags & MSG_OOB) break;
    }
    if (done == 0) return -1;
    if (timeout && deadline != kNever) {
        int64_t left = std::max<int64_t>(deadline - monotonic_ns(), 0);
        *timeout = {left / 1'000'000'000, left % 1'000'000'000};
    }
    errno = saved;
    return static_cast<int>(done);
}

// The kernel's blocking sendmmsg (see the top).
int ctx_sendmmsg(int fd, struct mmsghdr *vec, unsigned vlen, int flags,
                 const void *caller) {
    const int saved = errno;
    vlen = std::min(vlen, unsigned(IOV_MAX));
    unsigned done = 0;
    while (done < vlen) {
        struct msghdr *m = &vec[done].msg_hdr;
        ssize_t r = ctx_sendmsg(fd, m, flags, caller);
        if (r < 0) break;
        vec[done].msg_len = static_cast<unsigned>(r);
        ++done;
        if (size_t(r) < IovRest(m->msg_iov, m->msg_iovlen).total()) break;
    }
    if (done == 0) return -1;
    errno = saved;
    return static_cast<int>(done);
}

}  // namespace
}  // namespace lithe_pthread

using namespace lithe_pthread;

extern "C" {

__attribute__((visibility("default"))) ssize_t recvmsg(int fd, struct msghdr *msg,
                                                       int flags) {
    if (io_passes_through()) return next_recvmsg(fd, msg, flags);
    return ctx_recvmsg(fd, msg, flags, __builtin_return_address(0));
}

__attribute__((visibility("default"))) ssize_t sendmsg(int fd, const struct msghdr *msg,
                                                       int flags) {
    if (io_passes_through()) return next_sendmsg(fd, msg, flags);
    return ctx_sendmsg(fd, msg, flags, __builtin_return_address(0));
}

__attribute__((visibility("default"))) int recvmmsg(int fd, struct mmsghdr *vec,
                                                    unsigned vlen, int flags,
                                                    struct timespec *timeout) {
    if (io_passes_through() || (flags & MSG_DONTWAIT) || vlen == 0)
        return next_recvmmsg(fd, vec, vlen, flags, timeout);
    return ctx_recvmmsg(fd, vec, vlen, flags, timeout, __builtin_return_address(0));
}

__attribute__((visibility("default"))) int sendmmsg(int fd, struct mmsghdr *vec,
                                                    unsigned vlen, int flags) {
    if (io_passes_through() || (flags & MSG_DONTWAIT) || vlen == 0)
        return next_sendmmsg(fd, vec, vlen, flags);
    return ctx_sendmmsg(fd, vec, vlen, flags, __builtin_return_address(0));
}

}  // extern "C"
