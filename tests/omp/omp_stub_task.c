/* omp_stub_task.c: the documented boundary. Tasks are not implemented
 * yet, so under liblithe_omp this program must stop with a message naming
 * the entry point (expect_abort.sh checks it), never run the original
 * runtime's tasking. Against the original runtime it succeeds. */
#include <omp.h>

#include "check.h"

int main(void) {
    int x = 0;
#pragma omp parallel num_threads(2)
#pragma omp single
    {
#pragma omp task shared(x)
        x = 1;
#pragma omp taskwait
    }
    CHECK(x == 1);
    return 0;
}
