// offloaded_calls.cpp: blocking calls that have no non-blocking form
// parlib's I/O service could wait on. From a lithe context that may switch
// they run on a parlib helper thread (uth_offload, parlib/offload.h) while
// the context blocks and its hart runs other work; every other caller, a
// call that cannot block, and a call made by lithe itself
// (internal_caller.hpp) get the libc call unchanged.
//
//   wait, waitpid, wait3, wait4, waitid  unless WNOHANG or __WNOTHREAD
//   flock                                unless LOCK_NB or LOCK_UN
//   lockf, lockf64                       F_LOCK only
//   sendfile, sendfile64                 unless out_fd is O_NONBLOCK or a
//                                        regular file, block device, ...
//   splice, tee, vmsplice                unless SPLICE_F_NONBLOCK
//   msgsnd, msgrcv                       unless IPC_NOWAIT
//   semop, semtimedop                    unless every operation has
//                                        IPC_NOWAIT
//
// What changes for the caller: the call is made by another kernel thread of
// the process. None of these calls depends on which one: any thread may
// wait for any child of its process (unless __WNOTHREAD, which stays
// plain), record locks belong to the process and flock / OFD locks to the
// open file. No signal interrupts the call (contexts never take signals:
// docs/pthread.md). A call that would not have blocked pays a hand-off to
// a helper and back (tens of µs).
//
// Runs in the caller's context; no state but the cached libc addresses.
#include <parlib/offload.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/sendfile.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>

#include "../../common/may_switch.hpp"
#include "../../common/next_symbol.hpp"
#include "internal_caller.hpp"
#include "io_wait.hpp"

namespace lithe_pthread {
namespace {

using lithe_adapters::next_symbol;

// The libc definition of `name`, cached in a static of the calling
// interposer.
#define LIBC(name)                                              \
    static std::atomic<void *> cache_##name{nullptr};           \
    auto libc_##name = next_symbol<decltype(&::name)>(cache_##name, #name)

// Makes `call` (a lambda returning the libc call's result) on a helper if
// the caller may switch and is not lithe itself, else here.
template <class R, class Call>
R offloaded(const void *caller, Call call) {
    if (!lithe_adapters::may_switch_context() || called_by_lithe(caller))
        return call();
    return static_cast<R>(uth_offload(
        [](void *p) -> long { return static_cast<long>((*static_cast<Call *>(p))()); },
        &call));
}

bool sendfile_may_block(int out_fd) {
    return !nonblocking(out_fd) && classify(out_fd) != FdClass::kPlain;
}

bool semops_may_block(const struct sembuf *sops, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (!(sops[i].sem_flg & IPC_NOWAIT)) return true;
    return false;
}

}  // namespace
}  // namespace lithe_pthread

using namespace lithe_pthread;

#define LITHE_CALLER __builtin_return_address(0)
#define LITHE_EXPORT __attribute__((visibility("default")))

extern "C" {

LITHE_EXPORT pid_t waitpid(pid_t pid, int *status, int options) {
    LIBC(waitpid);
    if (options & (WNOHANG | __WNOTHREAD)) return libc_waitpid(pid, status, options);
    return offloaded<pid_t>(LITHE_CALLER,
                            [&] { return libc_waitpid(pid, status, options); });
}

LITHE_EXPORT pid_t wait(int *status) {
    LIBC(waitpid);
    return offloaded<pid_t>(LITHE_CALLER, [&] { return libc_waitpid(-1, status, 0); });
}

LITHE_EXPORT pid_t wait4(pid_t pid, int *status, int options, struct rusage *ru) {
    LIBC(wait4);
    if (options & (WNOHANG | __WNOTHREAD)) return libc_wait4(pid, status, options, ru);
    return offloaded<pid_t>(LITHE_CALLER,
                            [&] { return libc_wait4(pid, status, options, ru); });
}

LITHE_EXPORT pid_t wait3(int *status, int options, struct rusage *ru) {
    LIBC(wait4);
    if (options & (WNOHANG | __WNOTHREAD)) return libc_wait4(-1, status, options, ru);
    return offloaded<pid_t>(LITHE_CALLER,
                            [&] { return libc_wait4(-1, status, options, ru); });
}

LITHE_EXPORT int waitid(idtype_t idtype, id_t id, siginfo_t *info, int options) {
    LIBC(waitid);
    if (options & (WNOHANG | __WNOTHREAD)) return libc_waitid(idtype, id, info, options);
    return offloaded<int>(LITHE_CALLER,
                          [&] { return libc_waitid(idtype, id, info, options); });
}

LITHE_EXPORT int flock(int fd, int op) {
    LIBC(flock);
    if (op & (LOCK_NB | LOCK_UN)) return libc_flock(fd, op);
    return offloaded<int>(LITHE_CALLER, [&] { return libc_flock(fd, op); });
}

LITHE_EXPORT int lockf(int fd, int cmd, off_t len) {
    LIBC(lockf);
    if (cmd != F_LOCK) return libc_lockf(fd, cmd, len);
    return offloaded<int>(LITHE_CALLER, [&] { return libc_lockf(fd, cmd, len); });
}

LITHE_EXPORT int lockf64(int fd, int cmd, off64_t len) {
    LIBC(lockf64);
    if (cmd != F_LOCK) return libc_lockf64(fd, cmd, len);
    return offloaded<int>(LITHE_CALLER, [&] { return libc_lockf64(fd, cmd, len); });
}

LITHE_EXPORT ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count) {
    LIBC(sendfile);
    if (!sendfile_may_block(out_fd)) return libc_sendfile(out_fd, in_fd, offset, count);
    return offloaded<ssize_t>(LITHE_CALLER,
                              [&] { return libc_sendfile(out_fd, in_fd, offset, count); });
}

LITHE_EXPORT ssize_t sendfile64(int out_fd, int in_fd, off64_t *offset, size_t count) {
    LIBC(sendfile64);
    if (!sendfile_may_block(out_fd))
        return libc_sendfile64(out_fd, in_fd, offset, count);
    return offloaded<ssize_t>(
        LITHE_CALLER, [&] { return libc_sendfile64(out_fd, in_fd, offset, count); });
}

LITHE_EXPORT ssize_t splice(int fd_in, off64_t *off_in, int fd_out, off64_t *off_out,
                            size_t len, unsigned int flags) {
    LIBC(splice);
    if (flags & SPLICE_F_NONBLOCK)
        return libc_splice(fd_in, off_in, fd_out, off_out, len, flags);
    return offloaded<ssize_t>(LITHE_CALLER, [&] {
        return libc_splice(fd_in, off_in, fd_out, off_out, len, flags);
    });
}

LITHE_EXPORT ssize_t tee(int fd_in, int fd_out, size_t len, unsigned int flags) {
    LIBC(tee);
    if (flags & SPLICE_F_NONBLOCK) return libc_tee(fd_in, fd_out, len, flags);
    return offloaded<ssize_t>(LITHE_CALLER,
                              [&] { return libc_tee(fd_in, fd_out, len, flags); });
}

LITHE_EXPORT ssize_t vmsplice(int fd, const struct iovec *iov, size_t n,
                              unsigned int flags) {
    LIBC(vmsplice);
    if (flags & SPLICE_F_NONBLOCK) return libc_vmsplice(fd, iov, n, flags);
    return offloaded<ssize_t>(LITHE_CALLER,
                              [&] { return libc_vmsplice(fd, iov, n, flags); });
}

LITHE_EXPORT int msgsnd(int id, const void *msg, size_t size, int flags) {
    LIBC(msgsnd);
    if (flags & IPC_NOWAIT) return libc_msgsnd(id, msg, size, flags);
    return offloaded<int>(LITHE_CALLER, [&] { return libc_msgsnd(id, msg, size, flags); });
}

LITHE_EXPORT ssize_t msgrcv(int id, void *msg, size_t size, long type, int flags) {
    LIBC(msgrcv);
    if (flags & IPC_NOWAIT) return libc_msgrcv(id, msg, size, type, flags);
    return offloaded<ssize_t>(LITHE_CALLER,
                              [&] { return libc_msgrcv(id, msg, size, type, flags); });
}

LITHE_EXPORT int semop(int id, struct sembuf *sops, size_t n) {
    LIBC(semop);
    if (!semops_may_block(sops, n)) return libc_semop(id, sops, n);
    return offloaded<int>(LITHE_CALLER, [&] { return libc_semop(id, sops, n); });
}

LITHE_EXPORT int semtimedop(int id, struct sembuf *sops, size_t n,
                            const struct timespec *timeout) {
    LIBC(semtimedop);
    if (!semops_may_block(sops, n)) return libc_semtimedop(id, sops, n, timeout);
    return offloaded<int>(LITHE_CALLER,
                          [&] { return libc_semtimedop(id, sops, n, timeout); });
}

}  // extern "C"
