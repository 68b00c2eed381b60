// pthread_offloaded.cpp: the blocking calls the adapter offloads to parlib
// helper threads (adapters/pthread/src/offloaded_calls.cpp) in an
// unmodified pthreads program; ways as for pthread_io (ref, linked, plain
// where built, preload).
//
//   harts_wait      more threads than harts blocked in waitpid, wait4,
//                   waitid and wait (each for a child of its own that
//                   exits when told), and a compute thread must still
//                   finish before any is released: blocked threads do not
//                   hold harts (the watchdog turns a hang into a failure)
//   harts_flock     ... in flock(LOCK_SH), main holding LOCK_EX on another
//                   open file description of the same file
//   harts_lockf     ... in lockf(F_LOCK), a child process holding the lock
//   harts_sendfile  ... in sendfile into a socket whose reader is late
//   harts_splice    ... in splice, tee and vmsplice on pipes
//   harts_sysv      ... in msgrcv and semop
//   offload_results the calls' results and errno, in main and in a thread:
//                   exit statuses, a short sendfile count and offset,
//                   ECHILD, EBADF, EIDRM; the non-blocking forms (WNOHANG,
//                   LOCK_NB, IPC_NOWAIT, SPLICE_F_NONBLOCK) answer at once
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "io_test_support.hpp"
#include "named_checks.hpp"
#include "pthread_test_support.hpp"

namespace {

using namespace pthread_test;

// A child that exits with `code` once a byte arrives on its pipe; the
// parent writes that byte with release().
struct Child {
    pid_t pid = -1;
    int go = -1;  // the parent's end
    void start(int code) {
        int p[2];
        if (pipe(p) != 0) abort();
        pid = fork();
        if (pid == 0) {
            char c;
            (void)!read(p[0], &c, 1);
            _exit(code);
        }
        close(p[0]);
        go = p[1];
    }
    void release() {
        (void)!write(go, "g", 1);
        close(go);
    }
};

bool harts_wait() {
    std::vector<Child> kids(kBlocked);
    for (int i = 0; i < kBlocked; ++i) kids[i].start(10 + i);
    bool ok = blocked_do_not_hold_harts(
        {"harts_wait",
         [&](int i) {
             int st = -1;
             pid_t pid = kids[i].pid;
             switch (i % 3) {
             case 0: return waitpid(pid, &st, 0) == pid && WEXITSTATUS(st) == 10 + i;
             case 1: return wait4(pid, &st, 0, nullptr) == pid && WEXITSTATUS(st) == 10 + i;
             default: {
                 siginfo_t si{};
                 return waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED) == 0 &&
                        si.si_pid == pid && si.si_status == 10 + i;
             }
             }
         },
         [&](int i) { kids[i].release(); }});
    // wait() for any child: one more, released by a thread while main waits.
    Child last;
    last.start(3);
    pthread_t t = later(20, [&] { last.release(); });
    int st = -1;
    CHECK(wait(&st) == last.pid && WEXITSTATUS(st) == 3);
    join(t);
    return ok;
}

std::string temp_path(const char *tag) {
    return std::string("/tmp/lithe_offload_") + tag + "_" + std::to_string(getpid());
}

bool harts_flock() {
    std::string path = temp_path("flock");
    int mine = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK(mine >= 0);
    CHECK(flock(mine, LOCK_EX) == 0);
    std::vector<int> fds(kBlocked);
    for (int &fd : fds) CHECK((fd = open(path.c_str(), O_RDWR)) >= 0);
    bool ok = blocked_do_not_hold_harts(
        {"harts_flock", [&](int i) { return flock(fds[i], LOCK_SH) == 0; },
         [&](int i) {
             if (i == 0) flock(mine, LOCK_UN);
         }});
    for (int fd : fds) close(fd);
    close(mine);
    unlink(path.c_str());
    return ok;
}

bool harts_lockf() {
    std::string path = temp_path("lockf");
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    // Record locks belong to the process: another process must hold it.
    int held[2], go[2];
    CHECK(pipe(held) == 0 && pipe(go) == 0);
    pid_t child = fork();
    if (child == 0) {
        char c;
        bool locked = lockf(fd, F_LOCK, 0) == 0;
        (void)!write(held[1], locked ? "y" : "n", 1);
        (void)!read(go[0], &c, 1);
        _exit(0);
    }
    char c = 0;
    CHECK(read(held[0], &c, 1) == 1 && c == 'y');
    int tested = lockf(fd, F_TEST, 0);
    CHECK(tested == -1 && (errno == EACCES || errno == EAGAIN));
    bool ok = blocked_do_not_hold_harts(
        {"harts_lockf",
         [&](int) { return lockf(fd, F_LOCK, 0) == 0; },
         [&](int i) {
             if (i == 0) (void)!write(go[1], "g", 1);
         }});
    int st = -1;
    CHECK(waitpid(child, &st, 0) == child && WIFEXITED(st));
    CHECK(lockf(fd, F_ULOCK, 0) == 0);
    for (int x : {held[0], held[1], go[0], go[1], fd}) close(x);
    unlink(path.c_str());
    return ok;
}

constexpr size_t kFileBytes = 1 << 20;  // far more than a socket buffer

int pattern_file() {
    int fd = memfd_create("lithe_offload", 0);
    std::vector<char> v(kFileBytes);
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<char>(i * 7);
    if (fd < 0 || write(fd, v.data(), v.size()) != static_cast<ssize_t>(v.size())) abort();
    return fd;
}

// Reads n bytes from fd; true if they are the pattern from `from`.
bool read_pattern(int fd, size_t from, size_t n) {
    std::vector<char> v(n);
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, v.data() + got, n - got);
        if (r <= 0) return false;
        got += static_cast<size_t>(r);
    }
    for (size_t i = 0; i < n; ++i)
        if (v[i] != static_cast<char>((from + i) * 7)) return false;
    return true;
}

bool harts_sendfile() {
    int file = pattern_file();
    std::vector<std::array<int, 2>> s(kBlocked);
    for (auto &x : s) CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, x.data()) == 0);
    std::atomic<int> bad_data{0};
    bool ok = blocked_do_not_hold_harts(
        {"harts_sendfile",
         [&](int i) {
             off_t off = 0;
             size_t sent = 0;
             while (sent < kFileBytes) {  // may come back short
                 ssize_t n = sendfile(s[i][0], file, &off, kFileBytes - sent);
                 if (n <= 0) return false;
                 sent += static_cast<size_t>(n);
             }
             return off == static_cast<off_t>(kFileBytes);
         },
         [&](int i) {
             if (!read_pattern(s[i][1], 0, kFileBytes)) bad_data.fetch_add(1);
         }});
    CHECK(bad_data.load() == 0);
    for (auto &x : s) close(x[0]), close(x[1]);
    close(file);
    return ok;
}

bool harts_splice() {
    // Threads 0, 3, 6, 9 splice, 1, 4, 7 tee from an empty pipe; 2, 5, 8
    // vmsplice into a full one.
    std::vector<std::array<int, 2>> a(kBlocked), b(kBlocked);
    for (int i = 0; i < kBlocked; ++i) {
        CHECK(pipe(a[i].data()) == 0 && pipe(b[i].data()) == 0);
        if (i % 3 == 2) {  // fill b: one page of room, taken
            CHECK(fcntl(b[i][1], F_SETPIPE_SZ, 4096) >= 4096);
            int cap = fcntl(b[i][1], F_GETPIPE_SZ);
            std::vector<char> fill(static_cast<size_t>(cap), 'f');
            CHECK(write(b[i][1], fill.data(), fill.size()) == cap);
        }
    }
    static char msg[] = "v";
    bool ok = blocked_do_not_hold_harts(
        {"harts_splice",
         [&](int i) {
             switch (i % 3) {
             case 0: return splice(a[i][0], nullptr, b[i][1], nullptr, 1, 0) == 1;
             case 1: return tee(a[i][0], b[i][1], 1, 0) == 1;
             default: {
                 struct iovec v = {msg, 1};
                 return vmsplice(b[i][1], &v, 1, 0) == 1;
             }
             }
         },
         [&](int i) {
             if (i % 3 == 2) {
                 std::vector<char> v(8192);
                 (void)!read(b[i][0], v.data(), v.size());
             } else {
                 (void)!write(a[i][1], "s", 1);
             }
         }});
    for (int i = 0; i < kBlocked; ++i)
        for (int fd : {a[i][0], a[i][1], b[i][0], b[i][1]}) close(fd);
    return ok;
}

struct Msg {
    long type;
    char text[8];
};

bool harts_sysv() {
    // Even threads wait in msgrcv on their own queue, odd ones in semop on
    // one semaphore.
    std::vector<int> q(kBlocked, -1);
    for (int i = 0; i < kBlocked; i += 2) CHECK((q[i] = msgget(IPC_PRIVATE, 0600)) >= 0);
    int sem = semget(IPC_PRIVATE, 1, 0600);
    CHECK(sem >= 0);
    bool ok = blocked_do_not_hold_harts(
        {"harts_sysv",
         [&](int i) {
             if (i % 2 == 0) {
                 Msg m{};
                 return msgrcv(q[i], &m, sizeof m.text, 0, 0) ==
                            static_cast<ssize_t>(sizeof m.text) &&
                        m.type == 5 && std::strcmp(m.text, "hello") == 0;
             }
             struct sembuf down = {0, -1, 0};
             return semop(sem, &down, 1) == 0;
         },
         [&](int i) {
             if (i % 2 == 0) {
                 Msg m{5, "hello"};
                 msgsnd(q[i], &m, sizeof m.text, 0);
             } else {
                 struct sembuf up = {0, 1, 0};
                 semop(sem, &up, 1);
             }
         }});
    for (int i = 0; i < kBlocked; i += 2) msgctl(q[i], IPC_RMID, nullptr);
    semctl(sem, 0, IPC_RMID);
    return ok;
}

bool offload_results() {
    // Waits: exit status, signal, ECHILD; WNOHANG answers at once.
    Child c;
    c.start(42);
    int st = -1;
    CHECK(waitpid(c.pid, &st, WNOHANG) == 0);
    pthread_t t = later(20, [&] { c.release(); });
    CHECK(waitpid(c.pid, &st, 0) == c.pid && WIFEXITED(st) && WEXITSTATUS(st) == 42);
    join(t);
    pid_t k = fork();
    if (k == 0) {
        pause();
        _exit(0);
    }
    t = later(20, [&] { kill(k, SIGTERM); });
    siginfo_t si{};
    CHECK(waitid(P_PID, static_cast<id_t>(k), &si, WEXITED) == 0 &&
          si.si_code == CLD_KILLED && si.si_status == SIGTERM);
    join(t);
    errno = 0;
    CHECK(fails_with(waitpid(-1, &st, 0), ECHILD));
    CHECK(fails_with(wait(&st), ECHILD));

    // flock: LOCK_NB on a held lock; EBADF.
    std::string path = temp_path("results");
    int a = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    int b = open(path.c_str(), O_RDWR);
    CHECK(a >= 0 && b >= 0);
    CHECK(flock(a, LOCK_EX) == 0);
    CHECK(fails_with(flock(b, LOCK_EX | LOCK_NB), EWOULDBLOCK));
    t = later(20, [&] { flock(a, LOCK_UN); });
    CHECK(flock(b, LOCK_EX) == 0 && flock(b, LOCK_UN) == 0);
    join(t);
    CHECK(fails_with(flock(-1, LOCK_EX), EBADF));
    CHECK(lockf(a, F_LOCK, 0) == 0 && lockf(a, F_ULOCK, 0) == 0);
    CHECK(fails_with(lockf(-1, F_LOCK, 0), EBADF));
    close(a);
    close(b);
    unlink(path.c_str());

    // sendfile: offset and count; a regular file as the target; EBADF.
    int file = pattern_file();
    int s[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    off_t off = 1000;
    CHECK(sendfile(s[0], file, &off, 3000) == 3000 && off == 4000);
    CHECK(read_pattern(s[1], 1000, 3000));
    int copy = memfd_create("lithe_offload_copy", 0);
    off = 0;
    CHECK(sendfile(copy, file, &off, 4096) == 4096);
    CHECK(lseek(copy, 0, SEEK_SET) == 0 && read_pattern(copy, 0, 4096));
    CHECK(fails_with(sendfile(-1, file, nullptr, 10), EBADF));
    close(copy);
    close(file);
    close(s[0]);
    close(s[1]);

    // splice family: SPLICE_F_NONBLOCK on an empty pipe says EAGAIN.
    int p[2], r[2];
    CHECK(pipe(p) == 0 && pipe(r) == 0);
    CHECK(fails_with(splice(p[0], nullptr, r[1], nullptr, 1, SPLICE_F_NONBLOCK), EAGAIN));
    CHECK(fails_with(tee(p[0], r[1], 1, SPLICE_F_NONBLOCK), EAGAIN));
    CHECK(write(p[1], "ab", 2) == 2);
    CHECK(tee(p[0], r[1], 2, 0) == 2 && splice(p[0], nullptr, r[1], nullptr, 2, 0) == 2);
    char buf[4] = {};
    CHECK(read(r[0], buf, 4) == 4 && std::memcmp(buf, "abab", 4) == 0);
    for (int fd : {p[0], p[1], r[0], r[1]}) close(fd);

    // System V: IPC_NOWAIT, a removed queue (EIDRM) ends a waiting msgrcv.
    int q = msgget(IPC_PRIVATE, 0600);
    CHECK(q >= 0);
    Msg m{};
    CHECK(fails_with(msgrcv(q, &m, sizeof m.text, 0, IPC_NOWAIT), ENOMSG));
    t = later(20, [&] { msgctl(q, IPC_RMID, nullptr); });
    CHECK(fails_with(msgrcv(q, &m, sizeof m.text, 0, 0), EIDRM));
    join(t);
    int sem = semget(IPC_PRIVATE, 1, 0600);
    CHECK(sem >= 0);
    struct sembuf down = {0, -1, IPC_NOWAIT};
    CHECK(fails_with(semop(sem, &down, 1), EAGAIN));
    down.sem_flg = 0;
    struct timespec ms20 = {0, 20'000'000};
    CHECK(fails_with(semtimedop(sem, &down, 1, &ms20), EAGAIN));
    semctl(sem, 0, IPC_RMID);
    return true;
}

const named_checks::Check kChecks[] = {
    {"harts_wait", harts_wait},
    {"harts_flock", harts_flock},
    {"harts_lockf", harts_lockf},
    {"harts_sendfile", harts_sendfile},
    {"harts_splice", harts_splice},
    {"harts_sysv", harts_sysv},
    {"offload_results", in_both<offload_results>},
};

}  // namespace

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    return pthread_test::checks_main(kChecks, argc, argv);
}
