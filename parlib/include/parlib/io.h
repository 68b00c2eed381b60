/* parlib/io.h: user-level blocking I/O (thesis §2.4.1).
 *
 * Called from a uthread, each function blocks only the uthread when the fd
 * is not ready: the uthread is parked in user space, parlib's I/O service
 * (epoll) watches the fd and posts an EV_IO event when it becomes ready, and
 * the uthread retries. The vcore keeps running other uthreads meanwhile.
 * The fd's O_NONBLOCK flag is neither required nor changed (except briefly
 * for connect). Called from any other thread they behave exactly like the
 * plain libc calls. Return values and errno are those of the libc calls.
 *
 * Who sees the fd become ready: a vcore with nothing to run polls epoll
 * itself while it spins (PARLIB_SPIN_US), so a uthread's wake-up then costs
 * no kernel thread wake-up; the service thread covers the rest (every vcore
 * busy or parked). uth_io_stats counts both.
 */
#ifndef PARLIB_IO_H
#define PARLIB_IO_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Waits until `fd` has any of `events` (POLLIN/POLLOUT/...) or timeout_us
 * passes (-1 = no timeout). Returns the ready events, 0 on timeout, or
 * -errno. */
int uth_wait_fd(int fd, short events, int64_t timeout_us);

ssize_t uth_read(int fd, void *buf, size_t n);
ssize_t uth_write(int fd, const void *buf, size_t n);
int uth_accept(int fd, struct sockaddr *addr, socklen_t *len);
int uth_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int uth_connect(int fd, const struct sockaddr *addr, socklen_t len);
ssize_t uth_send(int fd, const void *buf, size_t n, int flags);
ssize_t uth_recv(int fd, void *buf, size_t n, int flags);

/* Process-wide counts since start: uthread waits that blocked (the fd was
 * not ready at once), and the readiness reports that ended them, by who
 * took the report from epoll. Reports that found their waiter already gone
 * (timed out) are not counted. */
struct uth_io_stats {
    uint64_t blocked;
    uint64_t woken_by_service;    /* the service thread */
    uint64_t woken_by_idle_vcore; /* a spinning vcore (io_poll_idle) */
};
void uth_io_stats(struct uth_io_stats *out);

#ifdef __cplusplus
}
#endif
#endif
