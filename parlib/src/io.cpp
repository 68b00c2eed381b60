// io.cpp: user-level blocking I/O (io.h) on the service thread's epoll.
//
// Fd records: one FdRecord per fd number, in a two-level table of chunks
// that are allocated on first use and never freed (epoll hands the service
// thread raw record pointers). A record lists the uthreads waiting on its fd
// (IoWaiter, on the waiting uthread's stack) and registers the union of
// their interests with epoll as EPOLLONESHOT, so a reader and a writer can
// wait on one fd at once and each readiness report is consumed once.
// Record fields are guarded by the record's spinlock, which is taken only in
// vcore context and on the service thread, never by a running uthread. Lock
// order: a record's lock, then a vcore's alarm lock (watch_for_stand_in).
// g_waiters counts linked waiters (changed under their record's lock) so
// that idle vcores poll epoll only while someone waits (service.hpp).
//
// One wait (block_on_fd) of a uthread that blocks on vcore V:
//   uthread  fills an IoWaiter and calls uthread_yield(io_block)
//   io_block (vcore context on V) links the waiter, arms epoll, starts the
//            timeout alarm (delivered to V), reports the uthread blocked
//   poller   on readiness (the service thread, or an idle vcore spinning
//            in vcore_yield) unlinks the matching waiters and sends each
//            its EV_IO, to V (and, unless the poller is V, has V's timer
//            check that V's uthread does not sleep in the kernel meanwhile,
//            else a stand-in runs it: alarm.cpp)
//   V        the EV_IO handler or the timeout callback makes it runnable
// Both completions go to V and run only after io_block returned, so the
// scheduler always hears "blocked" before "runnable" (the timeout may run
// on a stand-in vcore instead, but only once V runs a uthread again, i.e.
// after io_block: alarm.cpp). Exactly one of (ready, timeout) wins: whoever
// unlinks the waiter under the record lock. If ready wins while the timeout
// alarm is already firing (stop_alarm false), both the EV_IO handler and the
// alarm callback still touch the waiter, so the later of the two resumes
// the uthread (IoWaiter::pending, atomic: the two may run on two vcores).
//
// The I/O calls first try the operation without blocking (RWF_NOWAIT for
// read/write, MSG_DONTWAIT for send/recv, poll for accept and for fds that
// do not support RWF_NOWAIT) and wait only when it would block. The fd's
// O_NONBLOCK flag is only changed around connect() (see uth_connect).
#include "parlib/io.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "parlib/alarm.h"
#include "parlib/uthread.h"
#include "parlib/vcore.h"
#include "service.hpp"
#include "spin.hpp"
#include "vcore_internal.hpp"

namespace parlib {
namespace {

struct IoWaiter;

struct FdRecord {
    SpinLock lock;
    int fd = -1;
    // epoll has (or had: close() drops it silently) an entry for this fd.
    bool registered = false;
    IoWaiter *head = nullptr;
};

struct IoWaiter {
    FdRecord *rec = nullptr;
    uthread *u = nullptr;
    uint32_t events = 0;   // epoll interest, EPOLLERR | EPOLLHUP included
    uint32_t revents = 0;  // what woke it (0: timeout)
    int err = 0;           // -errno when epoll refused the fd
    int vcoreid = -1;      // where it blocked: completions are sent there
    // Completions to see before it may run again. Atomic: the timeout's
    // callback runs on another vcore if V slept in the kernel (alarm.cpp).
    std::atomic<int> pending{1};
    bool timed = false;
    bool linked = false;  // in rec's list (rec->lock)
    IoWaiter *prev = nullptr, *next = nullptr;
    alarm_waiter timeout;
    event_msg ev{};
};

constexpr int kChunkBits = 10;
constexpr int kChunkSize = 1 << kChunkBits;
constexpr int kChunks = 4096;  // fds below 4 Mi; the kernel's nr_open is 1 Mi
std::atomic<FdRecord *> g_chunks[kChunks];
std::atomic<int> g_waiters{0};
// uth_io_stats's counters (relaxed: statistics only).
std::atomic<uint64_t> g_blocked{0}, g_by_service{0}, g_by_idle{0};

FdRecord *record_for(int fd) {
    auto c = static_cast<unsigned>(fd) >> kChunkBits;
    if (c >= kChunks) return nullptr;
    FdRecord *chunk = g_chunks[c].load(std::memory_order_acquire);
    if (!chunk) {
        auto *fresh = new FdRecord[kChunkSize];
        for (int i = 0; i < kChunkSize; ++i)
            fresh[i].fd = static_cast<int>(c << kChunkBits) + i;
        if (g_chunks[c].compare_exchange_strong(chunk, fresh,
                                                std::memory_order_acq_rel))
            chunk = fresh;
        else
            delete[] fresh;
    }
    return &chunk[fd & (kChunkSize - 1)];
}

// ---- record operations (rec->lock held) ----
void link(FdRecord *r, IoWaiter *w) {
    w->prev = nullptr;
    w->next = r->head;
    if (r->head) r->head->prev = w;
    r->head = w;
    w->linked = true;
    g_waiters.fetch_add(1, std::memory_order_relaxed);
}

void unlink(FdRecord *r, IoWaiter *w) {
    if (w->prev)
        w->prev->next = w->next;
    else
        r->head = w->next;
    if (w->next) w->next->prev = w->prev;
    w->linked = false;
    g_waiters.fetch_sub(1, std::memory_order_relaxed);
}

int ctl(int op, int fd, uint32_t events, FdRecord *r) {
    epoll_event e{};
    e.events = events;
    e.data.ptr = r;
    return epoll_ctl(service_epoll_fd(), op, fd, &e) == 0 ? 0 : -errno;
}

// (Re-)arms the one-shot registration for the waiters' union. MOD/ADD fall
// back to each other because close() removes entries behind our back.
int arm(FdRecord *r) {
    uint32_t ev = EPOLLONESHOT;
    for (IoWaiter *w = r->head; w; w = w->next) ev |= w->events;
    int op = r->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    int rc = ctl(op, r->fd, ev, r);
    if (rc == -ENOENT && op == EPOLL_CTL_MOD)
        rc = ctl(EPOLL_CTL_ADD, r->fd, ev, r);
    else if (rc == -EEXIST && op == EPOLL_CTL_ADD)
        rc = ctl(EPOLL_CTL_MOD, r->fd, ev, r);
    r->registered = rc == 0;
    return rc;
}

// Hands every remaining waiter `err` (its fd can no longer be watched).
void fail_all(FdRecord *r, int err) {
    while (IoWaiter *w = r->head) {
        unlink(r, w);
        w->err = err;
        int to = w->vcoreid;  // w may be gone once its event is sent
        send_event(&w->ev, EV_IO, to, EVENT_WAKEUP);
        watch_for_stand_in(to);
    }
}

// After a waiter left early: keep the registration only for the others.
void rearm_or_drop(FdRecord *r) {
    if (r->head) {
        if (int rc = arm(r); rc < 0) fail_all(r, rc);
    } else if (r->registered) {
        ctl(EPOLL_CTL_DEL, r->fd, 0, r);
        r->registered = false;
    }
}

// ---- completions (vcore context on the waiter's vcore) ----
void finish(IoWaiter *w) {
    uthread *u = w->u;
    if (w->pending.fetch_sub(1, std::memory_order_acq_rel) == 1)
        uthread_runnable(u);
}

void io_timeout(alarm_waiter *a) {
    auto *w = static_cast<IoWaiter *>(a->data);
    FdRecord *r = w->rec;
    r->lock.lock();
    if (w->linked) {
        unlink(r, w);
        rearm_or_drop(r);
        r->lock.unlock();
        uthread_runnable(w->u);  // revents stays 0: timed out
        return;
    }
    r->lock.unlock();
    finish(w);  // readiness won; its EV_IO is queued here or was handled
}

// uthread_yield callback: vcore context, the uthread is saved.
void io_block(uthread *u, void *arg) {
    auto *w = static_cast<IoWaiter *>(arg);
    FdRecord *r = w->rec;
    w->u = u;
    w->vcoreid = vcore_id();
    r->lock.lock();
    link(r, w);
    if (int rc = arm(r); rc < 0) {
        unlink(r, w);
        r->lock.unlock();
        w->err = rc;
        run_uthread(u);  // the scheduler never heard u block (offload.cpp)
    }
    r->lock.unlock();
    g_blocked.fetch_add(1, std::memory_order_relaxed);
    if (w->timed) {
        w->timeout.vcoreid = w->vcoreid;
        start_alarm(&w->timeout);
    }
    const schedule_ops *ops = uthread_sched_ops();
    if (ops->thread_blockon_io)
        ops->thread_blockon_io(u, r->fd);
    else
        uthread_has_blocked(u, UTH_BLK_IO);
}

constexpr uint32_t kPollMask = POLLIN | POLLPRI | POLLOUT | POLLRDNORM |
                               POLLRDBAND | POLLWRNORM | POLLWRBAND | POLLMSG |
                               POLLRDHUP;

// From a uthread: blocks it until `fd` has one of `events` (poll bits,
// which equal the epoll bits) or timeout_us (-1: none) passes. Returns the
// ready events (with EPOLLERR / EPOLLHUP), 0 on timeout, or -errno.
int block_on_fd(int fd, short events, int64_t timeout_us) {
    service_start();
    FdRecord *r = record_for(fd);
    if (!r) return -EMFILE;
    IoWaiter w;
    w.rec = r;
    w.events =
        (static_cast<uint16_t>(events) & kPollMask) | EPOLLERR | EPOLLHUP;
    w.ev.arg = &w;
    if (timeout_us >= 0) {
        w.timed = true;
        w.pending = 2;
        init_waiter(&w.timeout, io_timeout);
        w.timeout.data = &w;
        set_waiter_rel(&w.timeout, static_cast<uint64_t>(timeout_us));
    }
    uthread_yield(true, io_block, &w);
    return w.err ? w.err : static_cast<int>(w.revents);
}

// Non-blocking poll: revents, 0 if not ready, or -errno. Even a zero
// timeout returns EINTR when a signal (a vcore's notification or alarm
// timer) arrives during the call; that is no answer, so ask again.
int poll_now(int fd, short events) {
    struct pollfd p = {fd, events, 0};
    struct timespec zero = {0, 0};
    int n;
    do {
        n = ppoll(&p, 1, &zero, nullptr);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    if (n == 0) return 0;
    return (p.revents & POLLNVAL) ? -EBADF : p.revents;
}

// A kernel wait for callers that are not uthreads.
int poll_kernel(int fd, short events, int64_t timeout_us) {
    uint64_t deadline =
        timeout_us >= 0 ? parlib_now_us() + static_cast<uint64_t>(timeout_us)
                        : 0;
    for (;;) {
        struct pollfd p = {fd, events, 0};
        struct timespec ts, *tsp = nullptr;
        if (timeout_us >= 0) {
            uint64_t now = parlib_now_us();
            uint64_t left = deadline > now ? deadline - now : 0;
            ts.tv_sec = static_cast<time_t>(left / 1000000);
            ts.tv_nsec = static_cast<long>(left % 1000000) * 1000;
            tsp = &ts;
        }
        int n = ppoll(&p, 1, tsp, nullptr);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -errno;
        if (n == 0) return 0;
        return (p.revents & POLLNVAL) ? -EBADF : p.revents;
    }
}

// Blocks the uthread until the fd is ready, then runs `op` (a libc call),
// for fds whose calls cannot be made non-blocking per call. An fd epoll
// refuses (EPERM: regular files and the like) is always "ready": op runs
// and may block the kernel thread, as disk I/O does anyway.
template <class Op>
auto when_ready(int fd, short events, Op op) -> decltype(op()) {
    for (;;) {
        if (poll_now(fd, events) != 0) {  // ready, or an error op reports
            auto r = op();
            // EAGAIN: an O_NONBLOCK fd whose readiness someone else took.
            if (r >= 0 || errno != EAGAIN) return r;
        }
        int w = block_on_fd(fd, events, -1);
        if (w == -EPERM) return op();
        if (w < 0) {
            errno = -w;
            return -1;
        }
    }
}

// Waits after an attempt said "would block". Returns 0 to retry, 1 if the
// fd cannot be polled (the caller falls back to the plain call), or -1 with
// errno set.
int await(int fd, short events) {
    int w = block_on_fd(fd, events, -1);
    if (w >= 0) return 0;
    if (w == -EPERM) return 1;
    errno = -w;
    return -1;
}

bool nowait_unsupported(int e) { return e == EOPNOTSUPP || e == EINVAL; }

}  // namespace

void io_ready(void *record, uint32_t events) {
    auto *r = static_cast<FdRecord *>(record);
    auto &woken = tls_vcore ? g_by_idle : g_by_service;
    SpinGuard g(r->lock);
    for (IoWaiter *w = r->head, *next; w; w = next) {
        next = w->next;  // w may be gone once its event is sent
        if (!(w->events & events)) continue;
        unlink(r, w);
        woken.fetch_add(1, std::memory_order_relaxed);
        w->revents = events & w->events;
        int to = w->vcoreid;
        send_event(&w->ev, EV_IO, to, EVENT_WAKEUP);
        // An idle vcore polling for its own waiter handles the event next.
        if (tls_vcore != &g_vcores[to]) watch_for_stand_in(to);
    }
    // The one-shot entry is disarmed now; only re-arm for those left.
    if (r->head) {
        if (int rc = arm(r); rc < 0) fail_all(r, rc);
    }
}

int io_waiters() { return g_waiters.load(std::memory_order_relaxed); }

void io_event_handler(event_msg *msg, unsigned, void *) {
    auto *w = static_cast<IoWaiter *>(msg->arg);
    if (!w->timed || stop_alarm(&w->timeout)) {
        uthread_runnable(w->u);
        return;
    }
    finish(w);  // the timeout is firing too: the later of us resumes
}

}  // namespace parlib

using namespace parlib;

extern "C" {

int uth_wait_fd(int fd, short events, int64_t timeout_us) {
    if (fd < 0) return -EBADF;
    if (!uthread_self()) return poll_kernel(fd, events, timeout_us);
    if (int q = poll_now(fd, events); q != 0) return q;
    if (timeout_us == 0) return 0;
    int r = block_on_fd(fd, events, timeout_us < 0 ? -1 : timeout_us);
    return r < 0 ? r : r & (static_cast<uint16_t>(events) | POLLERR | POLLHUP);
}

void uth_io_stats(struct uth_io_stats *out) {
    out->blocked = g_blocked.load(std::memory_order_relaxed);
    out->woken_by_service = g_by_service.load(std::memory_order_relaxed);
    out->woken_by_idle_vcore = g_by_idle.load(std::memory_order_relaxed);
}

ssize_t uth_read(int fd, void *buf, size_t n) {
    if (!uthread_self()) return read(fd, buf, n);
    struct iovec iov = {buf, n};
    for (;;) {
        ssize_t r = preadv2(fd, &iov, 1, -1, RWF_NOWAIT);
        if (r >= 0) return r;
        if (nowait_unsupported(errno))
            return when_ready(fd, POLLIN, [&] { return read(fd, buf, n); });
        if (errno != EAGAIN) return -1;
        if (int a = await(fd, POLLIN); a != 0)
            return a > 0 ? read(fd, buf, n) : -1;
    }
}

// Like a blocking write: returns once all `n` bytes are written (or an
// error stops it; then the count so far, if any).
ssize_t uth_write(int fd, const void *buf, size_t n) {
    if (!uthread_self()) return write(fd, buf, n);
    const char *p = static_cast<const char *>(buf);
    size_t done = 0;
    for (;;) {
        struct iovec iov = {const_cast<char *>(p + done), n - done};
        auto plain = [&] { return write(fd, p + done, n - done); };
        ssize_t r = pwritev2(fd, &iov, 1, -1, RWF_NOWAIT);
        if (r < 0 && nowait_unsupported(errno)) {
            r = when_ready(fd, POLLOUT, plain);
        } else if (r < 0 && errno == EAGAIN) {
            int a = await(fd, POLLOUT);
            if (a == 0) continue;
            r = a > 0 ? plain() : -1;
        }
        if (r < 0) return done ? static_cast<ssize_t>(done) : -1;
        done += static_cast<size_t>(r);
        if (done == n || r == 0) return static_cast<ssize_t>(done);
    }
}

int uth_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
    if (!uthread_self()) return accept4(fd, addr, len, flags);
    return when_ready(fd, POLLIN,
                      [&] { return accept4(fd, addr, len, flags); });
}

int uth_accept(int fd, struct sockaddr *addr, socklen_t *len) {
    if (!uthread_self()) return accept(fd, addr, len);
    return when_ready(fd, POLLIN, [&] { return accept(fd, addr, len); });
}

// A blocking connect would hold the kernel thread for the whole handshake,
// and there is no per-call "don't wait" flag for it: O_NONBLOCK is set
// around the connect() call only, then the uthread waits for POLLOUT and
// reads SO_ERROR. Another thread changing the fd's flags at the same moment
// could be undone by the restore.
int uth_connect(int fd, const struct sockaddr *addr, socklen_t len) {
    if (!uthread_self()) return connect(fd, addr, len);
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return -1;
    for (;;) {
        if (!(fl & O_NONBLOCK)) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        int r = connect(fd, addr, len);
        int e = errno;
        if (!(fl & O_NONBLOCK)) fcntl(fd, F_SETFL, fl);
        if (r == 0) return 0;
        if (e == EAGAIN && addr && addr->sa_family == AF_UNIX) {
            // The listener's backlog is full and nothing can be polled for
            // it: retry as the kernel's blocking connect would wait.
            uth_sleep_us(1000);
            continue;
        }
        if (e != EINPROGRESS) {
            errno = e;
            return -1;
        }
        int w = uth_wait_fd(fd, POLLOUT, -1);
        if (w < 0) {
            errno = -w;
            return -1;
        }
        int so = 0;
        socklen_t sl = sizeof so;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) < 0) return -1;
        if (so) {
            errno = so;
            return -1;
        }
        return 0;
    }
}

// Like a blocking send: returns once all `n` bytes are queued.
ssize_t uth_send(int fd, const void *buf, size_t n, int flags) {
    if (!uthread_self() || (flags & MSG_DONTWAIT))
        return send(fd, buf, n, flags);
    const char *p = static_cast<const char *>(buf);
    size_t done = 0;
    for (;;) {
        ssize_t r = send(fd, p + done, n - done, flags | MSG_DONTWAIT);
        if (r < 0 && errno == EAGAIN) {
            int a = await(fd, POLLOUT);
            if (a == 0) continue;
            r = a > 0 ? send(fd, p + done, n - done, flags) : -1;
        }
        if (r < 0) return done ? static_cast<ssize_t>(done) : -1;
        done += static_cast<size_t>(r);
        if (done == n || r == 0) return static_cast<ssize_t>(done);
    }
}

// MSG_WAITALL keeps receiving until `n` bytes, EOF or an error, as the
// blocking call does on stream sockets (with MSG_PEEK, or on other socket
// types, it returns after one successful receive, as those do).
ssize_t uth_recv(int fd, void *buf, size_t n, int flags) {
    if (!uthread_self() || (flags & MSG_DONTWAIT))
        return recv(fd, buf, n, flags);
    char *p = static_cast<char *>(buf);
    bool all = (flags & MSG_WAITALL) && !(flags & MSG_PEEK);
    if (all) {
        int type = 0;
        socklen_t tl = sizeof type;
        all = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 &&
              type == SOCK_STREAM;
    }
    size_t done = 0;
    for (;;) {
        ssize_t r = recv(fd, p + done, n - done, flags | MSG_DONTWAIT);
        if (r < 0 && errno == EAGAIN) {
            int a = await(fd, POLLIN);
            if (a == 0) continue;
            r = a > 0 ? recv(fd, p + done, n - done, flags) : -1;
        }
        if (r < 0) return done ? static_cast<ssize_t>(done) : -1;
        done += static_cast<size_t>(r);
        if (!all || done == n || r == 0) return static_cast<ssize_t>(done);
    }
}

}  // extern "C"
