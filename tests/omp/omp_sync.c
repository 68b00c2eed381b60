/* omp_sync.c: barriers, critical (unnamed, named, with hint), atomic,
 * single (+nowait, +copyprivate), master, masked, locks and nest locks,
 * reductions; teams larger than the harts (16 members) so that blocking at
 * barriers and locks, not spinning, is what lets them complete. */
#include <omp.h>

#include "check.h"

#define T 16

int main(void) {
    /* Barrier phases: no member enters phase p+1 before all finished p. */
    int phase[T] = {0}, bad = 0;
#pragma omp parallel num_threads(T) reduction(+ : bad)
    {
        int me = omp_get_thread_num();
        for (int p = 1; p <= 20; ++p) {
            phase[me] = p;
#pragma omp barrier
            for (int j = 0; j < T; ++j) bad += phase[j] != p;
#pragma omp barrier
        }
    }
    CHECK(bad == 0);

    long c1 = 0, c2 = 0, c3 = 0, at = 0;
#pragma omp parallel num_threads(T)
    {
        for (int i = 0; i < 200; ++i) {
#pragma omp critical
            c1++;
#pragma omp critical(other)
            c2 += 2;
#pragma omp critical(hinted) hint(omp_sync_hint_contended)
            c3 += 3;
#pragma omp atomic
            at++;
        }
    }
    CHECK(c1 == 200 * T && c2 == 400 * T && c3 == 600 * T && at == 200 * T);

    int singles = 0, masters = 0, masked = 0, after = 0;
#pragma omp parallel num_threads(T)
    {
        for (int i = 0; i < 10; ++i) {
#pragma omp single
            singles++;
#pragma omp single nowait
            {
#pragma omp atomic
                after++;
            }
        }
#pragma omp master
        masters++;
#pragma omp masked filter(3)
        masked += omp_get_thread_num();
    }
    CHECK(singles == 10 && masters == 1 && masked == 3 && after == 10);

    int cp_bad = 0;
#pragma omp parallel num_threads(T) reduction(+ : cp_bad)
    {
        for (int r = 0; r < 5; ++r) {
            int v;
#pragma omp single copyprivate(v)
            v = 1000 + r;
            cp_bad += v != 1000 + r;
        }
    }
    CHECK(cp_bad == 0);

    omp_lock_t lk;
    omp_nest_lock_t nlk;
    omp_init_lock(&lk);
    omp_init_nest_lock(&nlk);
    long guarded = 0, nested = 0;
#pragma omp parallel num_threads(T)
    {
        for (int i = 0; i < 100; ++i) {
            omp_set_lock(&lk);
            long g = guarded;
            guarded = g + 1;
            omp_unset_lock(&lk);
            omp_set_nest_lock(&nlk);
            omp_set_nest_lock(&nlk);
            nested++;
            omp_unset_nest_lock(&nlk);
            omp_unset_nest_lock(&nlk);
        }
    }
    CHECK(guarded == 100 * T && nested == 100 * T);
    CHECK(omp_test_lock(&lk) == 1);
    int other_got = -1;
#pragma omp parallel num_threads(2)
    if (omp_get_thread_num() == 1) other_got = omp_test_lock(&lk);
    CHECK(other_got == 0);
    omp_unset_lock(&lk);
    CHECK(omp_test_nest_lock(&nlk) == 1 && omp_test_nest_lock(&nlk) == 2);
    omp_unset_nest_lock(&nlk);
    omp_unset_nest_lock(&nlk);
    omp_destroy_lock(&lk);
    omp_destroy_nest_lock(&nlk);

    long s = 0, p = 1;
    int mx = 0;
    double d = 0;
#pragma omp parallel num_threads(T) reduction(+ : s, d) reduction(* : p) reduction(max : mx)
    {
        int me = omp_get_thread_num();
        s += me;
        d += 0.5;
        p *= (me % 2) ? 2 : 1;
        mx = me > mx ? me : mx;
    }
    CHECK(s == T * (T - 1) / 2 && p == (1L << (T / 2)) && mx == T - 1);
    CHECK(d == 0.5 * T);

    /* A worksharing reduction without nowait (clang: __kmpc_reduce, whose
     * scalar combines may be atomic, then __kmpc_end_reduce): every member
     * sees the complete result right after the loop, in every round. */
    long ws = 0;
    int ws_bad = 0;
#pragma omp parallel num_threads(T) reduction(+ : ws_bad)
    for (int r = 1; r <= 50; ++r) {
#pragma omp for reduction(+ : ws)
        for (int i = 0; i < 4 * T; ++i) ws += 1;
        ws_bad += ws != 4L * T * r;
#pragma omp barrier
    }
    CHECK(ws_bad == 0 && ws == 4L * T * 50);

    /* omp_get_wtime is monotonic and has a sensible tick. */
    double t0 = omp_get_wtime(), t1 = omp_get_wtime();
    CHECK(t1 >= t0 && omp_get_wtick() > 0 && omp_get_wtick() < 1);
    printf("omp_sync: ok\n");
    return 0;
}
