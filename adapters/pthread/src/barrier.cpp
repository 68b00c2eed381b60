// barrier.cpp: pthread_barrier_wait and _destroy on the object's own
// storage, for every caller (as mutex.cpp).
//
// glibc's layout (nptl/pthreadP.h struct pthread_barrier, as
// pthread_barrier_init leaves it): `in` counts arrivals of the current
// round, `current_round` is the round number and the futex word waiters
// wait on, `count` the number of threads, `shared` glibc's futex flag:
// 0 (glibc's FUTEX_PRIVATE) for a process-private barrier, 128
// (FUTEX_SHARED) for a process-shared one (those go to glibc, wait and
// destroy alike). A waiter reads the round, then counts
// itself in; the last one of a round resets `in`, advances the round
// (release) and wakes everyone; the others wait while the round is the one
// they read. A thread of the next round can only arrive after it saw the
// round advance, hence after `in` was reset. pthread_barrier_destroy
// answers EBUSY while a round is under way (glibc's would wait for its
// own counters, which this protocol does not keep).
#include <parlib/futex.h>

#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <climits>

#include "../../common/next_symbol.hpp"
#include "wait.hpp"

namespace lithe_pthread {
namespace {

struct GlibcBarrier {
    unsigned in;
    unsigned current_round;
    unsigned count;
    int shared;
    unsigned out;
};
static_assert(sizeof(GlibcBarrier) <= sizeof(pthread_barrier_t));
bool process_shared(const GlibcBarrier *b) { return b->shared != 0; }

std::atomic<void *> g_next_wait{nullptr}, g_next_destroy{nullptr};

GlibcBarrier *as_glibc(pthread_barrier_t *b) {
    return reinterpret_cast<GlibcBarrier *>(b);
}

}  // namespace
}  // namespace lithe_pthread

using namespace lithe_pthread;
using lithe_adapters::next_symbol;

extern "C" {

__attribute__((visibility("default"))) int pthread_barrier_wait(
    pthread_barrier_t *pb) noexcept {
    GlibcBarrier *b = as_glibc(pb);
    if (process_shared(b))
        return next_symbol<int (*)(pthread_barrier_t *)>(
            g_next_wait, "pthread_barrier_wait")(pb);
    unsigned round = __atomic_load_n(&b->current_round, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&b->in, 1, __ATOMIC_ACQ_REL) == b->count) {
        __atomic_store_n(&b->in, 0, __ATOMIC_RELAXED);
        __atomic_fetch_add(&b->current_round, 1, __ATOMIC_RELEASE);
        uth_futex_wake(&b->current_round, INT_MAX);
        return PTHREAD_BARRIER_SERIAL_THREAD;
    }
    while (__atomic_load_n(&b->current_round, __ATOMIC_ACQUIRE) == round)
        wait_word(&b->current_round, round, Deadline{});
    return 0;
}

__attribute__((visibility("default"))) int pthread_barrier_destroy(
    pthread_barrier_t *pb) noexcept {
    GlibcBarrier *b = as_glibc(pb);
    if (process_shared(b))
        return next_symbol<int (*)(pthread_barrier_t *)>(
            g_next_destroy, "pthread_barrier_destroy")(pb);
    return __atomic_load_n(&b->in, __ATOMIC_ACQUIRE) != 0 ? EBUSY : 0;
}

}  // extern "C"
