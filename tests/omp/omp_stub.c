/* omp_stub_alloc.c: the documented boundary. Memory allocators are not
 * implemented, so under liblithe_omp this program must stop with a
 * message naming omp_alloc (expect_abort.sh checks it), never run the
 * original runtime's allocator. Against the original runtime it
 * succeeds. */
#include <omp.h>

#include "check.h"

int main(void) {
    int *p = omp_alloc(64 * sizeof(int), omp_default_mem_alloc);
    CHECK(p != NULL);
    p[63] = 1;
    omp_free(p, omp_default_mem_alloc);
    return 0;
}
