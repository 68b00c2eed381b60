// slicer.hpp: time-slicing of the adapter's threads (slicer.cpp,
// docs/pthread.md "Time slicing").
//
// Threads are contexts, switched only when they block or yield: one that
// busy-waits keeps its hart, and with as many busy-waiters as harts the
// thread they wait for never runs. While any adapter thread lives, every
// hart is interrupted once a slice (LITHE_PTHREAD_SLICE_US), and a thread
// (or the main thread, once it has made threads) that ran a whole slice
// while others wait for a hart is paused: back of the queue.
//
// Contexts: slicer_thread_started from the creating context
// (pthread_create), slicer_thread_body_starts from the new thread,
// slicer_thread_exited from hart context (context_exit).
#pragma once

#include <lithe/lithe.h>

namespace lithe_pthread {

// Slicing on (LITHE_PTHREAD_SLICE_US != 0; a malformed value is fatal).
bool slicing_enabled();

// A thread of scheduler `ours` is about to be made runnable: ticks run
// while any lives. The caller, a context that may switch, becomes
// preemptible if it is a context of the base scheduler (the main thread).
void slicer_thread_started(lithe_sched_t *ours);
void slicer_thread_exited();

// The calling thread (its first instruction) becomes preemptible.
void slicer_thread_body_starts();

}  // namespace lithe_pthread
