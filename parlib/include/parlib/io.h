/* parlib/io.h: user-level blocking I/O (thesis §2.4.1).
 *
 * Called from a uthread, each function blocks only the uthread when the fd
 * is not ready: the uthread is parked in user space, parlib's I/O service
 * (epoll) watches the fd and posts an EV_IO event when it becomes ready, and
 * the uthread retries. The vcore keeps running other uthreads meanwhile.
 * The fd's O_NONBLOCK flag is neither required nor changed (except briefly
 * for connect). Called from any other thread they behave exactly like the
 * plain libc calls. Return values and errno are those of the libc calls.
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

#ifdef __cplusplus
}
#endif
#endif
