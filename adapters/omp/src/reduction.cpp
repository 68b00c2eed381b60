// reduction.cpp: the kmpc reduction protocol. Every member gets 1 ("combine
// your partial result into the shared variables yourself, then call
// end_reduce*") while holding the team's reduction Mutex, which serialises
// the combines; end_reduce releases it and, for the blocking form, waits
// at the team barrier. A one-member team needs no lock. (libomp's tree and
// atomic methods, return values 2 and 0, are optimisations not used here.)
#include "internal.hpp"

using namespace lomp;

namespace {
int begin(void) {
    Team *t = self()->team;
    if (t->n > 1) t->reduce_lock.lock();
    return 1;
}
void end(bool barrier) {
    Team *t = self()->team;
    if (t->n > 1) t->reduce_lock.unlock();
    if (barrier) t->barrier.wait();
}
}  // namespace

OMP_API int __kmpc_reduce_nowait(void *, int, int, size_t, void *,
                                 void (*)(void *, void *), void *) {
    return begin();
}
OMP_API void __kmpc_end_reduce_nowait(void *, int, void *) { end(false); }
OMP_API int __kmpc_reduce(void *, int, int, size_t, void *,
                          void (*)(void *, void *), void *) {
    return begin();
}
OMP_API void __kmpc_end_reduce(void *, int, void *) { end(true); }
