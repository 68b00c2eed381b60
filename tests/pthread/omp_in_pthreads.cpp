// omp_in_pthreads.cpp: the thesis' Flickr-like server shape (§3.4): a pool
// of pthreads, each serving "requests" whose work is an OpenMP parallel
// region, on liblithe_pthread + liblithe_omp. Checks the regions' results,
// that every thread and every OpenMP team member ran as a lithe context,
// that OpenMP regions got more than one member, and that all of it ran on
// at most as many kernel threads as there are harts (the vcores): the
// pthreads and the OpenMP teams share the harts instead of each runtime
// making its own kernel threads.
#include <omp.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <set>
#include <vector>

#include "check_or_return.hpp"

extern "C" {
int lithe_num_harts(void);
void *lithe_context_self(void);
}

namespace {

constexpr int kThreads = 6, kRequests = 40, kN = 4000;

std::mutex g_seen_mu;  // pthread_mutex_lock: the adapter's
std::set<long> g_kernel_tids;
std::atomic<int> g_not_lithe{0}, g_wide_regions{0}, g_bad{0};

void note_tid() {
    long t = syscall(SYS_gettid);
    std::lock_guard<std::mutex> g(g_seen_mu);
    g_kernel_tids.insert(t);
}

void *serve(void *p) {
    long id = reinterpret_cast<long>(p);
    if (!lithe_context_self()) g_not_lithe.fetch_add(1);
    for (int r = 0; r < kRequests; ++r) {
        std::vector<double> img(kN);
        int members = 0;
#pragma omp parallel
        {
            if (!lithe_context_self()) g_not_lithe.fetch_add(1);
#pragma omp single
            members = omp_get_num_threads();
#pragma omp for
            for (int i = 0; i < kN; ++i) img[i] = double(i) * (id + 1) + r;
            note_tid();
        }
        if (members > 1) g_wide_regions.fetch_add(1);
        double sum = 0;
        for (double v : img) sum += v;
        double want = (id + 1) * (double(kN) * (kN - 1) / 2) + double(r) * kN;
        if (sum != want) g_bad.fetch_add(1);
    }
    note_tid();
    return nullptr;
}

}  // namespace

int main() {
    int harts = lithe_num_harts();
    std::vector<pthread_t> th(kThreads);
    for (long i = 0; i < kThreads; ++i)
        CHECK_IN_MAIN(pthread_create(&th[i], nullptr, serve, reinterpret_cast<void *>(i)) == 0);
    for (pthread_t t : th) CHECK_IN_MAIN(pthread_join(t, nullptr) == 0);
    std::printf("omp_in_pthreads: %d threads x %d regions, %d harts, %zu kernel "
                "threads ran them, %d regions had more than one member\n",
                kThreads, kRequests, harts, g_kernel_tids.size(), g_wide_regions.load());
    CHECK_IN_MAIN(g_bad.load() == 0);
    CHECK_IN_MAIN(g_not_lithe.load() == 0);
    CHECK_IN_MAIN(static_cast<int>(g_kernel_tids.size()) <= harts);
    CHECK_IN_MAIN(harts < 2 || g_wide_regions.load() > 0);
    return 0;
}
