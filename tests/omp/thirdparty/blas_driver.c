/* blas_driver.c: runs Debian's OpenMP OpenBLAS (libopenblas0-openmp) on
 * fixed inputs and writes the raw results to the file named by argv[1]:
 * dgemm (C = A*B, 400x400) and a QR factorisation (LAPACK dgeqrf, 300x200,
 * plus tau). check_same.sh runs it on libgomp, under LD_PRELOAD and through
 * the drop-in libgomp.so.1, and compares the files byte for byte. Linked
 * against libopenblas.so.0 by path (no -dev package needed). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

void dgemm_(const char *ta, const char *tb, const int *m, const int *n,
            const int *k, const double *alpha, const double *a,
            const int *lda, const double *b, const int *ldb,
            const double *beta, double *c, const int *ldc);
void dgeqrf_(const int *m, const int *n, double *a, const int *lda,
             double *tau, double *work, const int *lwork, int *info);

static uint64_t state = 88172645463325252ull;
static double next(void) { /* xorshift64: same inputs every run */
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (double)(state >> 11) / 9007199254740992.0 - 0.5;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    FILE *out = fopen(argv[1], "wb");
    if (!out) return 2;
    int n = 400;
    double *a = malloc(sizeof(double) * n * n), *b = malloc(sizeof(double) * n * n),
           *c = malloc(sizeof(double) * n * n);
    for (int i = 0; i < n * n; ++i) a[i] = next(), b[i] = next(), c[i] = 0;
    double one = 1, zero = 0;
    dgemm_("N", "N", &n, &n, &n, &one, a, &n, b, &n, &zero, c, &n);
    fwrite(c, sizeof(double), (size_t)n * n, out);

    int m = 300, k = 200, lwork = -1, info = 0;
    double *q = malloc(sizeof(double) * m * k), tau[200], wq;
    for (int i = 0; i < m * k; ++i) q[i] = next();
    dgeqrf_(&m, &k, q, &m, tau, &wq, &lwork, &info); /* workspace query */
    lwork = (int)wq;
    double *work = malloc(sizeof(double) * lwork);
    dgeqrf_(&m, &k, q, &m, tau, work, &lwork, &info);
    if (info != 0) return 3;
    fwrite(q, sizeof(double), (size_t)m * k, out);
    fwrite(tau, sizeof(double), (size_t)k, out);
    fclose(out);
    free(a), free(b), free(c), free(q), free(work);
    return 0;
}
