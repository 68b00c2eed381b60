// helper_thread.cpp: parlib_helper_thread_start (parlib/helper_thread.h).
// Stateless: each call creates one detached thread; the caller owns what
// the thread does and how it ends.
#include "parlib/helper_thread.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

int parlib_helper_thread_start(const char *name, size_t stack_size,
                               void *(*fn)(void *), void *arg) {
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, stack_size);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    sigset_t all;
    sigfillset(&all);
    pthread_attr_setsigmask_np(&a, &all);
    cpu_set_t cpus;
    if (sched_getaffinity(getpid(), sizeof cpus, &cpus) == 0)
        pthread_attr_setaffinity_np(&a, sizeof cpus, &cpus);
    pthread_t t;
    int rc = pthread_create(&t, &a, fn, arg);
    pthread_attr_destroy(&a);
    if (rc == 0) pthread_setname_np(t, name);
    return rc;
}
