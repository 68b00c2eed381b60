// thread_stats.hpp: per-thread counters of this process read from
// /proc/self/task, for tests about helper threads (parlib's keeper and
// service threads) that must stay asleep.
#pragma once

#include <dirent.h>

#include <fstream>
#include <string>

namespace thread_stats {

// Voluntary context switches of the thread named `name` in this process
// (-1 if there is none).
inline long voluntary_switches_of(const char *name) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    long n = -1;
    while (dirent *e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::string dir = std::string("/proc/self/task/") + e->d_name;
        std::ifstream comm(dir + "/comm");
        std::string c;
        std::getline(comm, c);
        if (c != name) continue;
        std::ifstream status(dir + "/status");
        for (std::string line; std::getline(status, line);)
            if (line.rfind("voluntary_ctxt_switches:", 0) == 0)
                n = std::stol(line.substr(line.find(':') + 1));
    }
    closedir(d);
    return n;
}

}  // namespace thread_stats
