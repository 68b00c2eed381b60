/* bench_server.c: the thesis' Flickr-like image server (§3.4) as a closed
 * loop in one process: a pool of pthreads serves "resize this image"
 * requests, and each request runs GraphicsMagick's ResizeImage, which is
 * OpenMP-parallel inside (Debian's libGraphicsMagick, built with gcc
 * -fopenmp against libgomp). Two runtimes that each assume they own the
 * machine: the server's threads and one OpenMP team per serving thread.
 *
 * Plain C + pthreads + GraphicsMagick, never linked against lithe:
 * benchmarks/bench_server.sh runs this one binary on NPTL + libgomp and
 * with LD_PRELOAD=liblithe_pthread.so plus liblithe_omp as the drop-in
 * libgomp.so.1, and compares.
 *
 * Load: the main thread keeps SERVER_DEPTH requests outstanding (queue:
 * one mutex, two condition variables), SERVER_REQUESTS in total after
 * SERVER_WARMUP untimed ones; each of SERVER_THREADS threads takes the
 * next request and makes SERVER_THUMBS thumbnails of its own copies of the
 * source image (SERVER_W x SERVER_H, deterministic pixels), each on a
 * pthread of its own when there are several (as the thesis' server does):
 * a Lanczos resize to a size set by the request id and the thumbnail,
 * read back and summed. Prints one line:
 *   wall_s cpu_s req_per_s p50_ms p99_ms threads nvcsw nivcsw checksum
 * (cpu: user+system of the process; threads: the process's kernel threads
 * when half of the timed requests are done;
 * context switches: getrusage over the timed part; latency: enqueue to
 * completion; checksum: over every timed request's pixels, so runtimes
 * can be compared for identical output).
 */
#define _GNU_SOURCE
#include <magick/api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static long env_long(const char *name, long dflt, long lo, long hi) {
    const char *s = getenv(name);
    if (!s || !*s) return dflt;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi) {
        fprintf(stderr, "bench_server: %s=%s: expected an integer in [%ld, %ld]\n",
                name, s, lo, hi);
        exit(2);
    }
    return v;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static long g_w, g_h, g_requests, g_warmup, g_thumbs;
static unsigned char *g_pixels;  // the source image, RGB

// The request queue: ids next_id .. issued-1 wait; `done` counts finished.
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_work = PTHREAD_COND_INITIALIZER;
static pthread_cond_t g_finished = PTHREAD_COND_INITIALIZER;
static long g_next_id, g_issued, g_done;
static double *g_enqueued, *g_latency;  // per request id
static uint64_t g_checksum;             // over the timed requests
static int g_failed;

static Image *make_source(ExceptionInfo *ex) {
    return ConstituteImage((unsigned long)g_w, (unsigned long)g_h, "RGB",
                           CharPixel, g_pixels, ex);
}

// One thumbnail: `src` resized to a size set by the request id and the
// thumbnail's index, read back and summed into `sum` (0 on failure).
struct thumb {
    Image *src;  // owned by one thread at a time
    unsigned char *buf;
    long id, k;
    uint64_t sum;
};

static void *make_thumb(void *arg) {
    struct thumb *t = arg;
    ExceptionInfo ex;
    GetExceptionInfo(&ex);
    // 1 thumbnail: 55-85% of the source, varying with the id; more: from
    // 20% up, one size per thumbnail (the Flickr set's spread).
    long pct = g_thumbs == 1 ? 55 + t->id % 31
                             : 20 + (65 * t->k) / (g_thumbs - 1) + t->id % 7;
    unsigned long w = (unsigned long)(g_w * pct / 100);
    unsigned long h = (unsigned long)(g_h * pct / 100);
    Image *out = ResizeImage(t->src, w, h, LanczosFilter, 1.0, &ex);
    t->sum = 0;
    if (!out || !DispatchImage(out, 0, 0, w, h, "RGB", CharPixel, t->buf, &ex)) {
        fprintf(stderr, "bench_server: request %ld, thumbnail %ld: %s\n", t->id,
                t->k, ex.reason ? ex.reason : "resize failed");
        __atomic_store_n(&g_failed, 1, __ATOMIC_RELAXED);
    } else {
        for (size_t i = 0; i < (size_t)w * h * 3; ++i)
            t->sum = t->sum * 1099511628211u + t->buf[i];
    }
    if (out) DestroyImage(out);
    DestroyExceptionInfo(&ex);
    return NULL;
}

static void *serve(void *arg) {
    (void)arg;
    ExceptionInfo ex;
    GetExceptionInfo(&ex);
    // A source image and a read-back buffer per thumbnail, kept across
    // requests (GraphicsMagick images are not shared between threads).
    struct thumb *th = calloc((size_t)g_thumbs, sizeof *th);
    pthread_t *tids = calloc((size_t)g_thumbs, sizeof *tids);
    size_t cap = (size_t)g_w * (size_t)g_h * 3;
    for (long k = 0; th && tids && k < g_thumbs; ++k) {
        th[k].src = make_source(&ex);
        th[k].buf = malloc(cap);
        if (!th[k].src || !th[k].buf) {
            fprintf(stderr, "bench_server: source image: %s\n",
                    ex.reason ? ex.reason : "out of memory");
            exit(1);
        }
    }
    if (!th || !tids) exit(1);
    for (;;) {
        pthread_mutex_lock(&g_mu);
        while (g_next_id == g_issued && g_issued < g_warmup + g_requests)
            pthread_cond_wait(&g_work, &g_mu);
        if (g_next_id == g_issued) {  // everything issued and taken
            pthread_mutex_unlock(&g_mu);
            break;
        }
        long id = g_next_id++;
        pthread_mutex_unlock(&g_mu);

        // Thumbnail 0 here, the others on threads of their own (the
        // thesis' server makes its thumbnails in parallel with pthreads).
        for (long k = 0; k < g_thumbs; ++k) {
            th[k].id = id;
            th[k].k = k;
            if (k > 0 && pthread_create(&tids[k], NULL, make_thumb, &th[k]) != 0) {
                fprintf(stderr, "bench_server: pthread_create failed\n");
                exit(1);
            }
        }
        make_thumb(&th[0]);
        uint64_t sum = th[0].sum;
        for (long k = 1; k < g_thumbs; ++k) {
            pthread_join(tids[k], NULL);
            sum += th[k].sum;
        }
        double t = now_s();

        pthread_mutex_lock(&g_mu);
        g_latency[id] = t - g_enqueued[id];
        if (id >= g_warmup) g_checksum += sum;  // order-independent
        ++g_done;
        pthread_cond_signal(&g_finished);
        pthread_mutex_unlock(&g_mu);
    }
    for (long k = 0; k < g_thumbs; ++k) {
        free(th[k].buf);
        DestroyImage(th[k].src);
    }
    free(th);
    free(tids);
    DestroyExceptionInfo(&ex);
    return NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static long kernel_threads(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long n = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %ld", &n) == 1) break;
    if (f) fclose(f);
    return n;
}

int main(void) {
    long threads = env_long("SERVER_THREADS", 4, 1, 256);
    long depth = env_long("SERVER_DEPTH", 2 * threads, 1, 4096);
    g_requests = env_long("SERVER_REQUESTS", 400, 1, 1000000);
    g_warmup = env_long("SERVER_WARMUP", 2 * threads, 0, 1000000);
    g_w = env_long("SERVER_W", 640, 16, 8192);
    g_h = env_long("SERVER_H", 480, 16, 8192);
    g_thumbs = env_long("SERVER_THUMBS", 1, 1, 64);
    long total = g_warmup + g_requests;

    InitializeMagick(NULL);
    g_pixels = malloc((size_t)g_w * (size_t)g_h * 3);
    g_enqueued = calloc((size_t)total, sizeof(double));
    g_latency = calloc((size_t)total, sizeof(double));
    if (!g_pixels || !g_enqueued || !g_latency) return 1;
    for (long y = 0; y < g_h; ++y)
        for (long x = 0; x < g_w; ++x) {
            unsigned char *p = g_pixels + (y * g_w + x) * 3;
            p[0] = (unsigned char)(x * 255 / g_w);
            p[1] = (unsigned char)(y * 255 / g_h);
            p[2] = (unsigned char)((x * y) ^ (x + y));
        }

    pthread_t *tids = malloc(sizeof(pthread_t) * (size_t)threads);
    for (long i = 0; i < threads; ++i)
        if (pthread_create(&tids[i], NULL, serve, NULL) != 0) {
            fprintf(stderr, "bench_server: pthread_create failed\n");
            return 1;
        }

    struct rusage r0, r1;
    double t0 = 0;
    long nthreads = -1;
    pthread_mutex_lock(&g_mu);
    for (;;) {
        // Keep `depth` requests in flight until all are issued.
        while (g_issued < total && g_issued - g_done < depth) {
            if (g_issued == g_warmup) {  // the timed part starts here
                while (g_done < g_issued) pthread_cond_wait(&g_finished, &g_mu);
                getrusage(RUSAGE_SELF, &r0);
                t0 = now_s();
            }
            g_enqueued[g_issued] = now_s();
            ++g_issued;
            pthread_cond_signal(&g_work);
        }
        if (g_done == total) break;
        if (nthreads < 0 && g_done >= g_warmup + g_requests / 2)
            nthreads = kernel_threads();
        if (g_issued == total) pthread_cond_broadcast(&g_work);  // let idle threads leave
        pthread_cond_wait(&g_finished, &g_mu);
    }
    pthread_mutex_unlock(&g_mu);
    double wall = now_s() - t0;
    getrusage(RUSAGE_SELF, &r1);
    pthread_cond_broadcast(&g_work);
    for (long i = 0; i < threads; ++i) pthread_join(tids[i], NULL);
    if (g_failed) return 1;

    double *lat = g_latency + g_warmup;
    qsort(lat, (size_t)g_requests, sizeof(double), cmp_double);
    double cpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) +
                 (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
                 (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) * 1e-6 +
                 (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) * 1e-6;
    printf("%.4f %.4f %.2f %.3f %.3f %ld %ld %ld %016llx\n", wall, cpu,
           (double)g_requests / wall, lat[g_requests / 2] * 1e3,
           lat[(g_requests * 99) / 100 < g_requests ? (g_requests * 99) / 100
                                                     : g_requests - 1] * 1e3,
           nthreads, r1.ru_nvcsw - r0.ru_nvcsw, r1.ru_nivcsw - r0.ru_nivcsw,
           (unsigned long long)g_checksum);
    free(tids);
    DestroyMagick();
    return 0;
}
