// pthread_io.cpp: blocking I/O, semaphores and rwlocks in an unmodified
// pthreads program; tests/pthread/CMakeLists.txt runs each check without
// the adapter (ref: glibc's own results, which the expectations must match),
// linked with it and preloaded. The semantic checks run inside a pthread
// and in main (with the adapter: lithe contexts, where the calls are
// interposed).
//
//   io_pipe       read/write/__read_chk on pipes: data, errno kept across a
//                 wait, EOF, O_NONBLOCK (EAGAIN), a 1 MiB write to a slow
//                 reader, EPIPE, EBADF, a regular file
//   io_socket     recv/read/send/recvfrom/sendto and the _chk forms on
//                 socketpairs: MSG_WAITALL, MSG_DONTWAIT, SO_RCVTIMEO and
//                 SO_SNDTIMEO (EAGAIN, partial counts), O_NONBLOCK, peer
//                 close (0, EPIPE), ENOTSOCK, datagrams
//   io_accept     accept/accept4/connect: unix and TCP, SOCK_CLOEXEC,
//                 SO_RCVTIMEO, O_NONBLOCK, EINVAL, ENOTSOCK, ECONNREFUSED,
//                 ENOENT, a connect waiting for room in a full unix backlog
//                 (and SO_SNDTIMEO: EAGAIN)
//   io_poll       poll/__poll_chk/epoll_wait: which fd woke, timeouts, a
//                 pollfd-less poll as a sleep, POLLNVAL, one fd twice with
//                 different events, POLLHUP, EBADF, EINVAL
//   io_fork_child poll and read in the child of a fork (one kernel thread,
//                 no vcores) are the kernel's
//   sem           sem_* semantics (EAGAIN, ETIMEDOUT, EINVAL first,
//                 EOVERFLOW, counting, process-shared via glibc)
//   rwlock        pthread_rwlock_* semantics (EBUSY, EDEADLK, ETIMEDOUT,
//                 EINVAL, readers vs writers, writer preference, shared)
//   harts_*       more threads than harts blocked in read (pipes), recv,
//                 accept (on a listener each, or all on one), poll,
//                 epoll_wait, write (a full pipe), sem_wait,
//                 pthread_rwlock_rdlock or std::shared_mutex::lock_shared,
//                 and a compute thread must still finish before any of
//                 them is released: blocked threads do not hold harts. On
//                 the adapter before session 10 the blocked threads held
//                 every hart, which hung: the watchdog turns that into a
//                 failure.
//   stress        a ring of threads passing 1 KiB tokens over small pipes
//                 and sockets (blocked readers and writers), with random
//                 semaphore, rwlock and poll use on the way (STRESS_SEED)
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <shared_mutex>
#include <vector>

#include "named_checks.hpp"
#include "io_test_support.hpp"
#include "pthread_test_support.hpp"

extern "C" {
ssize_t __read_chk(int, void *, size_t, size_t);
ssize_t __recv_chk(int, void *, size_t, size_t, int);
ssize_t __recvfrom_chk(int, void *, size_t, size_t, int, struct sockaddr *,
                       socklen_t *);
int __poll_chk(struct pollfd *, nfds_t, int, size_t);
}

namespace {

using namespace pthread_test;

// --- io_pipe ---
bool io_pipe() {
    int p[2];
    char buf[64];
    CHECK(pipe(p) == 0);
    pthread_t w = later(20, [&] { (void)!write(p[1], "hello", 5); });
    errno = 4321;
    CHECK(read(p[0], buf, sizeof buf) == 5);
    CHECK(std::memcmp(buf, "hello", 5) == 0);
    CHECK(errno == 4321);  // a successful call keeps errno
    join(w);
    w = later(10, [&] { (void)!write(p[1], "abc", 3); });
    CHECK(__read_chk(p[0], buf, 3, sizeof buf) == 3);
    join(w);
    w = later(10, [&] { close(p[1]); });
    CHECK(read(p[0], buf, sizeof buf) == 0);  // EOF when the writer closes
    join(w);
    close(p[0]);

    CHECK(pipe2(p, O_NONBLOCK) == 0);
    CHECK(fails_with(read(p[0], buf, 1), EAGAIN));
    std::vector<char> big(1 << 20);
    ssize_t r;
    while ((r = write(p[1], big.data(), 4096)) > 0) {
    }
    CHECK(fails_with(r, EAGAIN));  // full non-blocking pipe
    close(p[0]);
    close(p[1]);

    // A 1 MiB blocking write to a slow reader: every byte, in order.
    CHECK(pipe(p) == 0);
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 4096);
    std::vector<char> in(big.size());
    size_t got = 0;
    pthread_t rd = spawn([&] {
        while (got < in.size()) {
            ssize_t n = read(p[0], in.data() + got, std::min<size_t>(in.size() - got, 7000));
            if (n <= 0) break;
            got += static_cast<size_t>(n);
            if (got % 3 == 0) usleep(50);
        }
    });
    CHECK(write(p[1], big.data(), big.size()) == static_cast<ssize_t>(big.size()));
    join(rd);
    CHECK(got == big.size() && in == big);
    close(p[0]);
    CHECK(fails_with(write(p[1], "x", 1), EPIPE));  // SIGPIPE is ignored
    close(p[1]);
    CHECK(fails_with(read(-1, buf, 1), EBADF));
    CHECK(fails_with(write(9999, buf, 1), EBADF));

    // A regular file: the plain call, the whole content.
    FILE *f = std::tmpfile();
    CHECK(f != nullptr);
    int fd = fileno(f);
    CHECK(write(fd, big.data(), 100000) == 100000);
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    CHECK(read(fd, in.data(), 100000) == 100000);
    CHECK(std::memcmp(in.data(), big.data(), 100000) == 0);
    std::fclose(f);
    return true;
}

// --- io_socket ---
bool io_socket() {
    int sv[2];
    char buf[64];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    pthread_t w = later(20, [&] { send(sv[1], "ping", 4, 0); });
    errno = 4321;
    CHECK(recv(sv[0], buf, sizeof buf, 0) == 4);
    CHECK(std::memcmp(buf, "ping", 4) == 0 && errno == 4321);
    join(w);
    w = later(10, [&] { (void)!write(sv[1], "r", 1); });
    CHECK(read(sv[0], buf, sizeof buf) == 1);
    join(w);
    w = later(10, [&] {
        send(sv[1], "aa", 2, 0);
        usleep(5000);
        send(sv[1], "bbb", 3, 0);
        usleep(5000);
        send(sv[1], "c", 1, 0);
    });
    CHECK(recv(sv[0], buf, 6, MSG_WAITALL) == 6);  // gathers the pieces
    CHECK(std::memcmp(buf, "aabbbc", 6) == 0);
    join(w);
    w = later(10, [&] { send(sv[1], "chk", 3, 0); });
    CHECK(__recv_chk(sv[0], buf, 3, sizeof buf, 0) == 3);
    join(w);
    CHECK(fails_with(recv(sv[0], buf, 1, MSG_DONTWAIT), EAGAIN));

    // SO_RCVTIMEO: EAGAIN once it passed; MSG_WAITALL returns what came.
    set_timeout(sv[0], SO_RCVTIMEO, 50'000);
    long long t0 = monotonic_ms();
    CHECK(fails_with(read(sv[0], buf, 1), EAGAIN));
    CHECK(monotonic_ms() - t0 >= 45);
    t0 = monotonic_ms();
    CHECK(fails_with(recv(sv[0], buf, 1, 0), EAGAIN));
    CHECK(monotonic_ms() - t0 >= 45);
    w = later(5, [&] { send(sv[1], "xy", 2, 0); });
    CHECK(recv(sv[0], buf, 10, MSG_WAITALL) == 2);
    join(w);
    set_timeout(sv[0], SO_RCVTIMEO, 0);
    set_nonblock(sv[0], true);
    CHECK(fails_with(recv(sv[0], buf, 1, 0), EAGAIN));
    CHECK(fails_with(read(sv[0], buf, 1), EAGAIN));
    set_nonblock(sv[0], false);

    // A 4 MiB send to a slow reader: the whole count.
    std::vector<char> big(4 << 20, 'b'), in(big.size());
    size_t got = 0;
    pthread_t rd = spawn([&] {
        while (got < in.size()) {
            ssize_t n = recv(sv[0], in.data() + got, std::min<size_t>(in.size() - got, 9000), 0);
            if (n <= 0) break;
            got += static_cast<size_t>(n);
        }
    });
    CHECK(send(sv[1], big.data(), big.size(), 0) == static_cast<ssize_t>(big.size()));
    join(rd);
    CHECK(got == big.size());

    // SO_SNDTIMEO on a socket nobody reads: a partial count, then EAGAIN.
    set_timeout(sv[1], SO_SNDTIMEO, 50'000);
    ssize_t part = send(sv[1], big.data(), big.size(), 0);
    CHECK(part > 0 && part < static_cast<ssize_t>(big.size()));
    t0 = monotonic_ms();
    CHECK(fails_with(send(sv[1], big.data(), big.size(), 0), EAGAIN));
    CHECK(monotonic_ms() - t0 >= 45);
    set_nonblock(sv[1], true);  // O_NONBLOCK and full: EAGAIN at once
    CHECK(fails_with(write(sv[1], big.data(), 100), EAGAIN));
    close(sv[0]);
    close(sv[1]);

    // Peer close: EOF, EPIPE.
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    w = later(10, [&] { close(sv[1]); });
    CHECK(recv(sv[0], buf, sizeof buf, 0) == 0);
    join(w);
    CHECK(fails_with(send(sv[0], "x", 1, MSG_NOSIGNAL), EPIPE));
    close(sv[0]);
    int p[2];
    CHECK(pipe(p) == 0);
    CHECK(fails_with(recv(p[0], buf, 1, 0), ENOTSOCK));
    CHECK(fails_with(send(p[1], buf, 1, 0), ENOTSOCK));
    close(p[0]);
    close(p[1]);

    // Datagrams: recvfrom/sendto, one datagram per call even with WAITALL.
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);
    w = later(10, [&] {
        sendto(sv[1], "dgram", 5, 0, nullptr, 0);
        sendto(sv[1], "two", 3, 0, nullptr, 0);
    });
    struct sockaddr_un from;
    socklen_t fl = sizeof from;
    CHECK(recvfrom(sv[0], buf, sizeof buf, MSG_WAITALL,
                   reinterpret_cast<struct sockaddr *>(&from), &fl) == 5);
    CHECK(std::memcmp(buf, "dgram", 5) == 0);
    fl = sizeof from;
    CHECK(__recvfrom_chk(sv[0], buf, sizeof buf, sizeof buf, 0,
                         reinterpret_cast<struct sockaddr *>(&from), &fl) == 3);
    join(w);
    close(sv[0]);
    close(sv[1]);
    return true;
}

// --- io_accept ---
bool io_accept() {
    struct sockaddr_un a;
    socklen_t alen;
    char buf[8];
    int l = unix_listener("accept", &a, &alen);
    CHECK(l >= 0);
    pthread_t w = later(20, [&] {
        int c = unix_connect(a, alen);
        send(c, "hi", 2, 0);
        close(c);
    });
    errno = 4321;
    int s = accept(l, nullptr, nullptr);
    CHECK(s >= 0 && errno == 4321);
    CHECK(recv(s, buf, sizeof buf, MSG_WAITALL) == 2);
    join(w);
    close(s);
    w = later(10, [&] { close(unix_connect(a, alen)); });
    s = accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
    CHECK(s >= 0 && (fcntl(s, F_GETFD) & FD_CLOEXEC));
    join(w);
    close(s);
    set_timeout(l, SO_RCVTIMEO, 50'000);
    long long t0 = monotonic_ms();
    CHECK(fails_with(accept(l, nullptr, nullptr), EAGAIN));
    CHECK(monotonic_ms() - t0 >= 45);
    set_timeout(l, SO_RCVTIMEO, 0);
    set_nonblock(l, true);
    CHECK(fails_with(accept(l, nullptr, nullptr), EAGAIN));
    close(l);
    int u = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(fails_with(accept(u, nullptr, nullptr), EINVAL));  // not listening
    close(u);
    int p[2];
    CHECK(pipe(p) == 0);
    CHECK(fails_with(accept(p[0], nullptr, nullptr), ENOTSOCK));
    close(p[0]);
    close(p[1]);

    // A full unix backlog: a blocking connect waits until an accept makes
    // room (or SO_SNDTIMEO passes: EAGAIN).
    l = unix_listener("backlog", &a, &alen);
    CHECK(l >= 0);
    std::vector<int> queued;
    for (;;) {
        int q = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (connect(q, reinterpret_cast<struct sockaddr *>(&a), alen) != 0) {
            CHECK(errno == EAGAIN);
            close(q);
            break;
        }
        queued.push_back(q);
    }
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    set_timeout(c, SO_SNDTIMEO, 30'000);
    t0 = monotonic_ms();
    CHECK(fails_with(connect(c, reinterpret_cast<struct sockaddr *>(&a), alen), EAGAIN));
    CHECK(monotonic_ms() - t0 >= 25);
    set_timeout(c, SO_SNDTIMEO, 0);
    int took = -1;
    w = later(20, [&] { took = accept(l, nullptr, nullptr); });
    t0 = monotonic_ms();
    CHECK(connect(c, reinterpret_cast<struct sockaddr *>(&a), alen) == 0);
    CHECK(monotonic_ms() - t0 >= 15);  // it waited for the accept
    join(w);
    CHECK(took >= 0);
    for (int fd : queued) close(fd);
    close(took);
    close(c);
    close(l);

    // TCP on loopback: a blocking connect, an accept in another thread.
    int tl = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t inlen = sizeof in;
    CHECK(bind(tl, reinterpret_cast<struct sockaddr *>(&in), inlen) == 0);
    CHECK(listen(tl, 4) == 0);
    CHECK(getsockname(tl, reinterpret_cast<struct sockaddr *>(&in), &inlen) == 0);
    int accepted = -1;
    w = spawn([&] {
        struct sockaddr_in peer;
        socklen_t pl = sizeof peer;
        accepted = accept(tl, reinterpret_cast<struct sockaddr *>(&peer), &pl);
    });
    c = socket(AF_INET, SOCK_STREAM, 0);
    errno = 4321;
    CHECK(connect(c, reinterpret_cast<struct sockaddr *>(&in), inlen) == 0);
    CHECK(errno == 4321);
    join(w);
    CHECK(accepted >= 0);
    CHECK(send(c, "tcp", 3, 0) == 3 && recv(accepted, buf, 3, MSG_WAITALL) == 3);
    close(accepted);
    close(c);
    close(tl);  // nobody listens on that port now
    c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fails_with(connect(c, reinterpret_cast<struct sockaddr *>(&in), inlen),
                     ECONNREFUSED));
    close(c);
    struct sockaddr_un missing{};
    missing.sun_family = AF_UNIX;
    std::strcpy(missing.sun_path, "/nonexistent-lithe-dir/socket");
    c = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(fails_with(connect(c, reinterpret_cast<struct sockaddr *>(&missing),
                             sizeof missing),
                     ENOENT));
    close(c);
    return true;
}

// --- io_poll ---
bool io_poll() {
    int a[2], b[2];
    char buf[8];
    CHECK(pipe(a) == 0 && pipe(b) == 0);
    struct pollfd fds[2] = {{a[0], POLLIN, 0}, {b[0], POLLIN, 0}};
    pthread_t w = later(20, [&] { (void)!write(b[1], "x", 1); });
    errno = 4321;
    CHECK(poll(fds, 2, -1) == 1);
    CHECK(fds[0].revents == 0 && fds[1].revents == POLLIN && errno == 4321);
    join(w);
    CHECK(read(b[0], buf, 1) == 1);
    long long t0 = monotonic_ms();
    CHECK(poll(fds, 2, 50) == 0);
    CHECK(monotonic_ms() - t0 >= 45);
    t0 = monotonic_ms();
    CHECK(poll(nullptr, 0, 30) == 0);  // a sleep
    CHECK(monotonic_ms() - t0 >= 25);
    struct pollfd bad[2] = {{-1, POLLIN, 0}, {9999, POLLIN, 0}};
    CHECK(poll(bad, 2, 1000) == 1 && bad[0].revents == 0 && bad[1].revents == POLLNVAL);
    w = later(10, [&] { (void)!write(a[1], "y", 1); });
    CHECK(__poll_chk(fds, 2, 5000, sizeof fds) == 1 && fds[0].revents == POLLIN);
    join(w);
    CHECK(read(a[0], buf, 1) == 1);

    // One fd twice with different events: either may be what arrives.
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    struct pollfd twice[2] = {{sv[0], POLLPRI, 0}, {sv[0], POLLIN, 0}};
    w = later(10, [&] { send(sv[1], "z", 1, 0); });
    CHECK(poll(twice, 2, 5000) == 1 && twice[0].revents == 0 && twice[1].revents == POLLIN);
    join(w);
    w = later(10, [&] { close(b[1]); });
    CHECK(poll(&fds[1], 1, 5000) == 1 && (fds[1].revents & POLLHUP));
    join(w);

    // epoll_wait
    int ep = epoll_create1(0);
    struct epoll_event e{};
    e.events = EPOLLIN;
    e.data.fd = a[0];
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, a[0], &e) == 0);
    struct epoll_event out[4];
    w = later(20, [&] { (void)!write(a[1], "e", 1); });
    errno = 4321;
    CHECK(epoll_wait(ep, out, 4, -1) == 1 && out[0].data.fd == a[0] && errno == 4321);
    join(w);
    CHECK(read(a[0], buf, 1) == 1);
    t0 = monotonic_ms();
    CHECK(epoll_wait(ep, out, 4, 50) == 0);
    CHECK(monotonic_ms() - t0 >= 45);
    CHECK(fails_with(epoll_wait(-1, out, 4, 10), EBADF));
    CHECK(fails_with(epoll_wait(ep, out, 0, 10), EINVAL));
    for (int fd : {ep, a[0], a[1], b[0], sv[0], sv[1]}) close(fd);
    return true;
}

// --- io_fork_child ---
// The child of a fork has one kernel thread and no vcores: its reads,
// polls, sleeps and yields must be the kernel's (a context that blocked or
// yielded there would never run again; a sleep's parlib alarm failed with
// "timer_settime: Invalid argument").
bool io_fork_child() {
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        char buf[8];
        struct pollfd f = {p[0], POLLIN, 0};
        sched_yield();
        bool ok = usleep(1000) == 0 && poll(&f, 1, 5000) == 1 &&
                  read(p[0], buf, sizeof buf) == 2 &&
                  std::memcmp(buf, "ok", 2) == 0;
        _exit(ok ? 0 : 1);
    }
    usleep(20'000);  // the child is in poll by now
    CHECK(write(p[1], "ok", 2) == 2);
    int status = -1;
    for (int i = 0; i < 1000 && waitpid(child, &status, WNOHANG) == 0; ++i) usleep(10'000);
    if (waitpid(child, &status, WNOHANG) == 0) {
        kill(child, SIGKILL);  // hung: reap it and fail
        waitpid(child, &status, 0);
        std::fprintf(stderr, "io_fork_child: the child hung in sleep/poll/read\n");
        return false;
    }
    close(p[0]);
    close(p[1]);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// --- sem ---
bool sem() {
    sem_t s;
    int v = -1;
    CHECK(sem_init(&s, 0, 0) == 0);
    CHECK(fails_with(sem_trywait(&s), EAGAIN));
    CHECK(sem_post(&s) == 0 && sem_getvalue(&s, &v) == 0 && v == 1);
    CHECK(sem_wait(&s) == 0 && sem_getvalue(&s, &v) == 0 && v == 0);
    pthread_t w = later(20, [&] { sem_post(&s); });
    errno = 4321;
    CHECK(sem_wait(&s) == 0 && errno == 4321);
    join(w);
    struct timespec ts = realtime_in(30'000'000);
    long long t0 = monotonic_ms();
    CHECK(fails_with(sem_timedwait(&s, &ts), ETIMEDOUT));
    CHECK(monotonic_ms() - t0 >= 25);
    ts = clock_in(CLOCK_MONOTONIC, 30'000'000);
    CHECK(fails_with(sem_clockwait(&s, CLOCK_MONOTONIC, &ts), ETIMEDOUT));
    w = later(10, [&] { sem_post(&s); });
    ts = realtime_in(900'000'000);
    CHECK(sem_timedwait(&s, &ts) == 0);
    join(w);
    // EINVAL is checked before taking a unit, as glibc does.
    CHECK(sem_post(&s) == 0);
    struct timespec bad = {0, 2'000'000'000};
    CHECK(fails_with(sem_timedwait(&s, &bad), EINVAL));
    ts = realtime_in(1000);
    CHECK(fails_with(sem_clockwait(&s, CLOCK_PROCESS_CPUTIME_ID, &ts), EINVAL));
    struct timespec past = {0, 0};
    CHECK(sem_timedwait(&s, &past) == 0);  // a unit is there: taken
    CHECK(fails_with(sem_timedwait(&s, &past), ETIMEDOUT));
    sem_destroy(&s);

    sem_t m;
    CHECK(sem_init(&m, 0, SEM_VALUE_MAX) == 0);
    CHECK(fails_with(sem_post(&m), EOVERFLOW));
    CHECK(sem_getvalue(&m, &v) == 0 && v == SEM_VALUE_MAX);

    // Counting: 8 waiters, 8 posts from another thread.
    CHECK(sem_init(&s, 0, 0) == 0);
    std::atomic<int> passed{0};
    std::vector<pthread_t> ws;
    for (int i = 0; i < 8; ++i) ws.push_back(spawn([&] {
        if (sem_wait(&s) == 0) passed.fetch_add(1);
    }));
    w = later(10, [&] {
        for (int i = 0; i < 8; ++i) sem_post(&s);
    });
    for (pthread_t t : ws) join(t);
    join(w);
    CHECK(passed.load() == 8 && sem_getvalue(&s, &v) == 0 && v == 0);

    // Process-shared: glibc's, for every caller.
    sem_t ps;
    CHECK(sem_init(&ps, 1, 0) == 0);
    CHECK(sem_post(&ps) == 0 && sem_getvalue(&ps, &v) == 0 && v == 1);
    CHECK(sem_wait(&ps) == 0 && fails_with(sem_trywait(&ps), EAGAIN));
    sem_destroy(&ps);
    return true;
}

// --- rwlock ---
bool rwlock() {
    pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
    CHECK(pthread_rwlock_rdlock(&rw) == 0 && pthread_rwlock_rdlock(&rw) == 0);
    CHECK(pthread_rwlock_trywrlock(&rw) == EBUSY);
    CHECK(pthread_rwlock_tryrdlock(&rw) == 0 && pthread_rwlock_unlock(&rw) == 0);
    struct timespec ts = realtime_in(20'000'000);
    CHECK(pthread_rwlock_timedwrlock(&rw, &ts) == ETIMEDOUT);
    CHECK(pthread_rwlock_unlock(&rw) == 0 && pthread_rwlock_unlock(&rw) == 0);
    CHECK(pthread_rwlock_wrlock(&rw) == 0);
    CHECK(pthread_rwlock_rdlock(&rw) == EDEADLK && pthread_rwlock_wrlock(&rw) == EDEADLK);
    CHECK(pthread_rwlock_tryrdlock(&rw) == EBUSY && pthread_rwlock_trywrlock(&rw) == EBUSY);
    std::atomic<int> flag{0};
    int seen = -1;
    pthread_t t = spawn([&] {  // a reader waits for the writer
        pthread_rwlock_rdlock(&rw);
        seen = flag.load();
        pthread_rwlock_unlock(&rw);
    });
    usleep(20'000);
    flag = 1;
    CHECK(pthread_rwlock_unlock(&rw) == 0);
    join(t);
    CHECK(seen == 1);
    CHECK(pthread_rwlock_rdlock(&rw) == 0);
    t = spawn([&] {  // a writer waits for the reader
        pthread_rwlock_wrlock(&rw);
        seen = flag.load();
        pthread_rwlock_unlock(&rw);
    });
    usleep(20'000);
    flag = 2;
    int timed = -1;
    pthread_t t2 = spawn([&] {
        struct timespec m = clock_in(CLOCK_MONOTONIC, 30'000'000);
        timed = pthread_rwlock_clockwrlock(&rw, CLOCK_MONOTONIC, &m);
    });
    join(t2);
    CHECK(timed == ETIMEDOUT);
    CHECK(pthread_rwlock_unlock(&rw) == 0);
    join(t);
    CHECK(seen == 2);
    struct timespec bad = {0, -1};
    CHECK(pthread_rwlock_timedrdlock(&rw, &bad) == EINVAL);  // even when free
    ts = realtime_in(1000);
    CHECK(pthread_rwlock_clockwrlock(&rw, CLOCK_PROCESS_CPUTIME_ID, &ts) == EINVAL);
    ts = clock_in(CLOCK_MONOTONIC, 1'000'000);
    CHECK(pthread_rwlock_clockrdlock(&rw, CLOCK_MONOTONIC, &ts) == 0);
    CHECK(pthread_rwlock_unlock(&rw) == 0);
    CHECK(pthread_rwlock_destroy(&rw) == 0);

    // Writer preference: a waiting writer keeps new readers out.
    pthread_rwlockattr_t at;
    pthread_rwlockattr_init(&at);
    pthread_rwlockattr_setkind_np(&at, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_t wp;
    CHECK(pthread_rwlock_init(&wp, &at) == 0);
    CHECK(pthread_rwlock_rdlock(&wp) == 0);
    std::atomic<int> wrote{0};
    t = spawn([&] {
        pthread_rwlock_wrlock(&wp);
        wrote = 1;
        pthread_rwlock_unlock(&wp);
    });
    usleep(30'000);
    int tried = -1;
    t2 = spawn([&] { tried = pthread_rwlock_tryrdlock(&wp); });
    join(t2);
    CHECK(tried == EBUSY && wrote.load() == 0);
    CHECK(pthread_rwlock_unlock(&wp) == 0);
    join(t);
    CHECK(wrote.load() == 1);
    // Prefer-reader (the default): a waiting writer does not.
    pthread_rwlock_t pr = PTHREAD_RWLOCK_INITIALIZER;
    CHECK(pthread_rwlock_rdlock(&pr) == 0);
    t = spawn([&] {
        pthread_rwlock_wrlock(&pr);
        pthread_rwlock_unlock(&pr);
    });
    usleep(30'000);
    t2 = spawn([&] {
        tried = pthread_rwlock_tryrdlock(&pr);
        if (tried == 0) pthread_rwlock_unlock(&pr);
    });
    join(t2);
    CHECK(tried == 0);
    CHECK(pthread_rwlock_unlock(&pr) == 0);
    join(t);

    // Process-shared: glibc's, for every caller.
    pthread_rwlockattr_setpshared(&at, PTHREAD_PROCESS_SHARED);
    pthread_rwlock_t sh;
    CHECK(pthread_rwlock_init(&sh, &at) == 0);
    CHECK(pthread_rwlock_rdlock(&sh) == 0 && pthread_rwlock_trywrlock(&sh) == EBUSY);
    CHECK(pthread_rwlock_unlock(&sh) == 0 && pthread_rwlock_wrlock(&sh) == 0);
    CHECK(pthread_rwlock_unlock(&sh) == 0 && pthread_rwlock_destroy(&sh) == 0);
    return true;
}

bool harts_read_pipe() {
    std::vector<std::array<int, 2>> p(kBlocked);
    for (auto &x : p) CHECK(pipe(x.data()) == 0);
    bool ok = blocked_do_not_hold_harts(
        {"harts_read_pipe",
         [&](int i) {
             char c;
             return read(p[i][0], &c, 1) == 1 && c == 'x';
         },
         [&](int i) { (void)!write(p[i][1], "x", 1); }});
    for (auto &x : p) close(x[0]), close(x[1]);
    return ok;
}

bool harts_write_pipe() {
    std::vector<std::array<int, 2>> p(kBlocked);
    for (auto &x : p) CHECK(pipe(x.data()) == 0);
    constexpr size_t kBytes = 256 << 10;  // more than a pipe holds
    bool ok = blocked_do_not_hold_harts(
        {"harts_write_pipe",
         [&](int i) {
             std::vector<char> v(kBytes, 'w');
             return write(p[i][1], v.data(), v.size()) == static_cast<ssize_t>(kBytes);
         },
         [&](int i) {
             std::vector<char> v(kBytes);
             size_t got = 0;
             while (got < kBytes) {
                 ssize_t n = read(p[i][0], v.data() + got, kBytes - got);
                 if (n <= 0) break;
                 got += static_cast<size_t>(n);
             }
         }});
    for (auto &x : p) close(x[0]), close(x[1]);
    return ok;
}

bool harts_recv() {
    std::vector<std::array<int, 2>> s(kBlocked);
    for (auto &x : s) CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, x.data()) == 0);
    bool ok = blocked_do_not_hold_harts(
        {"harts_recv",
         [&](int i) {
             char c[2];
             return recv(s[i][0], c, 2, MSG_WAITALL) == 2;
         },
         [&](int i) { send(s[i][1], "xy", 2, 0); }});
    for (auto &x : s) close(x[0]), close(x[1]);
    return ok;
}

bool harts_accept() {
    std::vector<int> l(kBlocked);
    std::vector<struct sockaddr_un> a(kBlocked);
    std::vector<socklen_t> al(kBlocked);
    for (int i = 0; i < kBlocked; ++i) {
        char tag[16];
        std::snprintf(tag, sizeof tag, "harts%d", i);
        CHECK((l[i] = unix_listener(tag, &a[i], &al[i])) >= 0);
    }
    std::vector<int> conns;
    bool ok = blocked_do_not_hold_harts(
        {"harts_accept",
         [&](int i) {
             int s = accept(l[i], nullptr, nullptr);
             if (s < 0) return false;
             close(s);
             return true;
         },
         [&](int i) { conns.push_back(unix_connect(a[i], al[i])); }});
    for (int fd : conns) close(fd);
    for (int fd : l) close(fd);
    return ok;
}

// The threads of the process asleep in accept or accept4 (their
// /proc/self/task/T/syscall starts with its number; a running thread's
// says "running").
int threads_in_accept() {
    int n = 0;
    DIR *d = opendir("/proc/self/task");
    if (!d) return 0;
    while (struct dirent *e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        char path[300];
        std::snprintf(path, sizeof path, "/proc/self/task/%s/syscall", e->d_name);
        FILE *f = std::fopen(path, "r");
        if (!f) continue;
        long nr = -1;
        if (std::fscanf(f, "%ld", &nr) == 1 && (nr == SYS_accept || nr == SYS_accept4)) ++n;
        std::fclose(f);
    }
    closedir(d);
    return n;
}

// All of them accept on one blocking listener: each connection wakes every
// waiter, and only one may go on to accept (the others would block their
// harts in the kernel's accept).
bool harts_accept_shared() {
    int in_kernel_accept = 0;
    struct sockaddr_un a;
    socklen_t al;
    int l = unix_listener("shared", &a, &al);
    CHECK(l >= 0);
    std::vector<int> conns;
    bool ok = blocked_do_not_hold_harts(
        {"harts_accept_shared",
         [&](int) {
             int s = accept(l, nullptr, nullptr);
             if (s < 0) return false;
             close(s);
             return true;
         },
         [&](int) {
             conns.push_back(unix_connect(a, al));
             usleep(2000);  // the woken acceptors race, if they do
             if (expect_lithe()) in_kernel_accept += threads_in_accept();
         }});
    for (int fd : conns) close(fd);
    close(l);
    if (in_kernel_accept)
        std::fprintf(stderr, "harts_accept_shared: %d times a thread sat in the "
                             "kernel's accept\n", in_kernel_accept);
    return ok && in_kernel_accept == 0;
}

bool harts_poll() {
    std::vector<std::array<int, 2>> p(kBlocked);
    for (auto &x : p) CHECK(pipe(x.data()) == 0);
    bool ok = blocked_do_not_hold_harts(
        {"harts_poll",
         [&](int i) {
             struct pollfd f = {p[i][0], POLLIN, 0};
             return poll(&f, 1, -1) == 1 && f.revents == POLLIN;
         },
         [&](int i) { (void)!write(p[i][1], "x", 1); }});
    for (auto &x : p) close(x[0]), close(x[1]);
    return ok;
}

bool harts_epoll() {
    std::vector<std::array<int, 2>> p(kBlocked);
    std::vector<int> ep(kBlocked);
    for (int i = 0; i < kBlocked; ++i) {
        CHECK(pipe(p[i].data()) == 0);
        ep[i] = epoll_create1(0);
        struct epoll_event e{};
        e.events = EPOLLIN;
        CHECK(epoll_ctl(ep[i], EPOLL_CTL_ADD, p[i][0], &e) == 0);
    }
    bool ok = blocked_do_not_hold_harts(
        {"harts_epoll",
         [&](int i) {
             struct epoll_event e;
             return epoll_wait(ep[i], &e, 1, -1) == 1;
         },
         [&](int i) { (void)!write(p[i][1], "x", 1); }});
    for (int i = 0; i < kBlocked; ++i) close(p[i][0]), close(p[i][1]), close(ep[i]);
    return ok;
}

bool harts_sem() {
    sem_t s;
    CHECK(sem_init(&s, 0, 0) == 0);
    return blocked_do_not_hold_harts(
        {"harts_sem", [&](int) { return sem_wait(&s) == 0; },
         [&](int) { sem_post(&s); }});
}

bool harts_rwlock() {
    pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
    CHECK(pthread_rwlock_wrlock(&rw) == 0);
    return blocked_do_not_hold_harts(
        {"harts_rwlock",
         [&](int) {
             return pthread_rwlock_rdlock(&rw) == 0 && pthread_rwlock_unlock(&rw) == 0;
         },
         [&](int i) {
             if (i == 0) pthread_rwlock_unlock(&rw);
         }});
}

// std::shared_mutex is libstdc++'s wrapper of pthread_rwlock_t.
bool harts_shared_mutex() {
    std::shared_mutex sm;
    sm.lock();
    return blocked_do_not_hold_harts(
        {"harts_shared_mutex",
         [&](int) {
             sm.lock_shared();
             sm.unlock_shared();
             return true;
         },
         [&](int i) {
             if (i == 0) sm.unlock();
         }});
}

// --- stress ---
constexpr int kRing = 12, kTokens = 6, kHops = 200, kPool = 2;

struct Token {
    int32_t id, hops_left;
    uint32_t sum;
    char payload[1012];
};
static_assert(sizeof(Token) == 1024);

uint32_t checksum(const Token &t) {
    uint32_t s = static_cast<uint32_t>(t.id) * 31 + static_cast<uint32_t>(t.hops_left);
    for (char c : t.payload) s = s * 131 + static_cast<unsigned char>(c);
    return s;
}

struct Ring {
    int rd[kRing], wr[kRing];
    bool sock[kRing];
    sem_t pool, done, never;
    pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
    long a = 0, b = 0;  // equal whenever the rwlock is not write-held
    std::atomic<long> writes{0};
    std::atomic<int> in_pool{0}, bad{0};
};

bool get(Ring &r, int i, Token *t) {
    if (r.sock[i])
        return recv(r.rd[i], t, sizeof *t, MSG_WAITALL) == sizeof *t;
    return read(r.rd[i], t, sizeof *t) == sizeof *t;  // pipe writes <= PIPE_BUF
}

bool put(Ring &r, int i, const Token &t) {
    if (r.sock[i]) return send(r.wr[i], &t, sizeof t, 0) == sizeof t;
    return write(r.wr[i], &t, sizeof t) == sizeof t;
}

void ring_member(Ring &r, int i, unsigned seed) {
    std::mt19937 rng(seed);
    Token t;
    for (;;) {
        if (rng() % 4 == 0) {
            struct pollfd f = {r.rd[i], POLLIN, 0};
            if (poll(&f, 1, -1) != 1) r.bad.fetch_add(1);
        }
        if (!get(r, i, &t) || t.sum != checksum(t)) {
            r.bad.fetch_add(1);
            return;
        }
        if (t.id < 0) return;  // stop
        switch (rng() % 5) {
            case 0:
                sem_wait(&r.pool);
                if (r.in_pool.fetch_add(1) + 1 > kPool) r.bad.fetch_add(1);
                if (rng() % 2) sched_yield();
                r.in_pool.fetch_sub(1);
                sem_post(&r.pool);
                break;
            case 1:
                pthread_rwlock_rdlock(&r.rw);
                if (r.a != r.b) r.bad.fetch_add(1);
                pthread_rwlock_unlock(&r.rw);
                break;
            case 2:
                pthread_rwlock_wrlock(&r.rw);
                ++r.a;
                if (rng() % 2) sched_yield();
                ++r.b;
                r.writes.fetch_add(1);
                pthread_rwlock_unlock(&r.rw);
                break;
            case 3: {
                struct timespec ts = realtime_in(100'000);
                if (!fails_with(sem_timedwait(&r.never, &ts), ETIMEDOUT)) r.bad.fetch_add(1);
                break;
            }
            default:
                break;
        }
        if (--t.hops_left == 0) {
            sem_post(&r.done);
            continue;
        }
        t.sum = checksum(t);
        if (!put(r, (i + 1) % kRing, t)) r.bad.fetch_add(1);
    }
}

bool stress() {
    unsigned seed = static_cast<unsigned>(monotonic_ms());
    if (const char *e = std::getenv("STRESS_SEED")) seed = static_cast<unsigned>(std::atoi(e));
    std::fprintf(stderr, "stress: STRESS_SEED=%u\n", seed);
    Watchdog dog(50, "stress");
    Ring r;
    CHECK(sem_init(&r.pool, 0, kPool) == 0 && sem_init(&r.done, 0, 0) == 0 &&
          sem_init(&r.never, 0, 0) == 0);
    for (int i = 0; i < kRing; ++i) {
        int fd[2];
        r.sock[i] = i % 2;
        if (r.sock[i]) {
            CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fd) == 0);
            int sz = 4096;
            setsockopt(fd[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
        } else {
            CHECK(pipe(fd) == 0);
            fcntl(fd[1], F_SETPIPE_SZ, 4096);  // a few tokens: writers block
        }
        r.rd[i] = fd[0];
        r.wr[i] = fd[1];
    }
    std::vector<pthread_t> ts;
    for (int i = 0; i < kRing; ++i)
        ts.push_back(spawn([&r, i, seed] { ring_member(r, i, seed * 7919 + i); }));
    std::mt19937 rng(seed);
    for (int k = 0; k < kTokens; ++k) {
        Token t{};
        t.id = k;
        t.hops_left = kHops;
        for (char &c : t.payload) c = static_cast<char>(rng());
        t.sum = checksum(t);
        CHECK(put(r, static_cast<int>(rng() % kRing), t));
    }
    for (int k = 0; k < kTokens; ++k) CHECK(sem_wait(&r.done) == 0);
    Token stop{};
    stop.id = -1;
    stop.sum = checksum(stop);
    for (int i = 0; i < kRing; ++i) CHECK(put(r, i, stop));
    for (pthread_t t : ts) join(t);
    CHECK(r.bad.load() == 0);
    CHECK(r.a == r.b && r.a == r.writes.load());
    for (int i = 0; i < kRing; ++i) close(r.rd[i]), close(r.wr[i]);
    return true;
}

const named_checks::Check kChecks[] = {
    {"io_pipe", in_both<io_pipe>},
    {"io_socket", in_both<io_socket>},
    {"io_accept", in_both<io_accept>},
    {"io_poll", in_both<io_poll>},
    {"io_fork_child", in_both<io_fork_child>},
    {"sem", in_both<sem>},
    {"rwlock", in_both<rwlock>},
    {"harts_read_pipe", harts_read_pipe},
    {"harts_write_pipe", harts_write_pipe},
    {"harts_recv", harts_recv},
    {"harts_accept", harts_accept},
    {"harts_accept_shared", harts_accept_shared},
    {"harts_poll", harts_poll},
    {"harts_epoll", harts_epoll},
    {"harts_sem", harts_sem},
    {"harts_rwlock", harts_rwlock},
    {"harts_shared_mutex", harts_shared_mutex},
    {"stress", stress},
};

}  // namespace

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    return pthread_test::checks_main(kChecks, argc, argv);
}
