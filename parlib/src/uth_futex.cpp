// uth_futex.cpp: the user-space futex table (parlib/futex.h). (futex.hpp is
// the unrelated raw kernel futex that parks kernel threads.)
//
// A fixed table of buckets, each a spinlock guarding one wait queue; a
// waiter is queued in the bucket its address hashes to, keyed by the
// address. The value is read under the bucket lock, which wake also takes,
// so "saw the old value" and "queued" are atomic with respect to wake.
#include "parlib/futex.h"

#include <cerrno>

#include "parlib/vcore.h"
#include "wait_queue.hpp"

namespace parlib {
namespace {

constexpr unsigned kBucketBits = 8;

struct alignas(64) Bucket {
    spinlock_t lock = SPINLOCK_INITIALIZER;
    uth_wait_queue wq = UTH_WAIT_QUEUE_INIT;
};
Bucket g_buckets[1u << kBucketBits];

Bucket &bucket_of(const uint32_t *addr) {
    auto a = reinterpret_cast<uintptr_t>(addr) >> 2;
    return g_buckets[(a * 0x9E3779B97F4A7C15ull) >> (64 - kBucketBits)];
}

}  // namespace
}  // namespace parlib

using namespace parlib;

extern "C" {

int uth_futex_wait(uint32_t *addr, uint32_t val, int64_t timeout_us) {
    check_may_block("uth_futex_wait");
    Bucket &b = bucket_of(addr);
    Wait wait(&b.lock, &b.wq, reinterpret_cast<uintptr_t>(addr));
    if (timeout_us >= 0)
        wait.set_deadline(parlib_now_us() + static_cast<uint64_t>(timeout_us));
    spin_lock(&b.lock);
    if (__atomic_load_n(addr, __ATOMIC_SEQ_CST) != val) {
        spin_unlock(&b.lock);
        return EAGAIN;
    }
    return wait.block() ? 0 : ETIMEDOUT;
}

int uth_futex_wake(uint32_t *addr, int n) {
    if (n <= 0) return 0;
    Bucket &b = bucket_of(addr);
    unsigned woken = 0;
    spin_lock(&b.lock);
    Waiter *list = wq_take_key(&b.wq, reinterpret_cast<uintptr_t>(addr),
                               static_cast<unsigned>(n), &woken);
    spin_unlock(&b.lock);
    wake_list(list);
    return static_cast<int>(woken);
}

}  // extern "C"
