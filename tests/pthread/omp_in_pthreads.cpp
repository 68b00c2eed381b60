// omp_in_pthreads.cpp: the thesis' Flickr-like server shape (§3.4): a pool
// of pthreads, each serving "requests" whose work is an OpenMP parallel
// region, on liblithe_pthread + liblithe_omp. Checks the regions' results,
// that every thread and every OpenMP team member ran as a lithe context,
// that OpenMP regions got more than one member, and that all of it ran on
// at most as many kernel threads as there are harts (the vcores): the
// pthreads and the OpenMP teams share the harts instead of each runtime
// making its own kernel threads.
//
// With the argument "thread_per_thumbnail" each request instead creates
// kThumbs pthreads that each run the region and joins them (the thesis'
// server makes its 9 thumbnails that way): contexts are made and cleaned
// up all the time, by pthread_create and by the regions' teams, on every
// hart at once, while the pthreads adapter's slicer pauses threads: the
// shape of benchmarks/bench_server.c, where parlib's TLS pool once
// livelocked (a lock holder paused; tests/parlib/test_tls_pool_locking.cpp
// pins the fix; this run did not show the livelock, it is a stress).
#include <omp.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "check_or_return.hpp"

extern "C" {
int lithe_num_harts(void);
void *lithe_context_self(void);
}

namespace {

constexpr int kThreads = 6, kThumbs = 9;
bool g_thread_per_thumbnail = false;
// Per region; thumbnails are longer (about a millisecond, so that the
// slicer's ticks find threads running) and fewer.
int g_requests = 40, g_n = 4000;

std::mutex g_seen_mu;  // pthread_mutex_lock: the adapter's
std::set<long> g_kernel_tids;
std::atomic<int> g_not_lithe{0}, g_wide_regions{0}, g_bad{0};

void note_tid() {
    long t = syscall(SYS_gettid);
    std::lock_guard<std::mutex> g(g_seen_mu);
    g_kernel_tids.insert(t);
}

// One "thumbnail": an OpenMP region filling img from (id, r); checked.
void thumbnail(long id, int r) {
    std::vector<double> img(g_n);
    int members = 0;
#pragma omp parallel
    {
        if (!lithe_context_self()) g_not_lithe.fetch_add(1);
#pragma omp single
        members = omp_get_num_threads();
#pragma omp for
        for (int i = 0; i < g_n; ++i) img[i] = double(i) * (id + 1) + r;
        note_tid();
    }
    if (members > 1) g_wide_regions.fetch_add(1);
    double sum = 0;
    for (double v : img) sum += v;
    double want = (id + 1) * (double(g_n) * (g_n - 1) / 2) + double(r) * g_n;
    if (sum != want) g_bad.fetch_add(1);
}

struct Thumb {
    long id;
    int r;
};

void *thumbnail_thread(void *p) {
    auto *t = static_cast<Thumb *>(p);
    if (!lithe_context_self()) g_not_lithe.fetch_add(1);
    thumbnail(t->id, t->r);
    return nullptr;
}

void *serve(void *p) {
    long id = reinterpret_cast<long>(p);
    if (!lithe_context_self()) g_not_lithe.fetch_add(1);
    for (int r = 0; r < g_requests; ++r) {
        if (!g_thread_per_thumbnail) {
            thumbnail(id, r);
            continue;
        }
        pthread_t th[kThumbs];
        Thumb t[kThumbs];
        for (int k = 0; k < kThumbs; ++k) {
            t[k] = {id * kThumbs + k, r};
            if (pthread_create(&th[k], nullptr, thumbnail_thread, &t[k]) != 0) {
                g_bad.fetch_add(1);
                th[k] = pthread_t();
            }
        }
        for (int k = 0; k < kThumbs; ++k)
            if (th[k] != pthread_t() && pthread_join(th[k], nullptr) != 0) g_bad.fetch_add(1);
    }
    note_tid();
    return nullptr;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc > 1) {
        CHECK_IN_MAIN(std::string(argv[1]) == "thread_per_thumbnail");
        g_thread_per_thumbnail = true;
        g_requests = 8;
        g_n = 400000;
    }
    int harts = lithe_num_harts();
    std::vector<pthread_t> th(kThreads);
    for (long i = 0; i < kThreads; ++i)
        CHECK_IN_MAIN(pthread_create(&th[i], nullptr, serve, reinterpret_cast<void *>(i)) == 0);
    for (pthread_t t : th) CHECK_IN_MAIN(pthread_join(t, nullptr) == 0);
    std::printf("omp_in_pthreads: %d threads x %d requests of %d region(s)%s, %d harts, "
                "%zu kernel threads ran them, %d regions had more than one member\n",
                kThreads, g_requests, g_thread_per_thumbnail ? kThumbs : 1,
                g_thread_per_thumbnail ? " on a pthread each" : "", harts,
                g_kernel_tids.size(), g_wide_regions.load());
    CHECK_IN_MAIN(g_bad.load() == 0);
    CHECK_IN_MAIN(g_not_lithe.load() == 0);
    CHECK_IN_MAIN(static_cast<int>(g_kernel_tids.size()) <= harts);
    CHECK_IN_MAIN(harts < 2 || g_wide_regions.load() > 0);
    return 0;
}
