// pthread_test_support.hpp: helpers shared by the pthreads adapter's test
// programs (pthread_checks.cpp, pthread_io.cpp, io_server.cpp). They are
// plain pthreads programs; the lithe calls are weak references, NULL when
// the program runs without the adapter (the ref runs). Header-only.
#pragma once

#include <dlfcn.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "named_checks.hpp"

extern "C" {
int lithe_num_harts(void) __attribute__((weak));
void *lithe_context_self(void) __attribute__((weak));
}

namespace pthread_test {

// EXPECT_LITHE=1: the threads must be lithe contexts (every run but ref).
inline bool expect_lithe() {
    const char *e = std::getenv("EXPECT_LITHE");
    return e && std::strcmp(e, "1") == 0;
}

inline bool on_lithe_now() { return lithe_context_self && lithe_context_self() != nullptr; }

// `base` plus `ns` nanoseconds (ns < 1 s), normalised.
inline struct timespec plus_ns(struct timespec base, long ns) {
    base.tv_nsec += ns;
    if (base.tv_nsec >= 1'000'000'000) {
        base.tv_nsec -= 1'000'000'000;
        ++base.tv_sec;
    }
    return base;
}

// `clock` now plus `ns` (the clocks of the timed calls).
inline struct timespec clock_in(clockid_t clock, long ns) {
    struct timespec t;
    clock_gettime(clock, &t);
    return plus_ns(t, ns);
}
inline struct timespec realtime_in(long ns) { return clock_in(CLOCK_REALTIME, ns); }

inline long long monotonic_ms() {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000LL + t.tv_nsec / 1'000'000;
}

// libc's own pthread_create: a real kernel thread whatever is interposed.
inline int kernel_thread(pthread_t *t, void *(*fn)(void *), void *arg) {
    static auto create = reinterpret_cast<int (*)(pthread_t *, const pthread_attr_t *,
                                                  void *(*)(void *), void *)>(
        dlsym(dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD), "pthread_create"));
    return create(t, nullptr, fn, arg);
}

// Turns a hang into a named failure: a kernel thread (it runs even when
// every hart is stuck in the kernel) that ends the process with status 1
// when `seconds` pass before disarm(). One at a time.
class Watchdog {
  public:
    Watchdog(int seconds, const char *what) {
        what_ = what;
        deadline_ms_.store(monotonic_ms() + seconds * 1000LL);
        static bool started = [] {
            pthread_t t;
            return kernel_thread(&t, watch, nullptr) == 0;
        }();
        (void)started;
    }
    ~Watchdog() { deadline_ms_.store(0); }
    Watchdog(const Watchdog &) = delete;
    Watchdog &operator=(const Watchdog &) = delete;

  private:
    static void *watch(void *) {
        for (;;) {
            usleep(20'000);  // a kernel thread: the real usleep
            long long d = deadline_ms_.load();
            if (d && monotonic_ms() > d) {
                std::fprintf(stderr, "watchdog: '%s' did not finish in time\n", what_);
                _exit(1);
            }
        }
    }
    static inline std::atomic<long long> deadline_ms_{0};
    static inline const char *what_ = "";
};

// The main of a named-checks program (named_checks.hpp) run with and
// without the adapter.
template <size_t N>
int checks_main(const named_checks::Check (&checks)[N], int argc, char **argv) {
    if (!named_checks::one_argument(argc, argv)) return 2;
    if (expect_lithe() && !lithe_num_harts) {
        std::fprintf(stderr, "FAIL: EXPECT_LITHE=1 but lithe is not loaded\n");
        return 1;
    }
    return named_checks::run(checks, argv[1]);
}

}  // namespace pthread_test
