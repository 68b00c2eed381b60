/* omp_kmp_ext.c: the error directive at run time and (clang) libomp's
 * smaller extensions: kmp_* settings read back what was set; the kmpc
 * lock API guards a counter; split barriers (__kmpc_barrier_master: the
 * master works while the others are held until __kmpc_end_barrier_master;
 * the _nowait form picks one member); scope; task ids (a task's parent id
 * is its creator's id). OMP_EXT_FATAL=1 ends with a fatal error directive
 * instead (run under expect_abort.sh). __kmpc_error gets no location:
 * libomp 14 crashes formatting one (it prints int line numbers with %s). */
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"

#ifdef __clang__
typedef struct {
    int32_t reserved_1, flags, reserved_2, reserved_3;
    const char *psource;
} ident_t;
int __kmpc_global_thread_num(void *);
void __kmpc_error(ident_t *, int, const char *);
void __kmpc_init_lock(ident_t *, int, void **);
void __kmpc_set_lock(ident_t *, int, void **);
void __kmpc_unset_lock(ident_t *, int, void **);
int __kmpc_test_lock(ident_t *, int, void **);
void __kmpc_destroy_lock(ident_t *, int, void **);
void __kmpc_init_nest_lock_with_hint(ident_t *, int, void **, uintptr_t);
void __kmpc_set_nest_lock(ident_t *, int, void **);
void __kmpc_unset_nest_lock(ident_t *, int, void **);
int __kmpc_test_nest_lock(ident_t *, int, void **);
void __kmpc_destroy_nest_lock(ident_t *, int, void **);
int __kmpc_barrier_master(ident_t *, int);
void __kmpc_end_barrier_master(ident_t *, int);
int __kmpc_barrier_master_nowait(ident_t *, int);
void __kmpc_scope(ident_t *, int, void *);
void __kmpc_end_scope(ident_t *, int, void *);
uint64_t __kmpc_get_taskid(void);
uint64_t __kmpc_get_parent_taskid(void);
int kmp_get_num_known_threads(void);
void kmpc_set_blocktime(int);
static ident_t loc = {0, 2, 0, 0, ";omp_kmp_ext.c;main;42;7;;"};

static void kmp_ext(void) {
    /* Settings (stacksize before the first region, as libomp requires). */
    kmp_set_stacksize_s(8u << 20);
    CHECK(kmp_get_stacksize_s() == 8u << 20);
    kmp_set_blocktime(123);
    CHECK(kmp_get_blocktime() == 123);
    kmpc_set_blocktime(77);
    CHECK(kmp_get_blocktime() == 77);
    kmp_set_library_turnaround();
    CHECK(kmp_get_library() == 2);
    kmp_set_library_throughput();
    CHECK(kmp_get_library() == 3);
    kmp_set_disp_num_buffers(7);
    kmp_set_warnings_off();
    kmp_set_warnings_on();
    __kmpc_error(0, 1, "omp_kmp_ext warning (expected)");

    omp_lock_t l;
    omp_nest_lock_t nl;
    int g0 = __kmpc_global_thread_num(0);
    __kmpc_init_lock(&loc, g0, (void **)&l);
    __kmpc_init_nest_lock_with_hint(&loc, g0, (void **)&nl, 0);
    long counter = 0;
    int shared = 0, arrived = 0, picked = 0, bad = 0;
#pragma omp parallel num_threads(4) reduction(+ : bad)
    {
        int g = __kmpc_global_thread_num(0);
        for (int i = 0; i < 2000; ++i) {
            __kmpc_set_lock(&loc, g, (void **)&l);
            long c = counter;
            counter = c + 1;
            __kmpc_unset_lock(&loc, g, (void **)&l);
        }
        __kmpc_set_nest_lock(&loc, g, (void **)&nl);
        if (__kmpc_test_nest_lock(&loc, g, (void **)&nl) != 2) ++bad;
        __kmpc_unset_nest_lock(&loc, g, (void **)&nl);
        __kmpc_unset_nest_lock(&loc, g, (void **)&nl);
        for (int round = 0; round < 50; ++round) {
            __atomic_fetch_add(&arrived, 1, __ATOMIC_SEQ_CST);
            if (__kmpc_barrier_master(&loc, g)) {
                /* Everyone arrived; nobody has left yet. */
                if (omp_get_thread_num() != 0) ++bad;
                if (__atomic_load_n(&arrived, __ATOMIC_SEQ_CST) != 4) ++bad;
                __atomic_store_n(&arrived, 0, __ATOMIC_SEQ_CST);
                __atomic_store_n(&shared, round + 1, __ATOMIC_SEQ_CST);
                __kmpc_end_barrier_master(&loc, g);
            } else if (__atomic_load_n(&shared, __ATOMIC_SEQ_CST) != round + 1) {
                ++bad;
            }
            if (__kmpc_barrier_master_nowait(&loc, g))
                __atomic_fetch_add(&picked, 1, __ATOMIC_SEQ_CST);
#pragma omp barrier
        }
        __kmpc_scope(&loc, g, 0);
        __kmpc_end_scope(&loc, g, 0);
    }
    CHECK(bad == 0);
    CHECK(counter == 4 * 2000);
    CHECK(picked == 50);
    CHECK(__kmpc_test_lock(&loc, g0, (void **)&l) == 1);
    __kmpc_unset_lock(&loc, g0, (void **)&l);
    __kmpc_destroy_lock(&loc, g0, (void **)&l);
    __kmpc_destroy_nest_lock(&loc, g0, (void **)&nl);
    CHECK(kmp_get_num_known_threads() >= 4);

    /* Task ids: a task's parent is the task that created it (lithe only:
     * release builds of libomp give every task the id ~0). */
    uint64_t outer = __kmpc_get_taskid(), inner = 0, parent = 0;
#pragma omp task shared(inner, parent)
    {
        inner = __kmpc_get_taskid();
        parent = __kmpc_get_parent_taskid();
    }
#pragma omp taskwait
    if (under_lithe()) CHECK(parent == outer && inner != outer && inner != 0);
}
#endif

int main(void) {
    omp_set_dynamic(0);
    const char *fatal = getenv("OMP_EXT_FATAL");
    if (fatal && *fatal == '1') {
#ifdef __clang__
        __kmpc_error(0, 2, "omp_kmp_ext fatal");
#else
#pragma omp error at(execution) severity(fatal) message("omp_kmp_ext fatal")
#endif
        return 0;  /* not reached */
    }
#ifdef __clang__
    kmp_ext();
#else
#pragma omp error at(execution) severity(warning) message("omp_kmp_ext warning (expected)")
#endif
    return 0;
}
