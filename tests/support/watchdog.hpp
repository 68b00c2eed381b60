// watchdog.hpp: turns a hang into a prompt, named test failure. A test that
// may deadlock when the property it checks breaks (e.g. a kernel-blocking
// read holding the only vcore) arms the watchdog; if it is still armed when
// the time is up, a plain kernel thread (not a uthread, so it runs even when
// every vcore is stuck) prints the test's name and exits the process with
// status 1.
#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

namespace testwd {

inline std::atomic<long long> g_deadline_ms{0};  // 0 = disarmed
inline std::atomic<const char *> g_what{""};
inline std::atomic<void (*)()> g_dump{nullptr};

inline long long now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

class Watchdog {
  public:
    Watchdog(int seconds, const char *what, void (*dump)() = nullptr) {
        static bool started = [] {
            std::thread([] {
                for (;;) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(50));
                    long long d = g_deadline_ms.load();
                    if (d && now_ms() > d) {
                        fprintf(stderr,
                                "watchdog: '%s' did not finish in time\n",
                                g_what.load());
                        if (void (*dump)() = g_dump.load()) dump();
                        _exit(1);
                    }
                }
            }).detach();
            return true;
        }();
        (void)started;
        g_what.store(what);
        g_dump.store(dump);
        g_deadline_ms.store(now_ms() + seconds * 1000LL);
    }
    ~Watchdog() { g_deadline_ms.store(0); }
    Watchdog(const Watchdog &) = delete;
    Watchdog &operator=(const Watchdog &) = delete;
};

}  // namespace testwd
