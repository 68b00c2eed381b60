// fork_child.hpp: runs a function in a fork()ed child with its stderr
// captured, for tests whose subject stops the process (a misuse that
// aborts naming the call).
//
// fork copies a multithreaded process with every lock as it is at that
// instant, and the child has only the forking thread: a lock another
// thread held then (a vcore in a scheduler's lock, parlib's keeper or a
// vcore inside GCC 12's ASan allocator, which has no fork handlers) stays
// held in the child forever, and the child hangs before it reaches the
// code under test (seen: ASan's __asan_handle_no_return -> calloc in
// lithe's misuse report, about 1 run in 20 under load). So a child that
// has not exited within the deadline is killed and the function is run
// again in a new child, up to `attempts` times; only a child that exits
// decides the result, and a function that hangs every time is reported as
// hung (a test then fails on it).
//
// Parent side: callable from any thread or uthread; it blocks the calling
// kernel thread while it waits.
#pragma once

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "child_output.hpp"

namespace forkchild {

struct Result {
    int status = 0;     // waitpid status of the deciding child
    bool hung = false;  // every attempt passed its deadline
    int attempts = 0;
    std::string err;    // the deciding child's stderr
    bool aborted() const { return !hung && WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT; }
};

// Runs f() in a child (no core dump, SIGABRT at its default action), which
// exits 0 if f returns.
template <class F>
Result run(F &&f, int timeout_ms = 10000, int attempts = 3) {
    Result r;
    for (r.attempts = 1; r.attempts <= attempts; ++r.attempts) {
        int p[2];
        if (pipe(p) != 0) return r;
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            dup2(p[1], 2);
            struct rlimit none = {0, 0};
            setrlimit(RLIMIT_CORE, &none);
            signal(SIGABRT, SIG_DFL);
            f();
            _exit(0);
        }
        close(p[1]);
        r.err.clear();
        r.hung = child_output::read_until_eof(p[0], pid, timeout_ms, r.err);
        close(p[0]);
        while (waitpid(pid, &r.status, 0) < 0 && errno == EINTR) {
        }
        if (!r.hung) return r;
    }
    r.attempts = attempts;
    return r;
}

}  // namespace forkchild
