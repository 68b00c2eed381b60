/* xcpu_probe.c: how long one cache line takes to go from one CPU to
 * another and back, right now. Prints the median round trip in ns.
 *
 * Why: on the VMs of docs/perf.md this cost has phases. For a minute or
 * so it can be 3-5x its usual value (~80-130 ns here against ~370-440),
 * and every construct that hands off between CPUs slows down with it,
 * whatever the runtime (docs/perf.md, "Machine phases"). Benchmark
 * scripts run this before each measured process to tell which phase the
 * process ran in (benchmarks/bench_epcc.sh).
 *
 * Method: two threads pinned to the first two CPUs of the process's
 * affinity mask take turns incrementing one 64-byte-aligned counter
 * (each waits for the other's value, so every step is one transfer);
 * 9 batches of 10 000 round trips after a warm-up batch; the median
 * batch. With fewer than two CPUs it prints 0 (no cross-CPU transfer to
 * measure). Plain pthreads, no lithe.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { kRoundTrips = 10000, kBatches = 9 };

static _Alignas(64) atomic_long g_turn;
static int g_cpu[2];

static void pin(int cpu) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(cpu, &s);
  if (pthread_setaffinity_np(pthread_self(), sizeof s, &s) != 0) {
    fprintf(stderr, "xcpu_probe: cannot pin to CPU %d\n", cpu);
    exit(1);
  }
}

/* The responder: turns odd values into the next even one, for
 * (kBatches + 1) * kRoundTrips round trips. */
static void *respond(void *unused) {
  (void)unused;
  pin(g_cpu[1]);
  for (long i = 0; i < (long)(kBatches + 1) * kRoundTrips; ++i) {
    while (atomic_load_explicit(&g_turn, memory_order_acquire) != 2 * i + 1) {
    }
    atomic_store_explicit(&g_turn, 2 * i + 2, memory_order_release);
  }
  return NULL;
}

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(void) {
  cpu_set_t mask;
  if (sched_getaffinity(0, sizeof mask, &mask) != 0) return 1;
  int found = 0;
  for (int c = 0; c < CPU_SETSIZE && found < 2; ++c)
    if (CPU_ISSET(c, &mask)) g_cpu[found++] = c;
  if (found < 2) {
    puts("0");
    return 0;
  }
  pin(g_cpu[0]);
  pthread_t t;
  if (pthread_create(&t, NULL, respond, NULL) != 0) return 1;
  double batch[kBatches];
  long i = 0;
  for (int b = -1; b < kBatches; ++b) {  // batch -1 warms up
    double t0 = now_ns();
    for (long end = i + kRoundTrips; i < end; ++i) {
      atomic_store_explicit(&g_turn, 2 * i + 1, memory_order_release);
      while (atomic_load_explicit(&g_turn, memory_order_acquire) != 2 * i + 2) {
      }
    }
    if (b >= 0) batch[b] = (now_ns() - t0) / kRoundTrips;
  }
  pthread_join(t, NULL);
  qsort(batch, kBatches, sizeof batch[0], cmp_double);
  printf("%.1f\n", batch[kBatches / 2]);
  return 0;
}
