/* omp_join.c: a team member joining a pthread that waits for a teammate.
 * With one hart the joiner must give the hart up while it waits (the
 * adapters' pthread_join guard, docs/omp.md), or the teammate that ends
 * the wait never runs. Also a join from the initial thread, a join of a
 * thread that has already ended, and the joined thread's return value. */
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "check.h"

static atomic_int flag;

static void *waiter(void *arg) {
    while (!atomic_load(&flag)) usleep(50);
    return arg;
}

static void *quick(void *arg) { return arg; }

int main(void) {
    for (int round = 0; round < 20; ++round) {
        atomic_store(&flag, 0);
        pthread_t t;
        CHECK(pthread_create(&t, NULL, waiter, (void *)(long)(round + 1)) == 0);
        void *ret = NULL;
        int joined = 0, released = 0;
#pragma omp parallel num_threads(2)
        {
            if (omp_get_thread_num() == 0) {
                CHECK(pthread_join(t, &ret) == 0);
                joined = 1;
            } else {
                atomic_store(&flag, 1);
                released = 1;
            }
        }
        CHECK(joined && released && ret == (void *)(long)(round + 1));
    }
    pthread_t q;
    CHECK(pthread_create(&q, NULL, quick, (void *)7L) == 0);
    usleep(2000); /* usually ended by now: the join returns at once */
    void *ret = NULL;
    CHECK(pthread_join(q, &ret) == 0 && ret == (void *)7L);
    printf("omp_join: ok\n");
    return 0;
}
