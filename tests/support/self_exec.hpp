// self_exec.hpp: runs one hidden ("[.]") test case of the current test
// binary in a fresh process (fork + exec of /proc/self/exe) with extra
// environment variables and a timeout, capturing its stdout + stderr.
//
// For properties that need another PARLIB_VCORES than the parent's, that
// are about a process hanging (a hang becomes a timeout, not a stuck test
// run), or that abort the process. The fork may happen in a uthread: the
// child only calls async-signal-safe functions before execve.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "child_output.hpp"

extern char **environ;

namespace selfexec {

struct Result {
    bool timed_out = false;
    bool exited = false;  // normal exit: see exit_code
    int exit_code = -1;
    int signal = 0;       // killed by this signal (not by our timeout)
    std::string output;   // stdout and stderr, interleaved
};

// `env` entries are "NAME=value"; they replace inherited ones.
inline Result run(const std::string &test_name,
                  const std::vector<std::string> &env, int timeout_ms) {
    std::vector<std::string> vars;
    for (char **e = environ; *e; ++e) {
        std::string s = *e;
        bool replaced = false;
        for (const auto &o : env)
            if (s.compare(0, o.find('=') + 1, o, 0, o.find('=') + 1) == 0)
                replaced = true;
        if (!replaced) vars.push_back(s);
    }
    for (const auto &o : env) vars.push_back(o);
    std::vector<char *> envp;
    for (auto &s : vars) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::string exe = "/proc/self/exe", name = test_name;
    char *argv[] = {exe.data(), name.data(), nullptr};

    Result r;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return r;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        execve(argv[0], argv, envp.data());
        _exit(127);
    }
    close(fds[1]);
    r.timed_out = child_output::read_until_eof(fds[0], pid, timeout_ms, r.output);
    int st = 0;
    waitpid(pid, &st, 0);
    close(fds[0]);
    if (WIFEXITED(st)) {
        r.exited = true;
        r.exit_code = WEXITSTATUS(st);
    } else if (WIFSIGNALED(st) && !r.timed_out) {
        r.signal = WTERMSIG(st);
    }
    return r;
}

// run(), then require that the child exited with code 0 in time (its
// output is printed when it did not).
inline void require_clean_exit(const std::string &test_name,
                               const std::vector<std::string> &env,
                               int timeout_ms) {
    Result r = run(test_name, env, timeout_ms);
    INFO(r.output);
    REQUIRE_FALSE(r.timed_out);
    REQUIRE(r.exited);
    REQUIRE(r.exit_code == 0);
}

}  // namespace selfexec
