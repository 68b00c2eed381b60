// select.cpp: select and pselect called from a lithe context that may
// switch block the context instead of its hart while nothing is ready
// (poll_wait.hpp); every other caller gets the libc call unchanged.
//
// The fds of the three sets go into a temporary epoll instance (read: IN,
// write: OUT, except: PRI), the context waits for it, and each answer is
// the libc call's own with timeout 0 on the caller's sets, restored from a
// copy before every ask (a call that finds nothing clears them). The
// instance is edge-triggered and drained after each wake-up: select does
// not count every event epoll reports (a hang-up of an fd that is only in
// the except set), and a level-triggered instance would wake the context
// again at once, for ever.
//
// select writes the time left to *timeout, as glibc's (on Linux) does;
// pselect leaves its timespec alone, as glibc's. The plain call: a zero
// or invalid timeout (EINVAL), nfds < 0 (EINVAL) or > FD_SETSIZE (the
// sets' size is then the caller's business). pselect's signal mask: as
// ppoll's (poll.cpp): applied by the plain call, not while the context
// waits (no signal reaches a context; no EINTR).
//
// Runs in the caller's context; no state but the cached libc addresses.
#undef _FORTIFY_SOURCE
#include <poll.h>
#include <signal.h>
#include <sys/select.h>

#include <atomic>
#include <vector>

#include "../../common/next_symbol.hpp"
#include "io_wait.hpp"
#include "poll_wait.hpp"

namespace lithe_pthread {
namespace {

using lithe_adapters::next_symbol;

std::atomic<void *> g_select{nullptr}, g_pselect{nullptr};

int next_select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t) {
    return next_symbol<int (*)(int, fd_set *, fd_set *, fd_set *, struct timeval *)>(
        g_select, "select")(n, r, w, e, t);
}
int next_pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t,
                 const sigset_t *mask) {
    return next_symbol<int (*)(int, fd_set *, fd_set *, fd_set *,
                               const struct timespec *, const sigset_t *)>(
        g_pselect, "pselect")(n, r, w, e, t, mask);
}

// The caller's three sets, the copies they are restored from before each
// ask, and the fds to watch.
class Sets {
  public:
    Sets(int n, fd_set *r, fd_set *w, fd_set *e) : set_{r, w, e} {
        constexpr short kEvents[3] = {POLLIN, POLLOUT, POLLPRI};
        for (int k = 0; k < 3; ++k)
            if (set_[k]) copy_[k] = *set_[k];
        for (int fd = 0; fd < n; ++fd) {
            short ev = 0;
            for (int k = 0; k < 3; ++k)
                if (set_[k] && FD_ISSET(fd, set_[k])) ev |= kEvents[k];
            if (ev) fds_.push_back({fd, ev, 0});
        }
    }
    void restore() {
        for (int k = 0; k < 3; ++k)
            if (set_[k]) *set_[k] = copy_[k];
    }
    // Waits with `ask(ms)` (poll_wait.hpp) until `deadline`.
    template <class Ask>
    int wait(int64_t deadline, const void *caller, Ask ask) {
        return wait_for_fds(fds_.data(), fds_.size(), deadline, true, caller, [&](int ms) {
            restore();
            return ask(ms);
        });
    }
  private:
    fd_set *set_[3];
    fd_set copy_[3];
    std::vector<struct pollfd> fds_;
};

// Sets the adapter watches (else the size of the sets is the caller's
// business: the plain call).
bool watchable(int n) { return n >= 0 && n <= FD_SETSIZE; }

int ctx_select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t,
               const void *caller) {
    if (!watchable(n) ||
        (t && (t->tv_sec < 0 || t->tv_usec < 0 || (t->tv_sec == 0 && t->tv_usec == 0))))
        return next_select(n, r, w, e, t);
    int64_t deadline = kNever;
    // glibc folds tv_usec >= 1 s into tv_sec. (A timeout of 68 years or more
    // is no deadline here, and *t is then left as it was.)
    if (t && t->tv_sec < INT32_MAX) {
        struct timespec ts = {t->tv_sec + t->tv_usec / 1'000'000,
                              (t->tv_usec % 1'000'000) * 1000};
        deadline = deadline_after(ts);
    }
    Sets sets(n, r, w, e);
    int res = sets.wait(deadline, caller, [&](int ms) {
        struct timeval left = {ms / 1000, (ms % 1000) * 1000L};
        return next_select(n, r, w, e, ms < 0 ? nullptr : &left);
    });
    if (deadline != kNever) {  // the time left, as the kernel reports it
        int64_t left = deadline - monotonic_ns();
        if (left < 0) left = 0;
        t->tv_sec = left / 1'000'000'000;
        t->tv_usec = (left % 1'000'000'000) / 1000;
    }
    return res;
}

int ctx_pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t,
                const sigset_t *mask, const void *caller) {
    if (!watchable(n) ||
        (t && (t->tv_sec < 0 || t->tv_nsec < 0 || t->tv_nsec >= 1'000'000'000 ||
               (t->tv_sec == 0 && t->tv_nsec == 0))))
        return next_pselect(n, r, w, e, t, mask);
    Sets sets(n, r, w, e);
    return sets.wait(t ? deadline_after(*t) : kNever, caller, [&](int ms) {
        struct timespec left = {ms / 1000, (ms % 1000) * 1'000'000L};
        return next_pselect(n, r, w, e, ms < 0 ? nullptr : &left, nullptr);
    });
}

}  // namespace
}  // namespace lithe_pthread

using namespace lithe_pthread;

extern "C" {

__attribute__((visibility("default"))) int select(int n, fd_set *r, fd_set *w,
                                                  fd_set *e, struct timeval *t) {
    if (io_passes_through()) return next_select(n, r, w, e, t);
    return ctx_select(n, r, w, e, t, __builtin_return_address(0));
}

__attribute__((visibility("default"))) int pselect(int n, fd_set *r, fd_set *w,
                                                   fd_set *e, const struct timespec *t,
                                                   const sigset_t *mask) {
    if (io_passes_through()) return next_pselect(n, r, w, e, t, mask);
    return ctx_pselect(n, r, w, e, t, mask, __builtin_return_address(0));
}

}  // extern "C"
