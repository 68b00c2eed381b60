// tls_pool.hpp: per-uthread glibc TLS, borrowed from parked "backing"
// pthreads (docs/parlib.md, "Per-uthread TLS").
//
// A TlsSlot is one detached pthread that started, recorded its TCB and
// stack, and parked. Its glibc-allocated stack (with glibc's guard page)
// doubles as the uthread's stack below the parked frame, so
// pthread_getattr_np inside the uthread describes the stack it runs on.
// Releasing a slot lets the backing thread return: glibc then runs the
// uthread's thread_local and pthread-key destructors with the uthread's TLS,
// off the hot path. The first acquire fills the warm pool (PARLIB_TLS_POOL
// slots of the default stack size) itself, synchronously, pinned to its
// CPU; after that a keeper thread refills the pool and performs releases
// in batches, so neither costs a kernel-thread creation or a futex wake on
// the uthread create/exit path. The keeper is started on its first need
// (the pool below half its target, or a release), not before: a program
// whose full-TLS uthreads all fit in the first fill and live to the end has
// no keeper, and nothing of the pool runs while its vcores work.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace parlib {

struct TlsSlot {
    pthread_t thread{};          // joinable; joined by whoever releases it
    uint64_t fsbase = 0;         // the backing thread's TCB (= pthread_self)
    char *stack_lo = nullptr;    // usable uthread stack [stack_lo, stack_hi)
    char *stack_hi = nullptr;
    size_t stack_size = 0;       // requested size class
    std::atomic<uint32_t> ready{0};
    std::atomic<uint32_t> release{0};
    TlsSlot *next = nullptr;
};

// A slot whose stack holds at least `stack_size` bytes; creates backing
// threads synchronously only on the first call (the warm pool's fill) and
// if the warm pool is empty. nullptr + errno on failure. Called from a
// uthread, vcore context or any thread.
TlsSlot *tls_slot_acquire(size_t stack_size);
// Hands the slot back: its backing thread exits (running TLS destructors).
void tls_slot_release(TlsSlot *slot);
// Releases everything queued for release now and returns once those backing
// threads have run their destructors and exited (uthread_tls_flush()).
void tls_pool_flush();
// Prepares the calling thread (about to park for ever holding a uthread's
// TCB): unregisters its rseq area so sched_getcpu asks the kernel.
void tls_detach_rseq();

}  // namespace parlib
