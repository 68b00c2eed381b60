// reduction.cpp: the kmpc reduction protocol (__kmpc_reduce*, the return
// code tells the member how to combine its partial result):
//   2 ("atomic"): the compiler marked the construct as combinable with
//     atomic operations (KMP_IDENT_ATOMIC_REDUCE in the ident's flags) and
//     the team has more than one member: the member combines with atomics
//     and takes no lock. The nowait form then calls nothing more; the
//     blocking form calls __kmpc_end_reduce, which only waits at the team
//     barrier. libomp picks this method for teams of up to 4 too; for EPCC
//     REDUCTION it saves two lock round trips per member.
//   1 ("critical"): otherwise (arrays, user-defined reductions, ...), while
//     holding the team's reduction Mutex, which serialises the combines;
//     end_reduce* releases it (and, blocking, waits at the team barrier).
//     A one-member team gets 1 without a lock (its combine is private).
// libomp's tree method (value 1 for the master after a tree of pairwise
// combines) is not used. begin() and end() derive the method from the same
// ident and team, so the end call knows whether a lock is held.
#include <cstdint>

#include "internal.hpp"

using namespace lomp;

namespace {
constexpr int32_t kIdentAtomicReduce = 0x10;  // libomp's KMP_IDENT_ATOMIC_REDUCE

struct Ident {  // libomp's ident_t (the `loc` argument)
    int32_t reserved_1, flags, reserved_2, reserved_3;
    const char *psource;
};

bool atomic_method(const void *loc, const Team *t) {
    return t->n > 1 && loc &&
           (static_cast<const Ident *>(loc)->flags & kIdentAtomicReduce);
}

int begin(const void *loc) {
    Team *t = self()->team;
    if (atomic_method(loc, t)) return 2;
    if (t->n > 1) t->reduce_lock.lock();
    return 1;
}
void end(const void *loc, bool barrier) {
    Team *t = self()->team;
    if (t->n > 1 && !atomic_method(loc, t)) t->reduce_lock.unlock();
    if (barrier) t->barrier.wait();
}
}  // namespace

OMP_API int __kmpc_reduce_nowait(void *loc, int, int, size_t, void *,
                                 void (*)(void *, void *), void *) {
    return begin(loc);
}
OMP_API void __kmpc_end_reduce_nowait(void *loc, int, void *) {
    end(loc, false);
}
OMP_API int __kmpc_reduce(void *loc, int, int, size_t, void *,
                          void (*)(void *, void *), void *) {
    return begin(loc);
}
OMP_API void __kmpc_end_reduce(void *loc, int, void *) { end(loc, true); }
