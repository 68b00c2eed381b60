// thread_stats.hpp: per-thread counters of this process read from
// /proc/self/task, for tests about helper threads (parlib's keeper and
// service threads) that must stay asleep.
#pragma once

#include <dirent.h>

#include <fstream>
#include <string>

namespace thread_stats {

// Calls f(dir) for each thread of this process named `name`, dir being its
// /proc/self/task/<tid>.
template <class F>
void for_each_named(const char *name, F f) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return;
    while (dirent *e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::string dir = std::string("/proc/self/task/") + e->d_name;
        std::ifstream comm(dir + "/comm");
        std::string c;
        std::getline(comm, c);
        if (c == name) f(dir);
    }
    closedir(d);
}

// Voluntary context switches of the thread named `name` in this process
// (-1 if there is none).
inline long voluntary_switches_of(const char *name) {
    long n = -1;
    for_each_named(name, [&](const std::string &dir) {
        std::ifstream status(dir + "/status");
        for (std::string line; std::getline(status, line);)
            if (line.rfind("voluntary_ctxt_switches:", 0) == 0)
                n = std::stol(line.substr(line.find(':') + 1));
    });
    return n;
}

// The thread named `name` is blocked in a futex wait without a timeout
// (/proc/.../syscall: number 202, fourth argument NULL), i.e. it sleeps
// until someone wakes it rather than for a while.
inline bool in_untimed_futex_wait(const char *name) {
    bool r = false;
    for_each_named(name, [&](const std::string &dir) {
        std::ifstream sc(dir + "/syscall");
        std::string nr, a1, a2, a3, a4;
        sc >> nr >> a1 >> a2 >> a3 >> a4;
        r = nr == "202" && a4 == "0x0";
    });
    return r;
}

}  // namespace thread_stats
