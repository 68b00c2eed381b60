// vec_io.cpp: the vectored and positional reads and writes — readv,
// writev, pread, pwrite, preadv, pwritev, their LFS names (pread64, ...)
// and the _FORTIFY_SOURCE forms __pread_chk, __pread64_chk — called from a
// lithe context that may switch, block the context instead of its hart,
// exactly as read and write do (io.cpp, io_wait.hpp: read_call,
// write_call): one fstat; regular files, block devices and directories get
// the plain call; other fds try preadv2/pwritev2 with RWF_NOWAIT (at the
// call's offset, or -1: the file offset), then wait. A blocking writev or
// pwrite(v) moves every byte (iov_rest.hpp walks the iovecs; pwrite's
// offset advances with them), as write does. A negative offset gets the
// plain call (preadv2 would take -1 as "the file offset"; the kernel says
// EINVAL). pread/pwrite on pipes and sockets fail with ESPIPE at once, as
// the plain call does; the file offset of a positional call is never
// touched.
//
// Runs in the caller's context; no state but the cached libc addresses.
#undef _FORTIFY_SOURCE
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>

#include "../../common/next_symbol.hpp"
#include "io_wait.hpp"
#include "iov_rest.hpp"

extern "C" [[noreturn]] void __chk_fail(void);

namespace lithe_pthread {
namespace {

using lithe_adapters::next_symbol;

std::atomic<void *> g_readv{nullptr}, g_writev{nullptr}, g_pread{nullptr},
    g_pwrite{nullptr}, g_preadv{nullptr}, g_pwritev{nullptr};

ssize_t next_readv(int fd, const struct iovec *iov, int cnt) {
    return next_symbol<ssize_t (*)(int, const struct iovec *, int)>(g_readv, "readv")(
        fd, iov, cnt);
}
ssize_t next_writev(int fd, const struct iovec *iov, int cnt) {
    return next_symbol<ssize_t (*)(int, const struct iovec *, int)>(g_writev, "writev")(
        fd, iov, cnt);
}
ssize_t next_pread(int fd, void *buf, size_t n, off_t off) {
    return next_symbol<ssize_t (*)(int, void *, size_t, off_t)>(g_pread, "pread")(
        fd, buf, n, off);
}
ssize_t next_pwrite(int fd, const void *buf, size_t n, off_t off) {
    return next_symbol<ssize_t (*)(int, const void *, size_t, off_t)>(g_pwrite,
                                                                      "pwrite")(
        fd, buf, n, off);
}
ssize_t next_preadv(int fd, const struct iovec *iov, int cnt, off_t off) {
    return next_symbol<ssize_t (*)(int, const struct iovec *, int, off_t)>(
        g_preadv, "preadv")(fd, iov, cnt, off);
}
ssize_t next_pwritev(int fd, const struct iovec *iov, int cnt, off_t off) {
    return next_symbol<ssize_t (*)(int, const struct iovec *, int, off_t)>(
        g_pwritev, "pwritev")(fd, iov, cnt, off);
}

// The offset of readv and writev, for preadv2/pwritev2: the file offset.
constexpr off_t kFileOffset = -1;

// readv (kFileOffset) and preadv (off >= 0).
ssize_t ctx_readv(int fd, const struct iovec *iov, int cnt, off_t off,
                  const void *caller) {
    auto plain = [&] {
        return off == kFileOffset ? next_readv(fd, iov, cnt)
                                  : next_preadv(fd, iov, cnt, off);
    };
    return read_call(
        fd, caller, [&] { return preadv2(fd, iov, cnt, off, RWF_NOWAIT); }, plain);
}

ssize_t ctx_pread(int fd, void *buf, size_t n, off_t off, const void *caller) {
    if (off < 0) return next_pread(fd, buf, n, off);
    struct iovec iov = {buf, n};
    return read_call(
        fd, caller, [&] { return preadv2(fd, &iov, 1, off, RWF_NOWAIT); },
        [&] { return next_pread(fd, buf, n, off); });
}

// writev (kFileOffset) and pwritev (off >= 0): the rest after a partial
// transfer goes at off + done (or the file offset, which the kernel
// advanced).
ssize_t ctx_writev(int fd, const struct iovec *iov, int cnt, off_t off,
                   const void *caller) {
    auto at = [off](size_t done) {
        return off == kFileOffset ? off : off + off_t(done);
    };
    IovRest rest(iov, static_cast<size_t>(cnt));
    return write_call(
        fd, caller, [&] { return rest.total(); },
        [&](size_t done) {
            IovRest::Part p = rest.after(done);
            return pwritev2(fd, p.iov, int(p.cnt), at(done), RWF_NOWAIT);
        },
        [&](size_t done) {
            IovRest::Part p = rest.after(done);
            return off == kFileOffset ? next_writev(fd, p.iov, int(p.cnt))
                             : next_pwritev(fd, p.iov, int(p.cnt), at(done));
        });
}

ssize_t ctx_pwrite(int fd, const void *buf, size_t n, off_t off, const void *caller) {
    if (off < 0) return next_pwrite(fd, buf, n, off);
    const char *p = static_cast<const char *>(buf);
    return write_call(
        fd, caller, [n] { return n; },
        [&](size_t done) {
            struct iovec iov = {const_cast<char *>(p + done), n - done};
            return pwritev2(fd, &iov, 1, off + off_t(done), RWF_NOWAIT);
        },
        [&](size_t done) { return next_pwrite(fd, p + done, n - done, off + off_t(done)); });
}

}  // namespace
}  // namespace lithe_pthread

using namespace lithe_pthread;

#define LITHE_CALLER __builtin_return_address(0)
#define LITHE_EXPORT extern "C" __attribute__((visibility("default")))

// off_t is 64 bits here, so the LFS names are the same calls (as in glibc).
static_assert(sizeof(off_t) == 8);

LITHE_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt) {
    if (io_passes_through()) return next_readv(fd, iov, cnt);
    return ctx_readv(fd, iov, cnt, kFileOffset, LITHE_CALLER);
}

LITHE_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt) {
    if (io_passes_through()) return next_writev(fd, iov, cnt);
    return ctx_writev(fd, iov, cnt, kFileOffset, LITHE_CALLER);
}

// pread and pwrite (`B`: their buffer type), and their LFS names.
#define LITHE_POSITIONAL(name, B, next, ctx)                         \
    LITHE_EXPORT ssize_t name(int fd, B buf, size_t n, off_t off) {  \
        if (io_passes_through()) return next(fd, buf, n, off);       \
        return ctx(fd, buf, n, off, LITHE_CALLER);                   \
    }
LITHE_POSITIONAL(pread, void *, next_pread, ctx_pread)
LITHE_POSITIONAL(pread64, void *, next_pread, ctx_pread)
LITHE_POSITIONAL(pwrite, const void *, next_pwrite, ctx_pwrite)
LITHE_POSITIONAL(pwrite64, const void *, next_pwrite, ctx_pwrite)

#define LITHE_PREAD_CHK(name)                                               \
    LITHE_EXPORT ssize_t name(int fd, void *buf, size_t n, off_t off,       \
                              size_t buflen) {                              \
        if (n > buflen) __chk_fail();                                       \
        if (io_passes_through()) return next_pread(fd, buf, n, off);        \
        return ctx_pread(fd, buf, n, off, LITHE_CALLER);                    \
    }
LITHE_PREAD_CHK(__pread_chk)
LITHE_PREAD_CHK(__pread64_chk)

// preadv and pwritev, and their LFS names.
#define LITHE_POSITIONAL_V(name, next, ctx)                                         \
    LITHE_EXPORT ssize_t name(int fd, const struct iovec *iov, int cnt, off_t off) { \
        if (io_passes_through() || off < 0) return next(fd, iov, cnt, off);         \
        return ctx(fd, iov, cnt, off, LITHE_CALLER);                                \
    }
LITHE_POSITIONAL_V(preadv, next_preadv, ctx_readv)
LITHE_POSITIONAL_V(preadv64, next_preadv, ctx_readv)
LITHE_POSITIONAL_V(pwritev, next_pwritev, ctx_writev)
LITHE_POSITIONAL_V(pwritev64, next_pwritev, ctx_writev)
