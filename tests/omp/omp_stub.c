/* omp_stub.c: the documented boundary. An entry point liblithe_omp does
 * not implement stops the program with a message naming it
 * (expect_abort.sh checks it), never runs the original runtime's code:
 * gcc: the Fortran binding omp_get_active_level_ (the Fortran API is not
 * implemented), clang: kmp_get_affinity_max_proc (libomp's affinity-mask
 * extension). Against the original runtime the program succeeds. */
#include <omp.h>

#include "check.h"

#ifndef __clang__
int omp_get_active_level_(void);
#endif

int main(void) {
#ifdef __clang__
    CHECK(kmp_get_affinity_max_proc() >= 0);
#else
    CHECK(omp_get_active_level_() == 0);
#endif
    return 0;
}
