// User-level blocking I/O (parlib/io.h) on the FIFO test scheduler. Every
// test passes with PARLIB_VCORES=1, where a call that blocked the kernel
// thread instead of the uthread would deadlock (the watchdog turns that into
// a failure).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <parlib/alarm.h>
#include <parlib/io.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/fifo_sched.hpp"
#include "support/watchdog.hpp"

namespace {

constexpr size_t kMiB = 1 << 20;

uint8_t pattern(size_t i, unsigned salt) {
    return static_cast<uint8_t>((i * 131 + salt * 17 + (i >> 9)) & 0xff);
}

// Writes `total` pattern bytes with writes of random small sizes (and a
// few large ones, which must still complete in full).
void write_stream(int fd, size_t total, unsigned salt, bool use_send) {
    std::mt19937 rng(salt);
    std::vector<uint8_t> buf(64 << 10);
    size_t off = 0;
    while (off < total) {
        size_t n = rng() % 16 == 0 ? buf.size() : 1 + rng() % 3000;
        n = std::min(n, total - off);
        for (size_t i = 0; i < n; ++i) buf[i] = pattern(off + i, salt);
        ssize_t r = use_send ? uth_send(fd, buf.data(), n, 0)
                             : uth_write(fd, buf.data(), n);
        if (r != static_cast<ssize_t>(n)) {
            fprintf(stderr, "short write %zd of %zu (errno %d)\n", r, n, errno);
            abort();
        }
        off += n;
    }
}

// Reads until `total` bytes; returns how many matched the pattern.
size_t read_stream(int fd, size_t total, unsigned salt, bool use_recv) {
    std::mt19937 rng(salt * 7 + 1);
    std::vector<uint8_t> buf(4096);
    size_t off = 0, good = 0;
    while (off < total) {
        size_t n = 1 + rng() % 2000;
        ssize_t r = use_recv ? uth_recv(fd, buf.data(), n, 0)
                             : uth_read(fd, buf.data(), n);
        if (r <= 0) break;
        for (ssize_t i = 0; i < r; ++i)
            good += buf[i] == pattern(off + i, salt);
        off += static_cast<size_t>(r);
    }
    return good;
}

// Overwrites the stack below the caller, where a finished wait kept its
// waiter: a completion that still touched the waiter after resuming the
// uthread then reads junk (and crashes) rather than stale, plausible values.
[[gnu::noinline]] void scribble_stack() {
    volatile char junk[8192];
    for (auto &c : junk) c = static_cast<char>(0xA5);
}

bool nonblocking(int fd) { return fcntl(fd, F_GETFL) & O_NONBLOCK; }

}  // namespace

TEST_CASE("a reader and a writer uthread move 1 MiB through a pipe") {
    testwd::Watchdog wd(30, "pipe transfer");
    fifo::init();
    int p[2];
    REQUIRE(pipe(p) == 0);
    size_t good = 0;
    ssize_t eof = -1;
    auto *reader = fifo::spawn([&] {
        good = read_stream(p[0], kMiB, 1, false);
        char c;
        eof = uth_read(p[0], &c, 1);
    });
    auto *writer = fifo::spawn([&] {
        write_stream(p[1], kMiB, 1, false);
        close(p[1]);
    });
    fifo::join(writer);
    fifo::join(reader);
    REQUIRE(good == kMiB);
    REQUIRE(eof == 0);
    REQUIRE_FALSE(nonblocking(p[0]));
    close(p[0]);
}

TEST_CASE("a reader and a writer wait on the same socket at once, both ways") {
    testwd::Watchdog wd(30, "socketpair transfer");
    fifo::init();
    int s[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    for (int fd : s) {
        int small = 16384;  // both sides block often
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
    // Each end has its own reader and writer uthread: every fd gets a
    // reader and a writer blocked on it at the same time.
    size_t good0 = 0, good1 = 0;
    std::vector<fifo::Thread *> ts;
    ts.push_back(fifo::spawn([&] { write_stream(s[0], kMiB, 2, false); }));
    ts.push_back(fifo::spawn([&] { write_stream(s[1], kMiB, 3, true); }));
    ts.push_back(
        fifo::spawn([&] { good1 = read_stream(s[1], kMiB, 2, true); }));
    ts.push_back(
        fifo::spawn([&] { good0 = read_stream(s[0], kMiB, 3, false); }));
    for (auto *t : ts) fifo::join(t);
    REQUIRE(good0 == kMiB);
    REQUIRE(good1 == kMiB);
    REQUIRE_FALSE(nonblocking(s[0]));
    REQUIRE_FALSE(nonblocking(s[1]));
    close(s[0]);
    close(s[1]);
}

TEST_CASE("uthreads accept and connect on loopback TCP") {
    testwd::Watchdog wd(30, "tcp accept/connect");
    fifo::init();
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(lfd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    REQUIRE(bind(lfd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0);
    REQUIRE(listen(lfd, 16) == 0);
    socklen_t al = sizeof a;
    REQUIRE(getsockname(lfd, reinterpret_cast<sockaddr *>(&a), &al) == 0);

    constexpr int kClients = 8;
    constexpr size_t kBytes = 32 << 10;
    std::atomic<int> echoed_ok{0}, accepted{0}, connect_nonblocking{0};
    std::vector<fifo::Thread *> handlers;
    // The server is spawned first: it blocks in accept before any client.
    auto *server = fifo::spawn([&] {
        for (int i = 0; i < kClients; ++i) {
            sockaddr_in peer{};
            socklen_t pl = sizeof peer;
            int c =
                i % 2
                    ? uth_accept(lfd, reinterpret_cast<sockaddr *>(&peer), &pl)
                    : uth_accept4(lfd, reinterpret_cast<sockaddr *>(&peer), &pl,
                                  SOCK_CLOEXEC);
            if (c < 0) continue;
            accepted++;
            handlers.push_back(fifo::spawn([c] {
                char buf[1500];
                for (;;) {
                    ssize_t r = uth_recv(c, buf, sizeof buf, 0);
                    if (r <= 0) break;
                    if (uth_send(c, buf, static_cast<size_t>(r), 0) != r) break;
                }
                close(c);
            }));
        }
    });
    std::vector<fifo::Thread *> clients;
    for (int k = 0; k < kClients; ++k)
        clients.push_back(fifo::spawn([&, k] {
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            if (uth_connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) !=
                0) {
                close(fd);
                return;
            }
            connect_nonblocking += nonblocking(fd);
            std::vector<uint8_t> out(kBytes), in(kBytes);
            for (size_t i = 0; i < kBytes; ++i) out[i] = pattern(i, k);
            ssize_t w = uth_send(fd, out.data(), kBytes, 0);
            ssize_t r = uth_recv(fd, in.data(), kBytes, MSG_WAITALL);
            if (w == static_cast<ssize_t>(kBytes) &&
                r == static_cast<ssize_t>(kBytes) && in == out)
                echoed_ok++;
            close(fd);
        }));
    for (auto *t : clients) fifo::join(t);
    fifo::join(server);
    for (auto *t : handlers) fifo::join(t);
    REQUIRE(accepted == kClients);
    REQUIRE(echoed_ok == kClients);
    REQUIRE(connect_nonblocking == 0);  // O_NONBLOCK was put back
    REQUIRE_FALSE(nonblocking(lfd));
    close(lfd);
}

TEST_CASE("uth_connect reports a refused connection") {
    testwd::Watchdog wd(20, "connect refused");
    fifo::init();
    // A port that was just bound and closed has no listener.
    int tmp = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(tmp, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0);
    socklen_t al = sizeof a;
    REQUIRE(getsockname(tmp, reinterpret_cast<sockaddr *>(&a), &al) == 0);
    close(tmp);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    errno = 0;
    REQUIRE(uth_connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == -1);
    REQUIRE(errno == ECONNREFUSED);
    REQUIRE_FALSE(nonblocking(fd));
    close(fd);
}

TEST_CASE("uth_wait_fd returns 0 after its timeout, and events when ready") {
    testwd::Watchdog wd(20, "uth_wait_fd timeout");
    fifo::init();
    int p[2];
    REQUIRE(pipe(p) == 0);
    uint64_t t0 = parlib_now_us();
    REQUIRE(uth_wait_fd(p[0], POLLIN, 50000) == 0);
    REQUIRE(parlib_now_us() - t0 >= 50000);
    REQUIRE(uth_wait_fd(p[0], POLLIN, 0) == 0);
    REQUIRE(uth_wait_fd(p[1], POLLOUT, 50000) == POLLOUT);

    // Becomes ready long before a long timeout: readiness wins.
    ssize_t wrote = 0;
    auto *w = fifo::spawn([&] {
        uth_sleep_us(10000);
        wrote = uth_write(p[1], "x", 1);
    });
    REQUIRE(uth_wait_fd(p[0], POLLIN, 10'000'000) == POLLIN);
    fifo::join(w);
    REQUIRE(wrote == 1);
    char c;
    REQUIRE(uth_read(p[0], &c, 1) == 1);

    // A wait with no timeout and one that times out on the same fd.
    int forever = -1;
    auto *patient =
        fifo::spawn([&] { forever = uth_wait_fd(p[0], POLLIN, -1); });
    REQUIRE(uth_wait_fd(p[0], POLLIN, 20000) == 0);
    REQUIRE(uth_write(p[1], "y", 1) == 1);
    fifo::join(patient);
    REQUIRE(forever == POLLIN);

    REQUIRE(uth_wait_fd(-1, POLLIN, 1000) == -EBADF);
    close(p[0]);
    close(p[1]);
    REQUIRE(uth_wait_fd(p[0], POLLIN, 1000) == -EBADF);
    errno = 0;
    REQUIRE(uth_read(p[0], &c, 1) == -1);
    REQUIRE(errno == EBADF);
}

TEST_CASE("readiness and timeout racing: exactly one wins each wait") {
    testwd::Watchdog wd(30, "wait race");
    fifo::init();
    int p[2];
    REQUIRE(pipe(p) == 0);
    std::mt19937 rng(11);
    constexpr int kIters = 1000;
    int ready = 0, timed_out = 0, bad = 0;
    std::string what;  // the bad cases
    for (int i = 0; i < kIters; ++i) {
        int64_t timeout = 100 + rng() % 200;
        // The writer writes within +-60 us of the timeout, sometimes keeping
        // its vcore busy afterwards so that the timeout and the readiness
        // are both pending there when the waiter's vcore next looks.
        uint64_t target = parlib_now_us() + timeout - 60 + rng() % 120;
        bool hog = rng() % 2;
        auto *w = fifo::spawn([&p, target, hog] {
            while (parlib_now_us() < target)
                if (!hog) fifo::yield();
            (void)!uth_write(p[1], "z", 1);
            uint64_t end = parlib_now_us() + (hog ? 150 : 0);
            while (parlib_now_us() < end) __builtin_ia32_pause();
        });
        uint64_t t0 = parlib_now_us();
        int r = uth_wait_fd(p[0], POLLIN, timeout);
        uint64_t el = parlib_now_us() - t0;
        scribble_stack();
        if (r == POLLIN) {
            ready++;
        } else if (r == 0 && el >= static_cast<uint64_t>(timeout)) {
            timed_out++;
        } else {
            bad++;
            what += " wait " + std::to_string(i) + ": " + std::to_string(r) +
                    " after " + std::to_string(el) + " us of " +
                    std::to_string(timeout) + ";";
        }
        fifo::join(w);
        char c;
        if (ssize_t n = uth_read(p[0], &c, 1); n != 1) {
            bad++;
            what += " read " + std::to_string(i) + ": " + std::to_string(n) +
                    ";";
        }
    }
    INFO("ready " << ready << ", timed out " << timed_out << ";" << what);
    REQUIRE(bad == 0);
    REQUIRE(ready + timed_out == kIters);
    close(p[0]);
    close(p[1]);
}

TEST_CASE("uthreads blocked in uth_read do not hold their vcores") {
    testwd::Watchdog wd(20, "blocked readers free their vcores");
    fifo::init();
    // One blocked reader per vcore: if a read held its vcore, nothing else
    // (not even main, who releases them) could run.
    int nv = max_vcores();
    std::vector<std::array<int, 2>> pipes(nv);
    for (auto &p : pipes) REQUIRE(pipe(p.data()) == 0);
    std::atomic<int> inside{0}, got{0};
    std::atomic<long> progress{0};
    std::vector<fifo::Thread *> readers;
    for (int i = 0; i < nv; ++i)
        readers.push_back(fifo::spawn([&, i] {
            char c;
            inside++;
            if (uth_read(pipes[i][0], &c, 1) == 1) got++;
            inside--;
        }));
    uint64_t end = parlib_now_us() + 10'000'000;
    while (progress.load() < 100 && parlib_now_us() < end) {
        if (inside.load() == nv) progress++;
        fifo::yield();
    }
    for (auto &p : pipes) REQUIRE(uth_write(p[1], "r", 1) == 1);
    for (auto *t : readers) fifo::join(t);
    REQUIRE(progress > 0);
    REQUIRE(got == nv);
    for (auto &p : pipes) close(p[0]), close(p[1]);
}

// Hidden from the default runs: it needs vcores that spin when idle, which
// they do not when there are more vcores than CPUs (PARLIB_VCORES=4 here)
// unless PARLIB_SPIN_US says so; ctest runs it as parlib_io_idle_poll.* with
// PARLIB_SPIN_US set (tests/parlib/CMakeLists.txt).
TEST_CASE("an idle spinning vcore takes its uthreads' readiness itself",
          "[.][idle_poll]") {
    testwd::Watchdog wd(60, "idle poll ping-pong");
    fifo::init();
    int a[2], b[2], done[2];
    REQUIRE(pipe(a) == 0);
    REQUIRE(pipe(b) == 0);
    REQUIRE(pipe(done) == 0);
    constexpr int kRounds = 2000;
    struct uth_io_stats before, after;
    uth_io_stats(&before);
    int bad = 0;
    auto *peer = fifo::spawn([&] {
        char c;
        for (int i = 0; i < kRounds; ++i)
            if (uth_read(a[0], &c, 1) != 1 || uth_write(b[1], &c, 1) != 1)
                ++bad;
        uth_write(done[1], "p", 1);
    });
    auto *self = fifo::spawn([&] {
        char c = 'x';
        for (int i = 0; i < kRounds; ++i)
            if (uth_write(a[1], &c, 1) != 1 || uth_read(b[0], &c, 1) != 1)
                ++bad;
        uth_write(done[1], "s", 1);
    });
    // Main waits in a read rather than in fifo::join, whose yield loop
    // would keep the vcore from ever being idle.
    char ends[2];
    for (int got = 0; got < 2;) {
        ssize_t r = uth_read(done[0], ends + got, 2 - got);
        REQUIRE(r > 0);
        got += static_cast<int>(r);
    }
    uth_io_stats(&after);
    fifo::join(self);
    fifo::join(peer);
    uint64_t blocked = after.blocked - before.blocked;
    uint64_t idle = after.woken_by_idle_vcore - before.woken_by_idle_vcore;
    uint64_t svc = after.woken_by_service - before.woken_by_service;
    INFO("blocked " << blocked << ", woken by an idle vcore " << idle
                    << ", by the service thread " << svc);
    REQUIRE(bad == 0);
    REQUIRE(blocked > 0);
    REQUIRE(idle + svc == blocked);  // no timeouts: one report per wait
    // Without the idle poll every report is the service thread's. With it,
    // a spinning vcore polls every few hundred ns while the service thread
    // needs a kernel wake-up (tens of µs on a VM): at 2 vcores nearly all
    // reports are a vcore's; at 1 about half (a report that comes while the
    // only vcore still runs the blocking uthread's path goes to the service
    // thread, idle on the other CPU).
    REQUIRE(idle * 4 > blocked);
    for (int fd : {a[0], a[1], b[0], b[1], done[0], done[1]}) close(fd);
}

TEST_CASE("outside uthreads the calls are the plain libc calls") {
    testwd::Watchdog wd(20, "foreign thread I/O");
    fifo::init();
    int p[2];
    REQUIRE(pipe(p) == 0);
    ssize_t got = -2;
    std::atomic<int> waited{-2};
    uint64_t wait_elapsed = 0;
    std::thread t([&] {
        uint64_t t0 = parlib_now_us();
        waited = uth_wait_fd(p[0], POLLIN, 20000);
        wait_elapsed = parlib_now_us() - t0;
        char buf[4];
        got = uth_read(p[0], buf, sizeof buf);  // blocks this kernel thread
    });
    while (waited == -2) fifo::yield();
    REQUIRE(uth_write(p[1], "abcd", 4) == 4);
    t.join();
    REQUIRE(waited == 0);
    REQUIRE(wait_elapsed >= 20000);
    REQUIRE(got == 4);
    close(p[0]);
    close(p[1]);
}

TEST_CASE("fds that cannot be polled or written without waiting still work") {
    testwd::Watchdog wd(20, "regular file and eventfd");
    fifo::init();
    char path[] = "/tmp/parlib_io_XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    unlink(path);
    std::vector<uint8_t> out(100000), in(100000);
    for (size_t i = 0; i < out.size(); ++i) out[i] = pattern(i, 9);
    REQUIRE(uth_write(fd, out.data(), out.size()) == (ssize_t)out.size());
    REQUIRE(lseek(fd, 0, SEEK_SET) == 0);
    size_t off = 0;
    while (off < in.size()) {
        ssize_t r = uth_read(fd, in.data() + off, in.size() - off);
        REQUIRE(r > 0);
        off += static_cast<size_t>(r);
    }
    REQUIRE(in == out);
    REQUIRE(uth_read(fd, in.data(), 1) == 0);  // EOF
    close(fd);

    // eventfd: reads wait for a write; its writes take the poll path.
    int efd = eventfd(0, 0);
    uint64_t v = 0;
    auto *r = fifo::spawn([&] { (void)!uth_read(efd, &v, sizeof v); });
    uint64_t one = 5;
    fifo::yield();
    REQUIRE(uth_write(efd, &one, sizeof one) == sizeof one);
    fifo::join(r);
    REQUIRE(v == 5);
    close(efd);
}
