// child_output.hpp: reading a child process's output with a deadline, for
// the test helpers that fork (self_exec.hpp, fork_child.hpp). The parent
// side only: callable from any thread or uthread; it blocks the calling
// kernel thread while it waits.
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <string>

namespace child_output {

inline long now_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

// Appends what the child writes to `fd` to `out` until EOF (every write end
// closed: the child is gone) or until `timeout_ms` have passed; then the
// child is killed with SIGKILL and true is returned (reap it either way).
inline bool read_until_eof(int fd, pid_t pid, int timeout_ms, std::string &out) {
    long deadline = now_ms() + timeout_ms;
    for (;;) {
        long left = deadline - now_ms();
        if (left <= 0) {
            kill(pid, SIGKILL);
            return true;
        }
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;  // timeout, EINTR
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) return false;  // EOF: the child exited (or closed it)
        out.append(buf, static_cast<size_t>(n));
    }
}

}  // namespace child_output
