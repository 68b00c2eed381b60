/* bench_epcc.c: EPCC-style (syncbench/taskbench) OpenMP construct
 * overheads, one process = one measurement of every construct; prints
 * "CONSTRUCT overhead_us" lines for benchmarks/bench_epcc.sh, which runs
 * it on several runtimes in interleaved rounds and takes medians.
 *
 * Plain OpenMP C, built by gcc (GOMP_* ABI) and clang-14 (__kmpc_* ABI)
 * and linked against libgomp / libomp / liblithe_omp by
 * benchmarks/omp_programs.cmake: the runtime is chosen at link time, so
 * nothing here knows which one runs.
 *
 * Method (EPCC): per construct, time `reps` repetitions of the construct
 * around delay() (a fixed spin of about DELAY_US), subtract the reference
 * (the same number of delay() calls without the construct) and divide by
 * reps. reps doubles until the timed loop takes at least TARGET_S; the
 * overhead is the median of SAMPLES such timings. Team size: the
 * runtime's default (OMP_NUM_THREADS); NESTED always runs an outer team
 * of 2 whose members each open inner teams of 2 (needs
 * OMP_MAX_ACTIVE_LEVELS >= 2, set by the script) and its value is per
 * inner region. CRITICAL and TASK split reps over the team, so their
 * value is per construct instance of one thread. CRITICAL's instances run
 * one at a time, so its reference is all reps delays; TASK's run in
 * parallel on up to P = min(team, CPUs) CPUs, so its ideal is reps / P
 * delays and its value is per task on one of those CPUs (EPCC gives each
 * thread its own reps instead; subtracting a serial reference from tasks
 * that ran in parallel made every runtime's TASK overhead negative).
 */
#define _GNU_SOURCE
#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#define DELAY_US 0.1
#define TARGET_S 0.02
#define SAMPLES 3

static int delay_len;  // spin iterations for DELAY_US, set once by main

static void delay(int n) {
  int a = 0;
  for (int i = 0; i < n; ++i) {
    a += i;
    __asm__ volatile("" : "+r"(a));  // keep the loop, do not vectorise it
  }
}

static void ref_loop(int reps) {
  for (int j = 0; j < reps; ++j) delay(delay_len);
}

static void parallel_loop(int reps) {
  for (int j = 0; j < reps; ++j) {
#pragma omp parallel
    delay(delay_len);
  }
}

static void for_loop(int reps) {
#pragma omp parallel
  {
    int n = omp_get_num_threads();
    for (int j = 0; j < reps; ++j) {
#pragma omp for
      for (int i = 0; i < n; ++i) delay(delay_len);
    }
  }
}

static void barrier_loop(int reps) {
#pragma omp parallel
  for (int j = 0; j < reps; ++j) {
    delay(delay_len);
#pragma omp barrier
  }
}

static void single_loop(int reps) {
#pragma omp parallel
  for (int j = 0; j < reps; ++j) {
#pragma omp single
    delay(delay_len);
  }
}

static void critical_loop(int reps) {
#pragma omp parallel
  {
    int mine = reps / omp_get_num_threads();
    for (int j = 0; j < mine; ++j) {
#pragma omp critical
      delay(delay_len);
    }
  }
}

static int reduction_sink;

static void reduction_loop(int reps) {
  for (int j = 0; j < reps; ++j) {
    int sum = 0;
#pragma omp parallel reduction(+ : sum)
    {
      delay(delay_len);
      sum += 1;
    }
    reduction_sink += sum;
  }
}

static void task_loop(int reps) {
#pragma omp parallel
  {
    int mine = reps / omp_get_num_threads();
    for (int j = 0; j < mine; ++j) {
#pragma omp task
      delay(delay_len);
    }
  }
}

static void taskwait_loop(int reps) {
#pragma omp parallel
  for (int j = 0; j < reps; ++j) {
#pragma omp task
    delay(delay_len);
#pragma omp taskwait
  }
}

static void nested_loop(int reps) {
#pragma omp parallel num_threads(2)
  for (int j = 0; j < reps / 2; ++j) {
#pragma omp parallel num_threads(2)
    delay(delay_len);
  }
}

// Seconds taken by the first loop(reps) with reps doubling from 1 that
// takes at least TARGET_S; *reps_out = that reps.
static double timed(void (*loop)(int), int *reps_out) {
  for (int reps = 1;; reps *= 2) {
    double t0 = omp_get_wtime();
    loop(reps);
    double t = omp_get_wtime() - t0;
    if (t >= TARGET_S || reps >= (1 << 24)) {
      *reps_out = reps;
      return t;
    }
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

// CPUs that can run a team's tasks at once: min(team size, CPUs this
// process may use), counted the same way whichever runtime runs it.
static int parallel_width(void) {
  cpu_set_t set;
  int cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  int team = omp_get_max_threads();
  return team < cpus ? team : cpus;
}

// Median over SAMPLES of (construct time - reference time) / (reps / width),
// in µs: the reference is reps / width delays, width being how many of the
// construct's delays can run at once (1 except for TASK).
static double overhead_us(void (*loop)(int), int width) {
  double s[SAMPLES];
  for (int k = 0; k < SAMPLES; ++k) {
    int reps;
    double t = timed(loop, &reps);
    int per_cpu = reps / width > 0 ? reps / width : 1;
    double t0 = omp_get_wtime();
    ref_loop(per_cpu);
    double ref = omp_get_wtime() - t0;
    s[k] = (t - ref) / per_cpu * 1e6;
  }
  qsort(s, SAMPLES, sizeof s[0], cmp_double);
  return s[SAMPLES / 2];
}

// Spin iterations for DELAY_US: the fastest of several timings of a long
// spin (the fastest is the one least disturbed by other processes).
static int calibrate(void) {
  const int n = 1 << 22;
  double best = 1e9;
  for (int k = 0; k < 5; ++k) {
    double t0 = omp_get_wtime();
    delay(n);
    double t = omp_get_wtime() - t0;
    if (t < best) best = t;
  }
  int len = (int)(n * DELAY_US * 1e-6 / best);
  return len > 0 ? len : 1;
}

int main(void) {
  static const struct {
    const char *name;
    void (*loop)(int);
    int parallel;  // do the construct's delays run in parallel (TASK)?
  } tests[] = {
      {"PARALLEL", parallel_loop}, {"FOR", for_loop},
      {"BARRIER", barrier_loop},   {"SINGLE", single_loop},
      {"CRITICAL", critical_loop}, {"REDUCTION", reduction_loop},
      {"TASK", task_loop, 1},      {"TASKWAIT", taskwait_loop},
      {"NESTED", nested_loop},
  };
  const int ntests = sizeof tests / sizeof tests[0];
  delay_len = calibrate();
  // Warm-up: start the runtime's threads and reach a steady state.
  for (int i = 0; i < ntests; ++i) tests[i].loop(64);
  for (int i = 0; i < ntests; ++i)
    printf("%s %.4f\n", tests[i].name,
           overhead_us(tests[i].loop, tests[i].parallel ? parallel_width() : 1));
  int threads = 0;
#pragma omp parallel
#pragma omp single
  threads = omp_get_num_threads();
  printf("threads %d\n", threads);
  return reduction_sink > 0 ? 0 : 1;
}
