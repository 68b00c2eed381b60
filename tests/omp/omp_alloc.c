/* omp_alloc.c: OpenMP memory allocators. Predefined allocators (every
 * handle), alignment (argument and trait, the larger wins), calloc zeroes,
 * realloc keeps contents, pool_size limits live bytes (headers count: two
 * 1 MiB blocks do not fit a 2 MiB pool), the fallbacks (null_fb,
 * default_mem_fb, allocator_fb chains, abort_fb in a child process),
 * def-allocator-var per thread, the `allocate` clause (GOMP_alloc /
 * __kmpc_alloc) with an aligned allocator, concurrent allocation from one
 * pool with content checks, and (clang) libomp's kmp_malloc family. The
 * lithe-only checks (invalid traits, high_bw, def-allocator inheritance)
 * are what both runtimes document but libomp asserts on or leaves open. */
#include <omp.h>
#include <stdint.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define MiB (1024 * 1024)

static omp_allocator_handle_t make(omp_memspace_handle_t ms, size_t pool,
                                   omp_uintptr_t fb, omp_uintptr_t fb_data,
                                   size_t align) {
    omp_alloctrait_t t[4];
    int n = 0;
    if (pool) t[n].key = omp_atk_pool_size, t[n++].value = pool;
    t[n].key = omp_atk_fallback, t[n++].value = fb;
    if (fb == omp_atv_allocator_fb)
        t[n].key = omp_atk_fb_data, t[n++].value = fb_data;
    if (align) t[n].key = omp_atk_alignment, t[n++].value = align;
    return omp_init_allocator(ms, n, t);
}

static void predefined(void) {
    const omp_allocator_handle_t all[] = {
        omp_default_mem_alloc, omp_large_cap_mem_alloc, omp_const_mem_alloc,
        omp_high_bw_mem_alloc, omp_low_lat_mem_alloc, omp_cgroup_mem_alloc,
        omp_pteam_mem_alloc, omp_thread_mem_alloc};
    for (unsigned i = 0; i < sizeof all / sizeof *all; ++i) {
        char *p = omp_alloc(1000, all[i]);
        /* libomp without memkind has no high-bandwidth or large-capacity
         * memory */
        if (!p && !under_lithe() && (all[i] == omp_high_bw_mem_alloc ||
                                     all[i] == omp_large_cap_mem_alloc))
            continue;
        CHECK(p != NULL);
        CHECK((uintptr_t)p % sizeof(void *) == 0);
        memset(p, (int)i, 1000);
        omp_free(p, all[i]);
    }
    CHECK(omp_alloc(0, omp_default_mem_alloc) == NULL);
    CHECK(omp_calloc(10, 0, omp_default_mem_alloc) == NULL);
    omp_free(NULL, omp_default_mem_alloc);
}

static void alignment(void) {
    for (size_t al = 16; al <= 4096; al *= 2) {
        char *p = omp_aligned_alloc(al, 100, omp_default_mem_alloc);
        CHECK(p && (uintptr_t)p % al == 0);
        memset(p, 1, 100);
        omp_free(p, omp_default_mem_alloc);
        int *z = omp_aligned_calloc(al, 50, sizeof(int), omp_default_mem_alloc);
        CHECK(z && (uintptr_t)z % al == 0);
        for (int i = 0; i < 50; ++i) CHECK(z[i] == 0);
        omp_free(z, omp_default_mem_alloc);
    }
    /* The allocator's alignment trait and the call's: the larger wins. */
    omp_allocator_handle_t a = make(omp_default_mem_space, 0,
                                    omp_atv_default_mem_fb, 0, 256);
    CHECK(a != omp_null_allocator);
    void *p = omp_aligned_alloc(64, 10, a);
    CHECK(p && (uintptr_t)p % 256 == 0);
    omp_free(p, a);
    p = omp_aligned_alloc(1024, 10, a);
    CHECK(p && (uintptr_t)p % 1024 == 0);
    omp_free(p, a);
    p = omp_alloc(3, a);
    CHECK(p && (uintptr_t)p % 256 == 0);
    omp_free(p, a);
    omp_destroy_allocator(a);
}

static void calloc_realloc(void) {
    int *z = omp_calloc(1000, sizeof(int), omp_default_mem_alloc);
    CHECK(z);
    for (int i = 0; i < 1000; ++i) CHECK(z[i] == 0);
    for (int i = 0; i < 1000; ++i) z[i] = i;
    z = omp_realloc(z, 4000 * sizeof(int), omp_default_mem_alloc,
                    omp_default_mem_alloc);
    CHECK(z);
    for (int i = 0; i < 1000; ++i) CHECK(z[i] == i);
    z = omp_realloc(z, 10 * sizeof(int), omp_low_lat_mem_alloc,
                    omp_default_mem_alloc);
    CHECK(z);
    for (int i = 0; i < 10; ++i) CHECK(z[i] == i);
    CHECK(omp_realloc(z, 0, omp_default_mem_alloc, omp_low_lat_mem_alloc) == NULL);
    z = omp_realloc(NULL, 8 * sizeof(int), omp_default_mem_alloc,
                    omp_default_mem_alloc);
    CHECK(z);
    z[7] = 7;
    omp_free(z, omp_default_mem_alloc);
}

static void pools_and_fallbacks(void) {
    /* null_fb: the pool holds one 1 MiB block (plus header), not two. */
    omp_allocator_handle_t a = make(omp_default_mem_space, 2 * MiB,
                                    omp_atv_null_fb, 0, 0);
    CHECK(a != omp_null_allocator);
    void *p1 = omp_alloc(MiB, a), *p2 = omp_alloc(MiB, a);
    CHECK(p1 && !p2);
    omp_free(p1, a);
    p2 = omp_alloc(MiB, a); /* freed bytes return to the pool */
    CHECK(p2);
    CHECK(omp_alloc(3 * MiB, a) == NULL);
    /* realloc beyond the pool fails and leaves the block intact */
    memset(p2, 5, MiB);
    CHECK(omp_realloc(p2, 3 * MiB, a, a) == NULL);
    CHECK(((unsigned char *)p2)[MiB - 1] == 5);
    omp_free(p2, a);
    /* A block may grow to most of its pool (realloc charges the
     * difference, not old + new; libgomp does so too, libomp does not). */
    p1 = omp_alloc(MiB, a);
    CHECK(p1);
    memset(p1, 9, MiB);
    p2 = omp_realloc(p1, 2 * MiB - 4096, a, a);
    CHECK(p2 || !under_lithe());
    if (p2) p1 = p2;
    CHECK(((unsigned char *)p1)[MiB - 1] == 9);
    omp_free(p1, a);
    omp_destroy_allocator(a);

    /* default_mem_fb: beyond the pool, default memory. */
    a = make(omp_large_cap_mem_space, 2 * MiB, omp_atv_default_mem_fb, 0, 0);
    CHECK(a != omp_null_allocator);
    p1 = omp_alloc(MiB, a);
    p2 = omp_alloc(MiB, a);
    CHECK(p1 && p2);
    memset(p2, 1, MiB);
    omp_free(p1, a);
    omp_free(p2, a);
    omp_destroy_allocator(a);

    /* allocator_fb: a (1 MiB pool) falls back to b (1.5 MiB pool,
     * null_fb): the first 1 MiB block comes from b, the second fits
     * neither. */
    omp_allocator_handle_t b = make(omp_default_mem_space, 3 * MiB / 2,
                                    omp_atv_null_fb, 0, 0);
    a = make(omp_default_mem_space, MiB, omp_atv_allocator_fb, b, 0);
    CHECK(a != omp_null_allocator && b != omp_null_allocator);
    p1 = omp_alloc(MiB, a);
    p2 = omp_alloc(MiB, a);
    CHECK(p1 && !p2);
    omp_free(p1, a); /* returns the bytes to b's pool */
    p1 = omp_alloc(MiB, b);
    CHECK(p1);
    omp_free(p1, b);
    omp_destroy_allocator(a);
    omp_destroy_allocator(b);

    /* abort_fb: the process stops (run in a child). fork keeps locks other
     * threads held at that instant (GCC 12's ASan allocator has no fork
     * handlers), so a child still running after 10 s is killed and the
     * check retried in a new one; only a child that ends decides. */
    fflush(NULL);
    int st = 0, ended = 0;
    for (int attempt = 0; attempt < 3 && !ended; ++attempt) {
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            int fd = open("/dev/null", O_WRONLY);
            if (fd >= 0) dup2(fd, 2);
            omp_allocator_handle_t c = make(omp_default_mem_space, MiB,
                                            omp_atv_abort_fb, 0, 0);
            void *p = omp_alloc(2 * MiB, c);
            _exit(p == NULL ? 3 : 0);
        }
        for (int ms = 0; ms < 10000 && !ended; ++ms) {
            pid_t r = waitpid(pid, &st, WNOHANG);
            CHECK(r >= 0);
            if (r == pid) ended = 1;
            else usleep(1000);
        }
        if (!ended) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
        }
    }
    CHECK(ended);
    CHECK(!(WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 3)));
}

static void default_allocator(void) {
    CHECK(omp_get_default_allocator() == omp_default_mem_alloc);
    omp_allocator_handle_t a = make(omp_default_mem_space, MiB,
                                    omp_atv_null_fb, 0, 0);
    int bad = 0;
#pragma omp parallel num_threads(4) reduction(+ : bad)
    {
        if (omp_get_thread_num() == 0) omp_set_default_allocator(a);
#pragma omp barrier
        void *p = omp_alloc(2 * MiB, omp_null_allocator);
        if (omp_get_thread_num() == 0) {
            bad += p != NULL || omp_get_default_allocator() != a;
        } else {
            bad += p == NULL ||
                   omp_get_default_allocator() != omp_default_mem_alloc;
        }
        omp_free(p, omp_null_allocator);
    }
    CHECK(bad == 0);
    CHECK(omp_get_default_allocator() == omp_default_mem_alloc);
    if (under_lithe()) {
        /* Implicit tasks inherit def-allocator-var (a data-environment
         * ICV). */
        omp_set_default_allocator(a);
#pragma omp parallel num_threads(3) reduction(+ : bad)
        bad += omp_get_default_allocator() != a;
        CHECK(bad == 0);
        omp_set_default_allocator(omp_default_mem_alloc);
    }
    omp_destroy_allocator(a);
}

/* The allocate clause (gcc: GOMP_alloc/GOMP_free, clang:
 * __kmpc_alloc/__kmpc_free): private copies from the allocator keep their
 * values across a barrier. clang-14 passes the clause's allocator as a
 * 32-bit value (a heap handle arrives truncated, with libomp too) and its
 * firstprivate+allocate crashes libomp, so clang builds use a predefined
 * allocator with private; gcc builds also check a 512-aligned allocator's
 * firstprivate copies. */
static void clause(void) {
    int buf[32], bad = 0;
#pragma omp parallel num_threads(3) private(buf) allocate(omp_low_lat_mem_alloc : buf) reduction(+ : bad)
    {
        for (int i = 0; i < 32; ++i) buf[i] = i + omp_get_thread_num();
#pragma omp barrier
        for (int i = 0; i < 32; ++i) bad += buf[i] != i + omp_get_thread_num();
    }
    CHECK(bad == 0);
#ifndef __clang__
    omp_allocator_handle_t a = make(omp_default_mem_space, 0,
                                    omp_atv_default_mem_fb, 0, 512);
    for (int i = 0; i < 32; ++i) buf[i] = i;
#pragma omp parallel num_threads(3) firstprivate(buf) allocate(a : buf) reduction(+ : bad)
    {
        bad += (uintptr_t)buf % 512 != 0;
        for (int i = 0; i < 32; ++i) bad += buf[i] != i;
        buf[0] = omp_get_thread_num() + 100;
    }
    CHECK(bad == 0 && buf[0] == 0);
    omp_destroy_allocator(a);
#endif
}

/* Members allocate and free blocks of random sizes from one pool; each
 * block is filled with its owner's pattern and checked before it is
 * freed (overlapping blocks would show). */
static void stress(void) {
    omp_allocator_handle_t a = make(omp_default_mem_space, 4 * MiB,
                                    omp_atv_null_fb, 0, 64);
    int bad = 0, failed = 0;
#pragma omp parallel num_threads(6) reduction(+ : bad, failed)
    {
        unsigned seed = 12345u + 77u * (unsigned)omp_get_thread_num();
        unsigned char *blk[16] = {0};
        size_t len[16] = {0};
        unsigned char pat = (unsigned char)(omp_get_thread_num() + 1);
        for (int it = 0; it < 3000; ++it) {
            seed = seed * 1103515245u + 12345u;
            int k = (int)((seed >> 16) % 16);
            if (blk[k]) {
                for (size_t i = 0; i < len[k]; i += 97) bad += blk[k][i] != pat;
                bad += (uintptr_t)blk[k] % 64 != 0;
                omp_free(blk[k], a);
                blk[k] = NULL;
            } else {
                len[k] = 1 + (seed >> 8) % 65536;
                blk[k] = (it & 1) ? omp_alloc(len[k], a)
                                  : omp_calloc(1, len[k], a);
                if (!blk[k]) {
                    ++failed;
                    continue;
                }
                memset(blk[k], pat, len[k]);
            }
        }
        for (int k = 0; k < 16; ++k) omp_free(blk[k], a);
    }
    CHECK(bad == 0);
    /* All freed: the whole pool is available again. */
    void *p = omp_alloc(4 * MiB - 4096, a);
    CHECK(p);
    omp_free(p, a);
    (void)failed;
    omp_destroy_allocator(a);
}

static void lithe_only(void) {
    if (!under_lithe()) return;
    omp_alloctrait_t t = {omp_atk_alignment, 3};
    CHECK(omp_init_allocator(omp_default_mem_space, 1, &t) == omp_null_allocator);
    t.key = omp_atk_fallback;
    t.value = 99;
    CHECK(omp_init_allocator(omp_default_mem_space, 1, &t) == omp_null_allocator);
    CHECK(omp_init_allocator(omp_high_bw_mem_space, 0, NULL) == omp_null_allocator);
}

#ifdef __clang__
static void kmp_family(void) {
    char *p = kmp_malloc(100);
    CHECK(p);
    memset(p, 1, 100);
    p = kmp_realloc(p, 1000);
    CHECK(p && p[99] == 1);
    kmp_free(p);
    int *z = kmp_calloc(100, sizeof(int));
    CHECK(z && z[99] == 0);
    kmp_free(z);
    for (size_t al = 64; al <= 4096; al *= 2) {
        p = kmp_aligned_malloc(al, al);
        CHECK(p && (uintptr_t)p % al == 0);
        kmp_free(p);
    }
    CHECK(kmp_aligned_malloc(128, 127) == NULL);
}
#endif

int main(void) {
    predefined();
    alignment();
    calloc_realloc();
    pools_and_fallbacks();
    default_allocator();
    clause();
    stress();
    lithe_only();
#ifdef __clang__
    kmp_family();
#endif
    return 0;
}
