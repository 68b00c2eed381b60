// omp_task_memory.cpp: task memory is recycled across members (adapters/omp/
// src/task.cpp, "Task memory"). One member creates every task and the
// others run (and so free) most of them; in the steady state the tasks'
// blocks must come back to the creator through the shared pool instead of
// through malloc on both sides (where glibc's arena locks, contended
// between creator and thieves, slept vcores in the kernel).
//
// The program counts the aligned operator new calls that liblithe_omp
// makes for task blocks (its definitions here precede libstdc++'s in
// symbol lookup) during 20 regions of 20 000 tasks after two warm-up
// regions, and requires fewer than 1 per 100 tasks. Under
// AddressSanitizer the adapter caches nothing (a use of a freed task must
// be reported), so TASK_MEMORY_CACHED=0 turns the bound off.

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>

namespace {
std::atomic<long> g_aligned_news{0};
std::atomic<long> g_sink{0};

long work(long i) {
    long a = i;
    for (int k = 0; k < 200; ++k) a = a * 31 + k;
    return a;
}

void region(int tasks) {
#pragma omp parallel num_threads(4)
#pragma omp single
    for (int i = 0; i < tasks; ++i) {
#pragma omp task firstprivate(i)
        g_sink.fetch_add(work(i) & 1, std::memory_order_relaxed);
    }
}
}  // namespace

void *operator new(std::size_t n, std::align_val_t a) {
    g_aligned_news.fetch_add(1, std::memory_order_relaxed);
    std::size_t al = static_cast<std::size_t>(a);
    void *p = std::aligned_alloc(al, (n + al - 1) / al * al);
    if (!p) throw std::bad_alloc();
    return p;
}
void operator delete(void *p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void *p, std::size_t, std::align_val_t) noexcept { std::free(p); }

int main() {
    constexpr int kTasks = 20000, kRegions = 20;
    region(kTasks);
    region(kTasks);
    long before = g_aligned_news.load();
    for (int r = 0; r < kRegions; ++r) region(kTasks);
    long news = g_aligned_news.load() - before;
    const char *cached = std::getenv("TASK_MEMORY_CACHED");
    bool bound = !(cached && cached[0] == '0');
    std::printf("omp_task_memory: %ld aligned operator new calls for %d tasks%s\n",
                news, kTasks * kRegions,
                bound ? "" : " (not bounded: TASK_MEMORY_CACHED=0)");
    if (bound && news * 100 >= long{kTasks} * kRegions) {
        std::fprintf(stderr, "omp_task_memory: task blocks went through malloc\n");
        return 1;
    }
    return 0;
}
