// thread.hpp: a pthread made by liblithe_pthread, i.e. a lithe context of
// the process's pthread scheduler (pthread_sched.hpp), and the registry that
// maps its pthread_t to it.
//
// A Thread's pthread_t is the TCB of the parked backing thread whose TLS the
// context runs with (parlib's full-TLS uthreads), so pthread_self() in the
// thread equals what pthread_create returned, and pthread_equal works.
//
// Ownership and locking: the registry lock (registry_lock(), a
// lithe::SpinLock, usable from contexts, hart context and foreign threads)
// guards the registry and each Thread's `detached`, `joining` and `exited`.
// `done` is the futex word joiners wait on (0 -> 1 once, written under the
// registry lock by the exiting context's context_exit callback). `start`,
// `arg` and `handle` are written before the thread first runs and read-only
// afterwards; `ret`, `exit_jmp` and `exit_frame` are the thread's own (its
// return value or pthread_exit's, read by the joiner after `done`). Whoever takes a
// Thread out of the registry (its joiner, pthread_detach of an exited
// thread, or context_exit of a detached one) cleans it up and deletes it.
#pragma once

#include <lithe/lithe.hpp>

#include <pthread.h>
#include <setjmp.h>

#include <cstdint>

namespace lithe_pthread {

struct Thread final : lithe::Context {
    void *(*start)(void *) = nullptr;
    void *arg = nullptr;
    void *ret = nullptr;
    pthread_t handle = 0;
    jmp_buf *exit_jmp = nullptr;  // pthread_exit's landing in the thread body
    uintptr_t exit_frame = 0;     // an address in the body's frame
    uint32_t done = 0;  // futex word: 1 once the thread has exited
    bool detached = false, joining = false, exited = false;
};

// The calling context's Thread, or nullptr (not a thread of the adapter).
Thread *self_thread();

// Called by the pthread scheduler's context_exit callback (hart context):
// wakes the joiner, or cleans up a detached thread.
void thread_exited(Thread &t);

// If `th` names a Thread of the adapter, joins it (waiting as the caller
// may: wait.hpp's wait_word) and returns true with *rc the result; false
// for any other thread. With `abstime` (absolute, on `clock`) or
// `try_only` the wait is bounded (ETIMEDOUT / EBUSY).
bool join_thread(pthread_t th, void **ret, int *rc, bool try_only,
                 const struct timespec *abstime, clockid_t clock);

}  // namespace lithe_pthread
