/* omp_user.c: a shared library compiled with -fopenmp, so libgomp.so.1 is
 * its dependency and not the program's (tests/omp/indirect/setxid_main.c). */
#include <omp.h>

int omp_user_team(void) {
    int n = 0;
#pragma omp parallel
#pragma omp single
    n = omp_get_num_threads();
    return n;
}
