/* omp_atomic_kmpc.c: libomp's __kmpc_atomic_* entry points, called
 * directly (as compilers other than clang-14/x86_64 emit them; clang-14
 * uses instructions or __atomic_* libcalls) from a team of 4, with exact
 * results: lock-free sizes (CAS on the bits, floats included), the locked
 * ones (long double, 16/32-byte complex, a misaligned 8-byte complex, the
 * generic 16-byte form, __kmpc_atomic_start/end), capture / reverse / swap
 * / min-max / compare forms. clang only (gcc's runtime has no __kmpc_*). */
#include <complex.h>
#include <omp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "check.h"

typedef float _Complex c4;
typedef double _Complex c8;
typedef long double _Complex c10;
void __kmpc_atomic_fixed4_add(void *, int, int32_t *, int32_t);
int64_t __kmpc_atomic_fixed8_add_cpt(void *, int, int64_t *, int64_t, int);
void __kmpc_atomic_fixed1_add(void *, int, char *, char);
void __kmpc_atomic_fixed2_sub_rev(void *, int, short *, short);
void __kmpc_atomic_fixed4_max(void *, int, int32_t *, int32_t);
void __kmpc_atomic_fixed8_min(void *, int, int64_t *, int64_t);
int32_t __kmpc_atomic_fixed4_max_cpt(void *, int, int32_t *, int32_t, int);
void __kmpc_atomic_fixed4_xor(void *, int, int32_t *, int32_t);
void __kmpc_atomic_fixed8_orb(void *, int, int64_t *, int64_t);
void __kmpc_atomic_float8_add(void *, int, double *, double);
void __kmpc_atomic_float4_sub(void *, int, float *, float);
void __kmpc_atomic_float10_add(void *, int, long double *, long double);
long double __kmpc_atomic_float10_mul_cpt(void *, int, long double *,
                                          long double, int);
void __kmpc_atomic_cmplx4_add(void *, int, c4 *, c4);
void __kmpc_atomic_cmplx8_add(void *, int, c8 *, c8);
void __kmpc_atomic_cmplx10_sub(void *, int, c10 *, c10);
void __kmpc_atomic_cmplx4_add_cpt(void *, int, c4 *, c4, c4 *, int);
c8 __kmpc_atomic_cmplx8_div_cpt_rev(void *, int, c8 *, c8, int);
c4 __kmpc_atomic_cmplx4_rd(void *, int, c4 *);
void __kmpc_atomic_cmplx10_wr(void *, int, c10 *, c10);
int64_t __kmpc_atomic_fixed8_swp(void *, int, int64_t *, int64_t);
uint32_t __kmpc_atomic_fixed4u_div_cpt(void *, int, uint32_t *, uint32_t,
                                       int);
char __kmpc_atomic_fixed1_shl_cpt_rev(void *, int, char *, char, int);
int32_t __kmpc_atomic_fixed4_shr_cpt(void *, int, int32_t *, int32_t, int);
uint8_t __kmpc_atomic_fixed1u_shr_cpt(void *, int, uint8_t *, uint8_t, int);
void __kmpc_atomic_fixed2_mul_float8(void *, int, short *, double);
void __kmpc_atomic_float4_div_float8(void *, int, float *, double);
void __kmpc_atomic_cmplx4_mul_cmplx8(void *, int, c4 *, c8);
int64_t __kmpc_atomic_fixed8_eqv_cpt(void *, int, int64_t *, int64_t, int);
char __kmpc_atomic_fixed1_andl_cpt(void *, int, char *, char, int);
int32_t __kmpc_atomic_val_4_cas(void *, int, int32_t *, int32_t, int32_t);
bool __kmpc_atomic_bool_8_cas(void *, int, int64_t *, int64_t, int64_t);
void __kmpc_atomic_4(void *, int, void *, void *,
                     void (*)(void *, void *, void *));
void __kmpc_atomic_16(void *, int, void *, void *,
                      void (*)(void *, void *, void *));
int __kmpc_global_thread_num(void *);
void __kmpc_atomic_start(void);
void __kmpc_atomic_end(void);

#define T 4
#define K 20000

static void add4(void *out, void *a, void *b) {
    *(int32_t *)out = *(int32_t *)a + *(int32_t *)b;
}
typedef struct { int64_t a, b; } pair;
static void add16(void *out, void *x, void *y) {
    pair r = {((pair *)x)->a + ((pair *)y)->a, ((pair *)x)->b + ((pair *)y)->b};
    *(pair *)out = r;
}

static int32_t i4, mx = -1000, x4, g4;
static int64_t caps[T * K], mn = 1000, orb8, tok, cnt8;
static int64_t i8;
static char i1;
static short s2 = 5;
static double d8;
static float f4 = 1e6f;
static long double ld;
static c4 z4;
static c8 z8;
static c10 z10;
static struct {
    int pad;
    c4 z;  /* at offset 4: not 8-aligned, takes the locked path */
} __attribute__((aligned(8))) mis;
static pair p16;
static struct { int64_t a, b, c; } guarded;
static int64_t swapped[T * K + 1];

int main(void) {
    CHECK(((uintptr_t)&mis.z) % 8 == 4);
    omp_set_dynamic(0);
#pragma omp parallel num_threads(T)
    {
        int id = omp_get_thread_num();
        int g = __kmpc_global_thread_num(0); /* libomp's locks need it */
        int nth = omp_get_num_threads();
        for (int k = 0; k < K; ++k) {
            __kmpc_atomic_fixed4_add(0, g, &i4, 3);
            caps[id * K + k] = __kmpc_atomic_fixed8_add_cpt(0, g, &i8, 1, 0);
            __kmpc_atomic_fixed1_add(0, g, &i1, 1);
            __kmpc_atomic_fixed2_sub_rev(0, g, &s2, 11); /* s = 11 - s */
            __kmpc_atomic_fixed4_max(0, g, &mx, id * K + k);
            __kmpc_atomic_fixed8_min(0, g, &mn, -(id * K + k));
            __kmpc_atomic_fixed4_xor(0, g, &x4, 1 << (k % 31));
            __kmpc_atomic_fixed8_orb(0, g, &orb8, (int64_t)1 << (id * 8 + k % 8));
            __kmpc_atomic_float8_add(0, g, &d8, 0.5);
            __kmpc_atomic_float4_sub(0, g, &f4, 2.0f);
            __kmpc_atomic_float10_add(0, g, &ld, 0.25L);
            __kmpc_atomic_cmplx4_add(0, g, &z4, 1.0f + 2.0f * I);
            __kmpc_atomic_cmplx4_add(0, g, &mis.z, 1.0f - 1.0f * I);
            __kmpc_atomic_cmplx8_add(0, g, &z8, 0.5 + 1.0 * I);
            __kmpc_atomic_cmplx10_sub(0, g, &z10, 1.0L + 3.0L * I);
            int32_t one = 1;
            __kmpc_atomic_4(0, g, &g4, &one, add4);
            pair inc = {1, -2};
            __kmpc_atomic_16(0, g, &p16, &inc, add16);
            __kmpc_atomic_start();
            ++guarded.a;
            guarded.b += 2;
            guarded.c = guarded.a + guarded.b;
            __kmpc_atomic_end();
            swapped[id * K + k] =
                __kmpc_atomic_fixed8_swp(0, g, &tok, (int64_t)id * K + k + 1);
            /* A counter built on compare-and-swap. */
            int64_t c;
            do {
                c = cnt8;
            } while (!__kmpc_atomic_bool_8_cas(0, g, &cnt8, c, c + 1));
        }
        CHECK(nth == T);
    }
    const int64_t n = (int64_t)T * K;
    CHECK(i4 == 3 * n);
    CHECK(i8 == n);
    /* Captured old values: each of 0..n-1 exactly once. */
    {
        static char seen[T * K];
        for (int64_t j = 0; j < n; ++j) {
            CHECK(caps[j] >= 0 && caps[j] < n && !seen[caps[j]]);
            seen[caps[j]] = 1;
        }
    }
    CHECK(i1 == (char)(n % 256));
    CHECK(s2 == (n % 2 ? 11 - 5 : 5));
    CHECK(mx == n - 1 && mn == -(n - 1));
    {
        int32_t want = 0;
        for (int t = 0; t < T; ++t)
            for (int k = 0; k < K; ++k) want ^= 1 << (k % 31);
        CHECK(x4 == want);
    }
    for (int t = 0; t < T; ++t) CHECK(((orb8 >> (t * 8)) & 0xff) == 0xff);
    CHECK(d8 == 0.5 * n);
    CHECK(f4 == 1e6f - 2.0f * n);
    CHECK(ld == 0.25L * n);
    CHECK(crealf(z4) == n && cimagf(z4) == 2.0f * n);
    CHECK(crealf(mis.z) == n && cimagf(mis.z) == -n && mis.pad == 0);
    CHECK(creal(z8) == 0.5 * n && cimag(z8) == n);
    CHECK(creall(z10) == -n && cimagl(z10) == -3.0L * n);
    CHECK(g4 == n);
    CHECK(p16.a == n && p16.b == -2 * n);
    CHECK(guarded.a == n && guarded.b == 2 * n && guarded.c == 3 * n);
    CHECK(cnt8 == n);
    /* Swap: every token but the last one stored came back exactly once,
     * plus the initial 0. */
    {
        static char seen[T * K + 1];
        for (int64_t j = 0; j < n; ++j) {
            CHECK(swapped[j] >= 0 && swapped[j] <= n && !seen[swapped[j]]);
            seen[swapped[j]] = 1;
        }
        CHECK(tok >= 1 && tok <= n && !seen[tok] && seen[0]);
    }

    /* Single-threaded semantics of the capture / reverse / mixed forms. */
    int g = __kmpc_global_thread_num(0);
    int32_t m = 5;
    CHECK(__kmpc_atomic_fixed4_max_cpt(0, g, &m, 9, 1) == 9 && m == 9);
    CHECK(__kmpc_atomic_fixed4_max_cpt(0, g, &m, 12, 0) == 9 && m == 12);
    CHECK(__kmpc_atomic_fixed4_max_cpt(0, g, &m, 3, 1) == 12 && m == 12);
    long double l = 3;
    CHECK(__kmpc_atomic_float10_mul_cpt(0, g, &l, 2, 0) == 3 && l == 6);
    CHECK(__kmpc_atomic_float10_mul_cpt(0, g, &l, 2, 1) == 12 && l == 12);
    c4 a = 1 + 1 * I, out;
    __kmpc_atomic_cmplx4_add_cpt(0, g, &a, 2, &out, 1);
    CHECK(crealf(out) == 3 && cimagf(out) == 1 && crealf(a) == 3);
    __kmpc_atomic_cmplx4_add_cpt(0, g, &a, 1 * I, &out, 0);
    CHECK(crealf(out) == 3 && cimagf(out) == 1 && cimagf(a) == 2);
    c8 b = 2;
    c8 r = __kmpc_atomic_cmplx8_div_cpt_rev(0, g, &b, 8 * I, 1); /* 8i/2 */
    CHECK(creal(r) == 0 && cimag(r) == 4 && cimag(b) == 4);
    c4 rd = __kmpc_atomic_cmplx4_rd(0, g, &a);
    CHECK(crealf(rd) == 3 && cimagf(rd) == 2);
    c10 w = 0;
    __kmpc_atomic_cmplx10_wr(0, g, &w, 1.5L - 2.5L * I);
    CHECK(creall(w) == 1.5L && cimagl(w) == -2.5L);
    uint32_t u = 4000000000u;
    CHECK(__kmpc_atomic_fixed4u_div_cpt(0, g, &u, 2, 1) == 2000000000u);
    char c1 = 3;
    CHECK(__kmpc_atomic_fixed1_shl_cpt_rev(0, g, &c1, 1, 1) == 8 && c1 == 8);
    int32_t sh = -16;
    CHECK(__kmpc_atomic_fixed4_shr_cpt(0, g, &sh, 2, 1) == -4); /* signed */
    uint8_t us = 0xf0;
    CHECK(__kmpc_atomic_fixed1u_shr_cpt(0, g, &us, 4, 0) == 0xf0 && us == 0x0f);
    short s = 7;
    __kmpc_atomic_fixed2_mul_float8(0, g, &s, 2.5);
    CHECK(s == 17);
    float f = 3;
    __kmpc_atomic_float4_div_float8(0, g, &f, 0.5);
    CHECK(f == 6);
    c4 z = 1 + 1 * I;
    __kmpc_atomic_cmplx4_mul_cmplx8(0, g, &z, 1 * I); /* (1+i)i = -1+i */
    CHECK(crealf(z) == -1 && cimagf(z) == 1);
    int64_t e = 0x0f;
    CHECK(__kmpc_atomic_fixed8_eqv_cpt(0, g, &e, 0x0f, 1) == -1);
    char lg = 2;
    CHECK(__kmpc_atomic_fixed1_andl_cpt(0, g, &lg, 5, 1) == 1);
    int32_t v = 7;
    CHECK(__kmpc_atomic_val_4_cas(0, g, &v, 6, 1) == 7 && v == 7);
    CHECK(__kmpc_atomic_val_4_cas(0, g, &v, 7, 1) == 7 && v == 1);
    return 0;
}
