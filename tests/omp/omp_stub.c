/* omp_stub.c: the documented boundary. An entry point liblithe_omp does
 * not implement stops the program with a message naming it
 * (expect_abort.sh checks it), never runs the original runtime's code:
 * gcc's `error` directive with severity(warning) (GOMP_warning), clang's
 * kmp_set_blocktime (a libomp extension). Against the original runtime
 * the program succeeds. */
#include <omp.h>

#include "check.h"

int main(void) {
#ifdef __clang__
    kmp_set_blocktime(0);
#else
#pragma omp error at(execution) severity(warning) message("omp_stub")
#endif
    return 0;
}
