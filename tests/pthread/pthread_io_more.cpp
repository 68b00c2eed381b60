// pthread_io_more.cpp: the vectored, positional and msghdr I/O calls and
// the select family in an unmodified pthreads program (docs/pthread.md,
// "Blocking I/O"); run, like pthread_io, without the adapter (ref: glibc's
// own results, which the expectations must match), linked and preloaded.
// The semantic checks run in main and in a pthread (lithe contexts with
// the adapter, where the calls are interposed).
//
//   io_vec     readv/writev/preadv/pwritev (+64): data scattered and
//              gathered, errno kept across a wait, a 1 MiB writev in odd
//              pieces to a slow reader, O_NONBLOCK (partial, EAGAIN),
//              SO_RCVTIMEO/SO_SNDTIMEO, EOF, EPIPE, EBADF, EINVAL, EFAULT,
//              a regular file (offsets kept)
//   io_pos     pread/pwrite (+64, __pread_chk, __pread64_chk): offsets,
//              the file offset untouched, EOF, EINVAL, ESPIPE on pipes and
//              sockets, EBADF, character devices
//   io_msg     recvmsg/sendmsg: scatter/gather, datagram names, MSG_TRUNC,
//              SCM_RIGHTS (once, with a 4 MiB sendmsg), MSG_WAITALL
//              (gathering, stopping after passed fds), timeouts,
//              O_NONBLOCK, MSG_DONTWAIT, EOF, EPIPE, ENOTSOCK
//   io_mmsg    recvmmsg/sendmmsg: the kernel's loop (each entry waits),
//              MSG_WAITFORONE, the timeout checked after each entry and
//              the time left, SO_RCVTIMEO/SO_SNDTIMEO, O_NONBLOCK, vlen 0,
//              stream entries sent whole, EINVAL, ENOTSOCK, EBADF
//   io_select  select/pselect/ppoll/__ppoll_chk/epoll_pwait/epoll_pwait2:
//              which fd woke, cleared sets and the time left on timeout,
//              regular files, a hang-up the except set does not count,
//              waits with a signal mask (no spurious EINTR), EBADF, EINVAL
//   harts_*    more threads than harts blocked in readv, writev, recvmsg,
//              sendmsg, recvmmsg, sendmmsg, select (also with a hung-up socket in the except
//              set, which select does not count), pselect, ppoll,
//              epoll_pwait or epoll_pwait2, and a compute thread must
//              still finish first
//              (io_test_support.hpp); with these calls left to glibc the
//              blocked threads hold every hart and the watchdog fails it.
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "io_test_support.hpp"
#include "named_checks.hpp"
#include "pthread_test_support.hpp"

extern "C" {
ssize_t __pread_chk(int, void *, size_t, off_t, size_t);
ssize_t __pread64_chk(int, void *, size_t, off_t, size_t);
int __ppoll_chk(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *,
                size_t);
}

namespace {

using namespace pthread_test;

// Reads exactly `n` bytes (or until EOF / an error).
size_t read_fully(int fd, char *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0) break;
        got += static_cast<size_t>(r);
    }
    return got;
}

// --- io_vec ---
bool io_vec() {
    int p[2];
    char a[3], b[8];
    struct iovec two[2] = {{a, sizeof a}, {b, sizeof b}};
    CHECK(pipe(p) == 0);
    pthread_t w = later(20, [&] { (void)!write(p[1], "hello", 5); });
    errno = 4321;
    CHECK(readv(p[0], two, 2) == 5);
    CHECK(std::memcmp(a, "hel", 3) == 0 && std::memcmp(b, "lo", 2) == 0);
    CHECK(errno == 4321);
    join(w);
    CHECK(readv(p[0], two, 0) == 0);
    // Invalid on purpose (the errors are the point): quiet gcc's checks.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#pragma GCC diagnostic ignored "-Wstringop-overread"
    CHECK(fails_with(readv(p[0], two, -1), EINVAL));
    CHECK(fails_with(readv(p[0], two, IOV_MAX + 1), EINVAL));
    CHECK(fails_with(writev(p[1], two, -1), EINVAL));
    CHECK(fails_with(writev(p[1], reinterpret_cast<struct iovec *>(8), 2), EFAULT));
#pragma GCC diagnostic pop
    CHECK(fails_with(preadv(p[0], two, 2, 0), ESPIPE));  // positional on a pipe
    CHECK(fails_with(preadv(p[0], two, 2, -1), EINVAL));
    w = later(10, [&] { close(p[1]); });
    CHECK(readv(p[0], two, 2) == 0);  // EOF
    join(w);
    close(p[0]);

    // A 1 MiB writev in odd pieces to a slow reader: every byte, in order.
    CHECK(pipe(p) == 0);
    std::vector<char> big(1 << 20), in(big.size());
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 13 + i / 999);
    struct iovec pieces[4] = {{big.data(), 1},
                              {big.data() + 1, 70'000},
                              {big.data() + 70'001, 0},
                              {big.data() + 70'001, big.size() - 70'001}};
    size_t got = 0;
    pthread_t rd = spawn([&] {
        while (got < in.size()) {
            struct iovec v = {in.data() + got, std::min<size_t>(in.size() - got, 5000)};
            ssize_t n = readv(p[0], &v, 1);
            if (n <= 0) break;
            got += static_cast<size_t>(n);
            if (got % 3 == 0) usleep(50);
        }
    });
    CHECK(writev(p[1], pieces, 4) == static_cast<ssize_t>(big.size()));
    join(rd);
    CHECK(got == big.size() && in == big);
    // O_NONBLOCK and full: the part that fit, then EAGAIN.
    set_nonblock(p[1], true);
    ssize_t part = writev(p[1], pieces, 4);
    CHECK(part > 0 && part < static_cast<ssize_t>(big.size()));
    CHECK(fails_with(writev(p[1], pieces, 4), EAGAIN));
    set_nonblock(p[0], true);
    CHECK(read_fully(p[0], in.data(), static_cast<size_t>(part)) == static_cast<size_t>(part));
    struct iovec one = {in.data(), 1};
    CHECK(fails_with(readv(p[0], &one, 1), EAGAIN));
    close(p[0]);
    CHECK(fails_with(writev(p[1], pieces, 1), EPIPE));  // SIGPIPE is ignored
    close(p[1]);
    CHECK(fails_with(readv(-1, &one, 1), EBADF));
    CHECK(fails_with(writev(9999, &one, 1), EBADF));

    // Sockets: the timeouts (EAGAIN; a partial count first for writev).
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    set_timeout(sv[0], SO_RCVTIMEO, 50'000);
    long long t0 = monotonic_ms();
    CHECK(fails_with(readv(sv[0], &one, 1), EAGAIN));
    CHECK(monotonic_ms() - t0 >= 45);
    set_timeout(sv[1], SO_SNDTIMEO, 50'000);
    std::vector<char> huge(4 << 20, 'h');
    struct iovec hv[2] = {{huge.data(), 1000}, {huge.data() + 1000, huge.size() - 1000}};
    part = writev(sv[1], hv, 2);
    CHECK(part > 0 && part < static_cast<ssize_t>(huge.size()));
    t0 = monotonic_ms();
    CHECK(fails_with(writev(sv[1], hv, 2), EAGAIN));
    CHECK(monotonic_ms() - t0 >= 45);
    close(sv[0]);
    close(sv[1]);

    // A regular file: the plain calls; preadv/pwritev keep the offset.
    FILE *f = std::tmpfile();
    CHECK(f != nullptr);
    int fd = fileno(f);
    CHECK(writev(fd, pieces, 4) == static_cast<ssize_t>(big.size()));
    CHECK(lseek(fd, 100, SEEK_SET) == 100);
    char x[4], y[6];
    struct iovec xy[2] = {{x, sizeof x}, {y, sizeof y}};
    CHECK(preadv(fd, xy, 2, 5000) == 10 && preadv64(fd, xy, 2, 5000) == 10);
    CHECK(std::memcmp(x, big.data() + 5000, 4) == 0 && std::memcmp(y, big.data() + 5004, 6) == 0);
    CHECK(pwritev(fd, xy, 2, 7) == 10 && pwritev64(fd, xy, 2, 17) == 10);
    CHECK(lseek(fd, 0, SEEK_CUR) == 100);  // the file offset is untouched
    CHECK(readv(fd, xy, 2) == 10 && std::memcmp(x, big.data() + 100, 4) == 0);
    CHECK(preadv(fd, xy, 2, 7) == 10 && std::memcmp(x, big.data() + 5000, 4) == 0);
    CHECK(preadv(fd, xy, 2, 1 << 21) == 0);  // past the end
    std::fclose(f);
    return true;
}

// --- io_pos ---
bool io_pos() {
    FILE *f = std::tmpfile();
    CHECK(f != nullptr);
    int fd = fileno(f);
    char buf[16] = {};
    CHECK(pwrite(fd, "0123456789", 10, 0) == 10);
    CHECK(pwrite64(fd, "ab", 2, 20) == 2);  // a hole from 10 to 20
    CHECK(lseek(fd, 0, SEEK_CUR) == 0);
    CHECK(pread(fd, buf, 4, 3) == 4 && std::memcmp(buf, "3456", 4) == 0);
    CHECK(pread64(fd, buf, 16, 8) == 14 && buf[0] == '8' && buf[2] == 0 && buf[12] == 'a');
    CHECK(__pread_chk(fd, buf, 2, 20, sizeof buf) == 2 && std::memcmp(buf, "ab", 2) == 0);
    CHECK(__pread64_chk(fd, buf, 3, 0, sizeof buf) == 3 && std::memcmp(buf, "012", 3) == 0);
    CHECK(pread(fd, buf, 4, 22) == 0);  // EOF
    CHECK(lseek(fd, 0, SEEK_CUR) == 0);
    CHECK(fails_with(pread(fd, buf, 4, -1), EINVAL));
    CHECK(fails_with(pwrite(fd, buf, 4, -1), EINVAL));
    CHECK(fails_with(pread64(fd, buf, 4, -5), EINVAL));
    std::fclose(f);

    int p[2], sv[2];
    CHECK(pipe(p) == 0 && socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK(fails_with(pread(p[0], buf, 1, 0), ESPIPE));
    CHECK(fails_with(pwrite(p[1], buf, 1, 0), ESPIPE));
    CHECK(fails_with(pread(sv[0], buf, 1, 0), ESPIPE));
    CHECK(fails_with(pwrite64(sv[1], buf, 1, 0), ESPIPE));
    for (int fd2 : {p[0], p[1], sv[0], sv[1]}) close(fd2);
    CHECK(fails_with(pread(-1, buf, 1, 0), EBADF));
    CHECK(fails_with(pwrite(9999, buf, 1, 0), EBADF));

    // Character devices that take an offset (not "plain" fds: the adapter's
    // attempt and fallback path).
    int z = open("/dev/zero", O_RDWR), n = open("/dev/null", O_RDWR);
    CHECK(z >= 0 && n >= 0);
    std::memset(buf, 'x', sizeof buf);
    CHECK(pread(z, buf, 8, 4096) == 8 && buf[0] == 0 && buf[7] == 0 && buf[8] == 'x');
    CHECK(pwrite(n, buf, 8, 12) == 8 && pread(n, buf, 8, 0) == 0);
    close(z);
    close(n);
    return true;
}

// --- io_msg ---
// Sends `data` with `fd` attached (SCM_RIGHTS; none if fd < 0).
ssize_t send_with_fd(int s, const void *data, size_t n, int fd) {
    struct iovec v = {const_cast<void *>(data), n};
    alignas(struct cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
    struct msghdr m{};
    m.msg_iov = &v;
    m.msg_iovlen = 1;
    if (fd >= 0) {
        m.msg_control = ctl;
        m.msg_controllen = sizeof ctl;
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    return sendmsg(s, &m, 0);
}

// A recvmsg of up to `n` bytes with `flags`; `*fd` the fd passed, or -1.
ssize_t recv_with_fd(int s, void *data, size_t n, int flags, int *fd, int *mflags) {
    struct iovec v = {data, n};
    alignas(struct cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * 4)];
    struct msghdr m{};
    m.msg_iov = &v;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    ssize_t r = recvmsg(s, &m, flags);
    *fd = -1;
    if (mflags) *mflags = m.msg_flags;
    if (r >= 0)
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                if (*fd >= 0) return -2;  // more than one fd: wrong
                std::memcpy(fd, CMSG_DATA(c), sizeof *fd);
            }
    return r;
}

bool io_msg() {
    int sv[2];
    char a[2], b[8];
    struct iovec two[2] = {{a, sizeof a}, {b, sizeof b}};
    struct msghdr m{};
    m.msg_iov = two;
    m.msg_iovlen = 2;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    pthread_t w = later(20, [&] { send(sv[1], "scatter", 7, 0); });
    errno = 4321;
    CHECK(recvmsg(sv[0], &m, 0) == 7 && errno == 4321);
    CHECK(std::memcmp(a, "sc", 2) == 0 && std::memcmp(b, "atter", 5) == 0);
    join(w);
    // MSG_WAITALL gathers the pieces into the iovecs.
    w = later(10, [&] {
        send(sv[1], "abc", 3, 0);
        usleep(5000);
        send(sv[1], "defg", 4, 0);
        usleep(5000);
        send(sv[1], "hij", 3, 0);
    });
    m.msg_flags = -1;
    CHECK(recvmsg(sv[0], &m, MSG_WAITALL) == 10 && m.msg_flags == 0);
    CHECK(std::memcmp(a, "ab", 2) == 0 && std::memcmp(b, "cdefghij", 8) == 0);
    join(w);
    // ... and stops after a part that passed fds (the kernel's rule).
    int pass[2];
    CHECK(pipe(pass) == 0);
    w = later(10, [&] {
        send(sv[1], "12", 2, 0);
        usleep(5000);
        send_with_fd(sv[1], "34", 2, pass[1]);
        usleep(5000);
        send(sv[1], "56", 2, 0);
    });
    int got_fd = -1;
    char six[6];
    CHECK(recv_with_fd(sv[0], six, 6, MSG_WAITALL, &got_fd, nullptr) == 4);
    CHECK(std::memcmp(six, "1234", 4) == 0 && got_fd >= 0);
    join(w);
    CHECK(write(got_fd, "!", 1) == 1 && read(pass[0], six, 1) == 1 && six[0] == '!');
    close(got_fd);
    CHECK(recv(sv[0], six, 2, 0) == 2 && std::memcmp(six, "56", 2) == 0);
    CHECK(fails_with(recvmsg(sv[0], &m, MSG_DONTWAIT), EAGAIN));

    // Timeouts, O_NONBLOCK.
    set_timeout(sv[0], SO_RCVTIMEO, 50'000);
    long long t0 = monotonic_ms();
    CHECK(fails_with(recvmsg(sv[0], &m, 0), EAGAIN));
    CHECK(monotonic_ms() - t0 >= 45);
    w = later(5, [&] { send(sv[1], "xyz", 3, 0); });
    CHECK(recvmsg(sv[0], &m, MSG_WAITALL) == 3);  // the timeout ends the gathering
    join(w);
    set_timeout(sv[0], SO_RCVTIMEO, 0);
    set_nonblock(sv[0], true);
    CHECK(fails_with(recvmsg(sv[0], &m, 0), EAGAIN));
    set_nonblock(sv[0], false);

    // A 4 MiB sendmsg with an fd to a slow reader: every byte, one fd.
    std::vector<char> big(4 << 20), in(big.size());
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 11 + i / 777);
    size_t got = 0;
    int fds_seen = 0;
    bool bad_ctl = false;
    pthread_t rd = spawn([&] {
        while (got < in.size()) {
            int fd = -1;
            ssize_t n = recv_with_fd(sv[0], in.data() + got,
                                     std::min<size_t>(in.size() - got, 9000), 0, &fd, nullptr);
            if (n == -2) bad_ctl = true;
            if (n <= 0) break;
            if (fd >= 0) ++fds_seen, close(fd);
            got += static_cast<size_t>(n);
        }
    });
    {
        struct iovec gv[2] = {{big.data(), 333}, {big.data() + 333, big.size() - 333}};
        alignas(struct cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
        struct msghdr sm{};
        sm.msg_iov = gv;
        sm.msg_iovlen = 2;
        sm.msg_control = ctl;
        sm.msg_controllen = sizeof ctl;
        struct cmsghdr *c = CMSG_FIRSTHDR(&sm);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &pass[0], sizeof(int));
        CHECK(sendmsg(sv[1], &sm, 0) == static_cast<ssize_t>(big.size()));
    }
    join(rd);
    CHECK(got == big.size() && in == big && fds_seen == 1 && !bad_ctl);
    close(pass[0]);
    close(pass[1]);

    // SO_SNDTIMEO on a socket nobody reads: a partial count, then EAGAIN.
    struct iovec bv = {big.data(), big.size()};
    struct msghdr bm{};
    bm.msg_iov = &bv;
    bm.msg_iovlen = 1;
    set_timeout(sv[1], SO_SNDTIMEO, 50'000);
    ssize_t part = sendmsg(sv[1], &bm, 0);
    CHECK(part > 0 && part < static_cast<ssize_t>(big.size()));
    t0 = monotonic_ms();
    CHECK(fails_with(sendmsg(sv[1], &bm, 0), EAGAIN));
    CHECK(monotonic_ms() - t0 >= 45);
    CHECK(fails_with(sendmsg(sv[1], &bm, MSG_DONTWAIT), EAGAIN));
    set_timeout(sv[1], SO_SNDTIMEO, 0);
    set_nonblock(sv[1], true);
    CHECK(fails_with(sendmsg(sv[1], &bm, 0), EAGAIN));
    close(sv[0]);
    close(sv[1]);

    // Peer close: EOF, EPIPE; ENOTSOCK.
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    w = later(10, [&] { close(sv[1]); });
    CHECK(recvmsg(sv[0], &m, 0) == 0);
    join(w);
    CHECK(fails_with(sendmsg(sv[0], &bm, MSG_NOSIGNAL), EPIPE));
    close(sv[0]);
    int p[2];
    CHECK(pipe(p) == 0);
    CHECK(fails_with(recvmsg(p[0], &m, 0), ENOTSOCK));
    CHECK(fails_with(sendmsg(p[1], &bm, 0), ENOTSOCK));
    close(p[0]);
    close(p[1]);

    // Datagrams: the sender's name, MSG_TRUNC, one datagram per call.
    int d[2];
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, d) == 0);
    struct sockaddr_un me;
    socklen_t melen = unix_addr(&me, "dgram");
    CHECK(bind(d[1], reinterpret_cast<struct sockaddr *>(&me), melen) == 0);
    w = later(10, [&] {
        send(d[1], "datagram", 8, 0);
        send(d[1], "two", 3, 0);
    });
    struct sockaddr_un from{};
    char small[4];
    struct iovec sv1 = {small, sizeof small};
    struct msghdr dm{};
    dm.msg_name = &from;
    dm.msg_namelen = sizeof from;
    dm.msg_iov = &sv1;
    dm.msg_iovlen = 1;
    CHECK(recvmsg(d[0], &dm, MSG_WAITALL) == 4 && (dm.msg_flags & MSG_TRUNC));
    CHECK(std::memcmp(small, "data", 4) == 0 && dm.msg_namelen == melen &&
          std::memcmp(from.sun_path, me.sun_path, melen - sizeof(sa_family_t)) == 0);
    dm.msg_namelen = sizeof from;
    CHECK(recvmsg(d[0], &dm, 0) == 3 && !(dm.msg_flags & MSG_TRUNC));
    join(w);
    close(d[0]);
    close(d[1]);
    return true;
}

// --- io_mmsg ---
// `n` entries, entry i receiving into bufs[i] (8 bytes).
struct Entries {
    std::vector<struct mmsghdr> v;
    std::vector<std::array<char, 8>> bufs;
    std::vector<struct iovec> iov;
    explicit Entries(size_t n) : v(n), bufs(n), iov(n) {
        for (size_t i = 0; i < n; ++i) {
            iov[i] = {bufs[i].data(), bufs[i].size()};
            v[i] = {};
            v[i].msg_hdr.msg_iov = &iov[i];
            v[i].msg_hdr.msg_iovlen = 1;
        }
    }
};

bool io_mmsg() {
    int d[2];
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, d) == 0);
    // The kernel's loop: each entry waits for its datagram.
    Entries out(2);
    std::memcpy(out.bufs[0].data(), "first", 5);
    std::memcpy(out.bufs[1].data(), "second", 6);
    out.iov[0].iov_len = 5;
    out.iov[1].iov_len = 6;
    pthread_t w = later(20, [&] {
        send(d[1], "one", 3, 0);
        usleep(10'000);
        send(d[1], "two!", 4, 0);
    });
    Entries in(2);
    errno = 4321;
    CHECK(recvmmsg(d[0], in.v.data(), 2, 0, nullptr) == 2 && errno == 4321);
    CHECK(in.v[0].msg_len == 3 && in.v[1].msg_len == 4);
    CHECK(std::memcmp(in.bufs[0].data(), "one", 3) == 0 && std::memcmp(in.bufs[1].data(), "two!", 4) == 0);
    join(w);
    CHECK(sendmmsg(d[1], out.v.data(), 2, 0) == 2 && out.v[0].msg_len == 5 && out.v[1].msg_len == 6);
    // MSG_WAITFORONE: what is there after the first.
    Entries in4(4);
    CHECK(recvmmsg(d[0], in4.v.data(), 4, MSG_WAITFORONE, nullptr) == 2);
    CHECK(in4.v[1].msg_len == 6 && std::memcmp(in4.bufs[1].data(), "second", 6) == 0);
    w = later(20, [&] { send(d[1], "late", 4, 0); });
    CHECK(recvmmsg(d[0], in4.v.data(), 4, MSG_WAITFORONE, nullptr) == 1 && in4.v[0].msg_len == 4);
    join(w);
    CHECK(fails_with(recvmmsg(d[0], in4.v.data(), 4, MSG_DONTWAIT, nullptr), EAGAIN));
    // The timeout is checked after each entry; the time left is written.
    w = later(5, [&] {
        send(d[1], "a", 1, 0);
        usleep(400'000);
        send(d[1], "b", 1, 0);
    });
    struct timespec ts = {0, 200'000'000};
    CHECK(recvmmsg(d[0], in4.v.data(), 4, 0, &ts) == 2);
    CHECK(ts.tv_sec == 0 && ts.tv_nsec == 0);
    join(w);
    ts = {0, 1'000'000'000};
    CHECK(fails_with(recvmmsg(d[0], in4.v.data(), 4, 0, &ts), EINVAL));
    // SO_RCVTIMEO: the entries that came.
    send(d[1], "x", 1, 0);
    set_timeout(d[0], SO_RCVTIMEO, 50'000);
    long long t0 = monotonic_ms();
    CHECK(recvmmsg(d[0], in4.v.data(), 2, 0, nullptr) == 1);
    CHECK(monotonic_ms() - t0 >= 45);
    CHECK(fails_with(recvmmsg(d[0], in4.v.data(), 2, 0, nullptr), EAGAIN));
    set_timeout(d[0], SO_RCVTIMEO, 0);
    set_nonblock(d[0], true);
    CHECK(fails_with(recvmmsg(d[0], in4.v.data(), 2, 0, nullptr), EAGAIN));
    CHECK(recvmmsg(d[0], in4.v.data(), 0, 0, nullptr) == 0);
    close(d[0]);
    close(d[1]);
    int p[2];
    CHECK(pipe(p) == 0);
    CHECK(fails_with(recvmmsg(p[0], in4.v.data(), 2, 0, nullptr), ENOTSOCK));
    CHECK(fails_with(sendmmsg(p[1], out.v.data(), 2, 0), ENOTSOCK));
    CHECK(fails_with(sendmmsg(p[1], out.v.data(), 0, 0), ENOTSOCK));
    close(p[0]);
    close(p[1]);
    CHECK(fails_with(recvmmsg(-1, in4.v.data(), 2, 0, nullptr), EBADF));

    // Stream: each entry goes out whole to a slow reader; SO_SNDTIMEO on
    // a socket nobody reads: the first entry in part, and that is all.
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    std::vector<char> big(2 << 20, 'm');
    struct iovec bv[2] = {{big.data(), big.size()}, {big.data(), big.size() / 2}};
    struct mmsghdr bm[2] = {};
    for (int i = 0; i < 2; ++i) bm[i].msg_hdr.msg_iov = &bv[i], bm[i].msg_hdr.msg_iovlen = 1;
    std::vector<char> sink(big.size() + big.size() / 2);
    size_t got = 0;
    pthread_t rd = spawn([&] { got = read_fully(sv[0], sink.data(), sink.size()); });
    CHECK(sendmmsg(sv[1], bm, 2, 0) == 2);
    CHECK(bm[0].msg_len == big.size() && bm[1].msg_len == big.size() / 2);
    join(rd);
    CHECK(got == sink.size());
    set_timeout(sv[1], SO_SNDTIMEO, 50'000);
    CHECK(sendmmsg(sv[1], bm, 2, 0) == 1);
    CHECK(bm[0].msg_len > 0 && bm[0].msg_len < big.size());
    close(sv[0]);
    close(sv[1]);
    return true;
}

// --- io_select ---
bool io_select() {
    int a[2], b[2];
    char c;
    CHECK(pipe(a) == 0 && pipe(b) == 0);
    int n = std::max(a[0], b[0]) + 1;
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(a[0], &rs);
    FD_SET(b[0], &rs);
    struct timeval tv = {5, 0};
    pthread_t w = later(20, [&] { (void)!write(b[1], "x", 1); });
    errno = 4321;
    CHECK(select(n, &rs, nullptr, nullptr, &tv) == 1 && errno == 4321);
    CHECK(!FD_ISSET(a[0], &rs) && FD_ISSET(b[0], &rs));
    CHECK(tv.tv_sec < 5 && (tv.tv_sec > 0 || tv.tv_usec > 0));  // the time left
    join(w);
    CHECK(read(b[0], &c, 1) == 1);
    // Timeout: 0, the sets cleared, no time left.
    FD_ZERO(&rs);
    FD_SET(a[0], &rs);
    FD_SET(b[0], &rs);
    tv = {0, 50'000};
    long long t0 = monotonic_ms();
    CHECK(select(n, &rs, nullptr, nullptr, &tv) == 0);
    CHECK(monotonic_ms() - t0 >= 45);
    CHECK(!FD_ISSET(a[0], &rs) && !FD_ISSET(b[0], &rs) && tv.tv_sec == 0 && tv.tv_usec == 0);
    tv = {0, 2'000'000};  // glibc folds 2 s of microseconds into seconds
    fd_set ws;
    FD_ZERO(&ws);
    FD_SET(a[1], &ws);
    FD_ZERO(&rs);
    FD_SET(a[0], &rs);
    CHECK(select(n, &rs, &ws, nullptr, &tv) == 1 && FD_ISSET(a[1], &ws) && !FD_ISSET(a[0], &rs));
    tv = {0, 30'000};
    t0 = monotonic_ms();
    CHECK(select(0, nullptr, nullptr, nullptr, &tv) == 0);  // a sleep
    CHECK(monotonic_ms() - t0 >= 25);
    // A regular file is always ready (epoll refuses it).
    FILE *f = std::tmpfile();
    int rf = fileno(f);
    FD_ZERO(&rs);
    FD_SET(a[0], &rs);
    FD_SET(rf, &rs);
    CHECK(select(std::max(n, rf + 1), &rs, nullptr, nullptr, nullptr) == 1 && FD_ISSET(rf, &rs));
    std::fclose(f);
    // A hang-up of an fd only in the except set is no event of select's.
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    fd_set es;
    FD_ZERO(&es);
    FD_SET(sv[0], &es);
    w = later(5, [&] { shutdown(sv[1], SHUT_RDWR); });
    tv = {0, 100'000};
    t0 = monotonic_ms();
    CHECK(select(sv[0] + 1, nullptr, nullptr, &es, &tv) == 0);
    CHECK(monotonic_ms() - t0 >= 95);
    join(w);
    close(sv[0]);
    close(sv[1]);
    // Errors.
    FD_ZERO(&rs);
    FD_SET(a[0], &rs);
    int closed = dup(a[0]);
    close(closed);
    FD_SET(closed, &rs);
    tv = {1, 0};
    CHECK(fails_with(select(std::max(n, closed + 1), &rs, nullptr, nullptr, &tv), EBADF));
    tv = {1, 0};
    CHECK(fails_with(select(-1, nullptr, nullptr, nullptr, &tv), EINVAL));
    tv = {-1, 0};
    CHECK(fails_with(select(0, nullptr, nullptr, nullptr, &tv), EINVAL));

    // pselect: the timespec is left alone; with a signal mask too.
    FD_ZERO(&rs);
    FD_SET(a[0], &rs);
    struct timespec ts = {5, 0};
    w = later(20, [&] { (void)!write(a[1], "y", 1); });
    CHECK(pselect(n, &rs, nullptr, nullptr, &ts, nullptr) == 1 && FD_ISSET(a[0], &rs));
    CHECK(ts.tv_sec == 5 && ts.tv_nsec == 0);
    join(w);
    CHECK(read(a[0], &c, 1) == 1);
    sigset_t mask;
    sigemptyset(&mask);
    ts = {0, 30'000'000};
    t0 = monotonic_ms();
    FD_ZERO(&rs);
    FD_SET(a[0], &rs);
    CHECK(pselect(n, &rs, nullptr, nullptr, &ts, &mask) == 0 && !FD_ISSET(a[0], &rs));
    CHECK(monotonic_ms() - t0 >= 25);
    ts = {0, 30'000'000};
    t0 = monotonic_ms();
    FD_SET(a[0], &rs);
    CHECK(pselect(n, &rs, nullptr, nullptr, &ts, nullptr) == 0);
    CHECK(monotonic_ms() - t0 >= 25);
    ts = {0, 1'000'000'000};
    CHECK(fails_with(pselect(n, &rs, nullptr, nullptr, &ts, nullptr), EINVAL));

    // ppoll, __ppoll_chk.
    struct pollfd fds[2] = {{a[0], POLLIN, 0}, {b[0], POLLIN, 0}};
    w = later(20, [&] { (void)!write(a[1], "z", 1); });
    CHECK(ppoll(fds, 2, nullptr, nullptr) == 1 && fds[0].revents == POLLIN);
    join(w);
    CHECK(read(a[0], &c, 1) == 1);
    ts = {0, 50'000'000};
    t0 = monotonic_ms();
    CHECK(ppoll(fds, 2, &ts, nullptr) == 0 && ts.tv_nsec == 50'000'000);
    CHECK(monotonic_ms() - t0 >= 45);
    t0 = monotonic_ms();
    CHECK(ppoll(fds, 2, &ts, &mask) == 0);
    CHECK(monotonic_ms() - t0 >= 45);
    w = later(10, [&] { (void)!write(b[1], "w", 1); });
    ts = {5, 0};
    CHECK(__ppoll_chk(fds, 2, &ts, nullptr, sizeof fds) == 1 && fds[1].revents == POLLIN);
    join(w);
    CHECK(read(b[0], &c, 1) == 1);
    ts = {0, -1};
    CHECK(fails_with(ppoll(fds, 2, &ts, nullptr), EINVAL));

    // epoll_pwait, epoll_pwait2.
    int ep = epoll_create1(0);
    struct epoll_event e{};
    e.events = EPOLLIN;
    e.data.fd = a[0];
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, a[0], &e) == 0);
    struct epoll_event out[4];
    w = later(20, [&] { (void)!write(a[1], "e", 1); });
    errno = 4321;
    CHECK(epoll_pwait(ep, out, 4, -1, nullptr) == 1 && out[0].data.fd == a[0] && errno == 4321);
    join(w);
    CHECK(read(a[0], &c, 1) == 1);
    t0 = monotonic_ms();
    CHECK(epoll_pwait(ep, out, 4, 50, nullptr) == 0);
    CHECK(monotonic_ms() - t0 >= 45);
    t0 = monotonic_ms();
    CHECK(epoll_pwait(ep, out, 4, 30, &mask) == 0);
    CHECK(monotonic_ms() - t0 >= 25);
    w = later(20, [&] { (void)!write(a[1], "f", 1); });
    CHECK(epoll_pwait2(ep, out, 4, nullptr, nullptr) == 1 && out[0].data.fd == a[0]);
    join(w);
    CHECK(read(a[0], &c, 1) == 1);
    ts = {0, 50'000'000};
    t0 = monotonic_ms();
    CHECK(epoll_pwait2(ep, out, 4, &ts, nullptr) == 0);
    CHECK(monotonic_ms() - t0 >= 45);
    ts = {0, 1'000'000'000};
    CHECK(fails_with(epoll_pwait2(ep, out, 4, &ts, nullptr), EINVAL));
    CHECK(fails_with(epoll_pwait(-1, out, 4, 10, nullptr), EBADF));
    CHECK(fails_with(epoll_pwait(ep, out, 0, 10, nullptr), EINVAL));
    for (int fd : {ep, a[0], a[1], b[0], b[1]}) close(fd);
    return true;
}

// --- harts_* ---
// kBlocked pipes whose threads block reading (or, full, writing) them.
struct Pipes {
    std::vector<std::array<int, 2>> p = std::vector<std::array<int, 2>>(kBlocked);
    bool ok = true;
    Pipes() {
        for (auto &x : p) ok = ok && pipe(x.data()) == 0;
    }
    ~Pipes() {
        for (auto &x : p) close(x[0]), close(x[1]);
    }
    int rd(int i) const { return p[i][0]; }
    int wr(int i) const { return p[i][1]; }
    void release(int i) const { (void)!write(p[i][1], "x", 1); }
};

bool harts_readv() {
    Pipes p;
    CHECK(p.ok);
    return blocked_do_not_hold_harts(
        {"harts_readv",
         [&](int i) {
             char c1, c2;
             struct iovec v[2] = {{&c1, 1}, {&c2, 1}};
             return readv(p.rd(i), v, 2) == 1 && c1 == 'x';
         },
         [&](int i) { p.release(i); }});
}

bool harts_writev() {
    Pipes p;
    CHECK(p.ok);
    constexpr size_t kBytes = 256 << 10;  // more than a pipe holds
    return blocked_do_not_hold_harts(
        {"harts_writev",
         [&](int i) {
             std::vector<char> v(kBytes, 'w');
             struct iovec two[2] = {{v.data(), 1}, {v.data() + 1, kBytes - 1}};
             return writev(p.wr(i), two, 2) == static_cast<ssize_t>(kBytes);
         },
         [&](int i) {
             std::vector<char> v(kBytes);
             read_fully(p.rd(i), v.data(), kBytes);
         }});
}

// kBlocked socketpairs.
struct Pairs {
    std::vector<std::array<int, 2>> s = std::vector<std::array<int, 2>>(kBlocked);
    bool ok = true;
    Pairs() {
        for (auto &x : s) ok = ok && socketpair(AF_UNIX, SOCK_STREAM, 0, x.data()) == 0;
    }
    ~Pairs() {
        for (auto &x : s) close(x[0]), close(x[1]);
    }
};

bool harts_recvmsg() {
    Pairs s;
    CHECK(s.ok);
    return blocked_do_not_hold_harts(
        {"harts_recvmsg",
         [&](int i) {
             char c[2];
             struct iovec v = {c, 2};
             struct msghdr m{};
             m.msg_iov = &v;
             m.msg_iovlen = 1;
             return recvmsg(s.s[i][0], &m, MSG_WAITALL) == 2;
         },
         [&](int i) { send(s.s[i][1], "xy", 2, 0); }});
}

// Each thread sends 1 MiB (more than a unix socket holds) with
// `send_all(fd, iov)`, true if all went.
bool harts_send_full(const char *name, bool (*send_all)(int, struct iovec *)) {
    Pairs s;
    CHECK(s.ok);
    constexpr size_t kBytes = 1 << 20;
    return blocked_do_not_hold_harts(
        {name,
         [&](int i) {
             std::vector<char> v(kBytes, 's');
             struct iovec iv = {v.data(), kBytes};
             return send_all(s.s[i][0], &iv);
         },
         [&](int i) {
             std::vector<char> v(kBytes);
             read_fully(s.s[i][1], v.data(), kBytes);
         }});
}

bool harts_sendmsg() {
    return harts_send_full("harts_sendmsg", [](int fd, struct iovec *iv) {
        struct msghdr m{};
        m.msg_iov = iv;
        m.msg_iovlen = 1;
        return sendmsg(fd, &m, 0) == static_cast<ssize_t>(iv->iov_len);
    });
}

bool harts_sendmmsg() {
    return harts_send_full("harts_sendmmsg", [](int fd, struct iovec *iv) {
        struct mmsghdr m{};
        m.msg_hdr.msg_iov = iv;
        m.msg_hdr.msg_iovlen = 1;
        return sendmmsg(fd, &m, 1, 0) == 1 && m.msg_len == iv->iov_len;
    });
}

bool harts_recvmmsg() {
    std::vector<std::array<int, 2>> d(kBlocked);
    for (auto &x : d) CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, x.data()) == 0);
    bool ok = blocked_do_not_hold_harts(
        {"harts_recvmmsg",
         [&](int i) {
             Entries in(2);
             return recvmmsg(d[i][0], in.v.data(), 2, MSG_WAITFORONE, nullptr) == 1;
         },
         [&](int i) { send(d[i][1], "x", 1, 0); }});
    for (auto &x : d) close(x[0]), close(x[1]);
    return ok;
}

bool harts_select() {
    Pipes p;
    CHECK(p.ok);
    return blocked_do_not_hold_harts(
        {"harts_select",
         [&](int i) {
             fd_set rs;
             FD_ZERO(&rs);
             FD_SET(p.rd(i), &rs);
             return select(p.rd(i) + 1, &rs, nullptr, nullptr, nullptr) == 1 &&
                    FD_ISSET(p.rd(i), &rs);
         },
         [&](int i) { p.release(i); }});
}

// Each also has a hung-up socket in its except set, which select does not
// count: the context must not re-ask in a loop (holding its hart) because
// epoll keeps reporting the hang-up (select.cpp: edge-triggered).
bool harts_select_hangup() {
    Pipes p;
    Pairs s;
    CHECK(p.ok && s.ok);
    for (auto &x : s.s) shutdown(x[1], SHUT_RDWR);
    return blocked_do_not_hold_harts(
        {"harts_select_hangup",
         [&](int i) {
             fd_set rs, es;
             FD_ZERO(&rs);
             FD_ZERO(&es);
             FD_SET(p.rd(i), &rs);
             FD_SET(s.s[i][0], &es);
             int n = std::max(p.rd(i), s.s[i][0]) + 1;
             return select(n, &rs, nullptr, &es, nullptr) == 1 && FD_ISSET(p.rd(i), &rs) &&
                    !FD_ISSET(s.s[i][0], &es);
         },
         [&](int i) { p.release(i); }});
}

bool harts_pselect() {
    Pipes p;
    CHECK(p.ok);
    return blocked_do_not_hold_harts(
        {"harts_pselect",
         [&](int i) {
             fd_set rs;
             FD_ZERO(&rs);
             FD_SET(p.rd(i), &rs);
             struct timespec ts = {60, 0};
             sigset_t none;  // with a mask: the context still waits parked
             sigemptyset(&none);
             return pselect(p.rd(i) + 1, &rs, nullptr, nullptr, &ts, &none) == 1;
         },
         [&](int i) { p.release(i); }});
}

bool harts_ppoll() {
    Pipes p;
    CHECK(p.ok);
    return blocked_do_not_hold_harts(
        {"harts_ppoll",
         [&](int i) {
             struct pollfd f = {p.rd(i), POLLIN, 0};
             return ppoll(&f, 1, nullptr, nullptr) == 1 && f.revents == POLLIN;
         },
         [&](int i) { p.release(i); }});
}

// epoll_pwait (`two` false) or epoll_pwait2, on an epoll instance each.
bool harts_epoll_pwait_(bool two) {
    Pipes p;
    CHECK(p.ok);
    std::vector<int> ep(kBlocked);
    for (int i = 0; i < kBlocked; ++i) {
        ep[i] = epoll_create1(0);
        struct epoll_event e{};
        e.events = EPOLLIN;
        CHECK(epoll_ctl(ep[i], EPOLL_CTL_ADD, p.rd(i), &e) == 0);
    }
    bool ok = blocked_do_not_hold_harts(
        {two ? "harts_epoll_pwait2" : "harts_epoll_pwait",
         [&](int i) {
             struct epoll_event e;
             struct timespec ts = {60, 0};
             sigset_t none;
             sigemptyset(&none);
             return (two ? epoll_pwait2(ep[i], &e, 1, &ts, nullptr)
                         : epoll_pwait(ep[i], &e, 1, -1, &none)) == 1;
         },
         [&](int i) { p.release(i); }});
    for (int fd : ep) close(fd);
    return ok;
}
bool harts_epoll_pwait() { return harts_epoll_pwait_(false); }
bool harts_epoll_pwait2() { return harts_epoll_pwait_(true); }

const named_checks::Check kChecks[] = {
    {"io_vec", in_both<io_vec>},
    {"io_pos", in_both<io_pos>},
    {"io_msg", in_both<io_msg>},
    {"io_mmsg", in_both<io_mmsg>},
    {"io_select", in_both<io_select>},
    {"harts_readv", harts_readv},
    {"harts_writev", harts_writev},
    {"harts_recvmsg", harts_recvmsg},
    {"harts_sendmsg", harts_sendmsg},
    {"harts_recvmmsg", harts_recvmmsg},
    {"harts_sendmmsg", harts_sendmmsg},
    {"harts_select", harts_select},
    {"harts_select_hangup", harts_select_hangup},
    {"harts_pselect", harts_pselect},
    {"harts_ppoll", harts_ppoll},
    {"harts_epoll_pwait", harts_epoll_pwait},
    {"harts_epoll_pwait2", harts_epoll_pwait2},
};

}  // namespace

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    return pthread_test::checks_main(kChecks, argc, argv);
}
