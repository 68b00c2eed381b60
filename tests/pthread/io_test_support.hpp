// io_test_support.hpp: what the pthreads adapter's I/O test programs
// (pthread_io.cpp, pthread_io_more.cpp) share: threads running lambdas,
// socket and timeout helpers, and the harts_* frame that proves blocked
// threads do not hold harts. Header-only; the functions are inline (one
// copy per program).
#pragma once

#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include "named_checks.hpp"
#include "pthread_test_support.hpp"

namespace pthread_test {

inline void *run_fn(void *p) {
    auto *f = static_cast<std::function<void()> *>(p);
    (*f)();
    delete f;
    return nullptr;
}

inline pthread_t spawn(std::function<void()> fn) {
    pthread_t t;
    if (pthread_create(&t, nullptr, run_fn, new std::function<void()>(std::move(fn)))) {
        std::perror("pthread_create");
        std::abort();
    }
    return t;
}

inline void join(pthread_t t) { pthread_join(t, nullptr); }

// `fn` in a new thread after `ms` milliseconds.
inline pthread_t later(int ms, std::function<void()> fn) {
    return spawn([ms, fn] {
        usleep(ms * 1000);
        fn();
    });
}

// Runs `check` in main, then in a pthread (with the adapter both are
// lithe contexts; under ASan the pthread is a kernel thread, docs/pthread.md,
// and main is what exercises the adapter's waits).
inline bool in_main_and_thread(bool (*check)()) {
    if (!check()) return false;
    bool ok = false;
    join(spawn([&] {
        ok = check();
        if (ok && expect_lithe() && !on_lithe_now()) {
            std::fprintf(stderr, "the check did not run in a lithe context\n");
            ok = false;
        }
    }));
    return ok;
}

// A named check (named_checks.hpp) that runs `check` in main and in a
// pthread.
template <bool (*check)()>
bool in_both() {
    return in_main_and_thread(check);
}

inline bool fails_with(long r, int e) { return r == -1 && errno == e; }

inline void set_timeout(int fd, int opt, long us) {
    struct timeval tv = {us / 1'000'000, us % 1'000'000};
    setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv);
}

inline void set_nonblock(int fd, bool on) {
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

// An abstract unix address unique to this process and `tag`.
inline socklen_t unix_addr(struct sockaddr_un *a, const char *tag) {
    std::memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    int n = std::snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "lithe-io-%d-%s",
                          getpid(), tag);
    return static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

inline int unix_listener(const char *tag, struct sockaddr_un *a, socklen_t *len) {
    *len = unix_addr(a, tag);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    if (l < 0 || bind(l, reinterpret_cast<struct sockaddr *>(a), *len) != 0 ||
        listen(l, 16) != 0)
        return -1;
    return l;
}

inline int unix_connect(const struct sockaddr_un &a, socklen_t len) {
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(c, reinterpret_cast<const struct sockaddr *>(&a), len) != 0) {
        close(c);
        return -1;
    }
    return c;
}

// --- harts_*: blocked threads do not hold harts ---
constexpr int kBlocked = 10;  // more than the harts of any test run (<= 4)

struct Blocking {
    const char *name;
    std::function<bool(int)> block;  // thread i blocks; true if all went well
    std::function<void(int)> release;
};

inline bool blocked_do_not_hold_harts(const Blocking &b) {
    Watchdog dog(30, b.name);
    std::atomic<int> entered{0}, returned{0}, bad{0};
    std::vector<pthread_t> ts;
    for (int i = 0; i < kBlocked; ++i)
        ts.push_back(spawn([&, i] {
            entered.fetch_add(1);
            if (expect_lithe() && !on_lithe_now()) bad.fetch_add(1);  // else vacuous
            if (!b.block(i)) bad.fetch_add(1);
            returned.fetch_add(1);
        }));
    while (entered.load() < kBlocked) sched_yield();
    usleep(20'000);  // into their calls
    std::atomic<long> sum{0};
    pthread_t c = spawn([&] {  // needs a hart while all of them are blocked
        long s = 0;
        for (long k = 0; k < 2'000'000; ++k) s += k & 7;
        sum = s;
    });
    join(c);
    CHECK(sum.load() == 7'000'000);
    CHECK(returned.load() == 0);  // none was released yet
    for (int i = 0; i < kBlocked; ++i) b.release(i);
    for (pthread_t t : ts) join(t);
    CHECK(bad.load() == 0);
    return true;
}

}  // namespace pthread_test
