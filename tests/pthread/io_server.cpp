// io_server.cpp: the mission's case, a pthreads server whose request
// handlers run OpenMP regions, on liblithe_pthread + liblithe_omp. Each of
// kConns connections (socketpairs; more than the harts of any test run) has
// a handler thread that waits for requests in recv (MSG_WAITALL), computes
// the answer with an `omp parallel for` reduction and sends it back, and a
// client thread that sends requests at a random pace and checks the
// answers. Handlers idle in recv most of the time: on kernel-blocking recv
// they would hold every hart and the clients could not run (a hang, which
// the watchdog turns into a failure). Also checks that every handler, client
// and team member ran as a lithe context, on at most as many kernel threads
// as harts, and that some regions got more than one member.
#include <omp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <random>
#include <set>
#include <vector>

#include "check_or_return.hpp"
#include "pthread_test_support.hpp"

namespace {

constexpr int kConns = 8, kRequests = 25;

struct Request {
    long seed, n;
};

long answer_of(const Request &q) {  // what a handler must compute
    long s = 0;
    for (long k = 0; k < q.n; ++k) s += (q.seed * k) % 97;
    return s;
}

std::mutex g_seen_mu;
std::set<long> g_kernel_tids;
std::atomic<int> g_not_lithe{0}, g_wide{0}, g_bad{0}, g_served{0};

void note() {
    if (!pthread_test::on_lithe_now()) g_not_lithe.fetch_add(1);
    long t = syscall(SYS_gettid);
    std::lock_guard<std::mutex> g(g_seen_mu);
    g_kernel_tids.insert(t);
}

void *handler(void *p) {
    int fd = static_cast<int>(reinterpret_cast<long>(p));
    note();
    Request q;
    while (recv(fd, &q, sizeof q, MSG_WAITALL) == sizeof q) {
        long sum = 0;
        int members = 0;
#pragma omp parallel reduction(+ : sum)
        {
            note();
#pragma omp single
            members = omp_get_num_threads();
#pragma omp for
            for (long k = 0; k < q.n; ++k) sum += (q.seed * k) % 97;
        }
        if (members > 1) g_wide.fetch_add(1);
        if (send(fd, &sum, sizeof sum, 0) != sizeof sum) g_bad.fetch_add(1);
        g_served.fetch_add(1);
    }
    note();
    close(fd);
    return nullptr;
}

void *client(void *p) {
    int fd = static_cast<int>(reinterpret_cast<long>(p));
    note();
    std::mt19937 rng(static_cast<unsigned>(fd));
    for (int r = 0; r < kRequests; ++r) {
        usleep(rng() % 2000);  // requests arrive at a random pace
        Request q{static_cast<long>(rng() % 1000) + 1, 20000 + static_cast<long>(rng() % 20000)};
        long got = -1;
        if (send(fd, &q, sizeof q, 0) != sizeof q ||
            recv(fd, &got, sizeof got, MSG_WAITALL) != sizeof got || got != answer_of(q))
            g_bad.fetch_add(1);
    }
    close(fd);  // the handler sees EOF
    return nullptr;
}

}  // namespace

int main() {
    pthread_test::Watchdog dog(60, "io_server");
    int harts = lithe_num_harts();
    std::vector<pthread_t> th;
    for (int c = 0; c < kConns; ++c) {
        int sv[2];
        CHECK_IN_MAIN(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
        pthread_t h, k;
        CHECK_IN_MAIN(pthread_create(&h, nullptr, handler, reinterpret_cast<void *>(long(sv[0]))) == 0);
        CHECK_IN_MAIN(pthread_create(&k, nullptr, client, reinterpret_cast<void *>(long(sv[1]))) == 0);
        th.push_back(h);
        th.push_back(k);
    }
    for (pthread_t t : th) CHECK_IN_MAIN(pthread_join(t, nullptr) == 0);
    std::printf("io_server: %d connections x %d requests, %d harts, %zu kernel threads "
                "ran them, %d regions had more than one member\n",
                kConns, kRequests, harts, g_kernel_tids.size(), g_wide.load());
    CHECK_IN_MAIN(g_bad.load() == 0);
    CHECK_IN_MAIN(g_served.load() == kConns * kRequests);
    CHECK_IN_MAIN(g_not_lithe.load() == 0);
    CHECK_IN_MAIN(static_cast<int>(g_kernel_tids.size()) <= harts);
    CHECK_IN_MAIN(harts < 2 || g_wide.load() > 0);
    return 0;
}
