// tbb_on_lithe.cpp: proves that TBB really runs its workers through our
// server when liblithe_tbb is linked (the CMake target way): TBB work runs
// only in lithe contexts (a TBB private worker thread is not one), some of
// it in worker contexts made for TBB jobs, the adapter's counters show a
// server, jobs and process() calls, and the process gained no threads
// beyond what those contexts account for. Run with PARLIB_TLS_POOL=0 (no
// spare backing threads made ahead): then each context with its own TLS
// adds one backing thread, and parlib's TLS-pool keeper thread may start
// (on the first context cleaned up); the adapter adds no thread of its own
// (rests end by parlib alarms); TBB's private pool would add threads on
// top.
#include <lithe/lithe.h>
#include <lithe/tbb.h>

#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <atomic>
#include <cstdio>
#include <dirent.h>

#include "check_or_return.hpp"

#define CHECK CHECK_IN_MAIN

namespace {

int count_threads() {
    int n = 0;
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    while (struct dirent *e = readdir(d))
        if (e->d_name[0] != '.') ++n;
    closedir(d);
    return n;
}

std::atomic<int> outside_lithe{0};  // task bodies not in a lithe context
std::atomic<int> on_workers{0};     // task bodies in a context != main
lithe_context_t *main_ctx;

void note_context() {
    lithe_context_t *c = lithe_context_self();
    if (!c) ++outside_lithe;
    else if (c != main_ctx) ++on_workers;
}

}  // namespace

int main() {
    main_ctx = lithe_context_self();
    CHECK(main_ctx != nullptr);
    CHECK(!lithe_tbb_active());
    int threads_before = count_threads();

    tbb::parallel_for(0, 100000, [](int) { note_context(); });

    // Enqueued tasks run only on workers; block main until they ran, so a
    // worker context gets a hart even when there is only one.
    tbb::task_arena arena;
    std::atomic<int> done{0};
    std::atomic<lithe_context_t *> waiter{nullptr};
    for (int i = 0; i < 50; ++i)
        arena.enqueue([&] {
            note_context();
            if (++done == 50)
                if (lithe_context_t *w = waiter.exchange(nullptr))
                    lithe_context_unblock(w);
        });
    struct Wait {
        std::atomic<int> *done;
        std::atomic<lithe_context_t *> *waiter;
    } w{&done, &waiter};
    lithe_context_block(
        [](lithe_context_t *self, void *p) {
            auto *w = static_cast<Wait *>(p);
            w->waiter->store(self);
            if (w->done->load() == 50 && w->waiter->exchange(nullptr))
                lithe_context_unblock(self);
        },
        &w);
    CHECK(done.load() == 50);

    struct lithe_tbb_stats st;
    lithe_tbb_get_stats(&st);
    std::printf("servers %llu jobs %llu process %llu peak %llu; tasks on "
                "workers %d; threads %d -> %d\n",
                (unsigned long long)st.servers, (unsigned long long)st.jobs,
                (unsigned long long)st.process_calls,
                (unsigned long long)st.peak_workers, on_workers.load(),
                threads_before, count_threads());
    CHECK(lithe_tbb_active());
    CHECK(st.refused == 0);
    CHECK(st.servers == 1);
    CHECK(st.jobs >= 1);
    CHECK(st.process_calls >= 1);
    CHECK(st.peak_workers >= 1);
    CHECK(outside_lithe.load() == 0);
    CHECK(on_workers.load() >= 1);
    // One per worker context, one for the holder context, the keeper (if
    // a release started it).
    CHECK(count_threads() - threads_before <= int(st.jobs) + 2);
    return 0;
}
