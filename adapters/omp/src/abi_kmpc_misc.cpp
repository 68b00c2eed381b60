// abi_kmpc_misc.cpp: smaller libomp entry points.
// * The kmpc lock API (__kmpc_init_lock, ...): `user_lock` points at the
//   user's omp_lock_t / omp_nest_lock_t, so these are the omp_*_lock calls
//   of sync.cpp on the same storage (kmp_csupport.cpp's user-lock
//   semantics; the hint is accepted and ignored, as by omp_init_lock_with_
//   hint). test_lock returns 1/0, test_nest_lock the new nesting count.
// * Split barriers: __kmpc_barrier_master gathers the team; member 0
//   returns 1 and the others wait until it calls __kmpc_end_barrier_master
//   (a second barrier phase), then return 0. The _nowait form releases
//   everyone at once.
// * scope (OpenMP 5.1): nothing to do at run time (libomp only reports it
//   to tools). pop_num_threads: a no-op, num_threads pops itself at the
//   next fork (as in libomp 14).
// * Task ids: the address of the current task's record (unique while the
//   task lives), and of its parent's (0 for an implicit task).
#include "internal.hpp"
#include "task.hpp"

using namespace lomp;

extern "C" {
void omp_init_lock(void *);
void omp_init_nest_lock(void *);
void omp_destroy_lock(void *);
void omp_destroy_nest_lock(void *);
void omp_set_lock(void *);
void omp_set_nest_lock(void *);
void omp_unset_lock(void *);
void omp_unset_nest_lock(void *);
int omp_test_lock(void *);
int omp_test_nest_lock(void *);
}

OMP_API void __kmpc_init_lock(void *, int, void **l) { omp_init_lock(l); }
OMP_API void __kmpc_init_nest_lock(void *, int, void **l) {
    omp_init_nest_lock(l);
}
OMP_API void __kmpc_init_lock_with_hint(void *, int, void **l, uintptr_t) {
    omp_init_lock(l);
}
OMP_API void __kmpc_init_nest_lock_with_hint(void *, int, void **l,
                                             uintptr_t) {
    omp_init_nest_lock(l);
}
OMP_API void __kmpc_destroy_lock(void *, int, void **l) { omp_destroy_lock(l); }
OMP_API void __kmpc_destroy_nest_lock(void *, int, void **l) {
    omp_destroy_nest_lock(l);
}
OMP_API void __kmpc_set_lock(void *, int, void **l) { omp_set_lock(l); }
OMP_API void __kmpc_set_nest_lock(void *, int, void **l) {
    omp_set_nest_lock(l);
}
OMP_API void __kmpc_unset_lock(void *, int, void **l) { omp_unset_lock(l); }
OMP_API void __kmpc_unset_nest_lock(void *, int, void **l) {
    omp_unset_nest_lock(l);
}
OMP_API int __kmpc_test_lock(void *, int, void **l) { return omp_test_lock(l); }
OMP_API int __kmpc_test_nest_lock(void *, int, void **l) {
    return omp_test_nest_lock(l);
}

OMP_API int __kmpc_barrier_master(void *, int) {
    Member *m = self();
    m->team->barrier.wait();
    if (m->tid == 0) return 1;
    m->team->barrier.wait();  // released by __kmpc_end_barrier_master
    return 0;
}
OMP_API void __kmpc_end_barrier_master(void *, int) {
    Member *m = self();
    if (m->tid != 0)
        fatal("__kmpc_end_barrier_master: called by member %d, not the "
              "one __kmpc_barrier_master chose",
              m->tid);
    m->team->barrier.wait();
}
OMP_API int __kmpc_barrier_master_nowait(void *, int) {
    Member *m = self();
    m->team->barrier.wait();
    return m->tid == 0 ? 1 : 0;
}

OMP_API void __kmpc_scope(void *, int, void *) {}
OMP_API void __kmpc_end_scope(void *, int, void *) {}
OMP_API void __kmpc_pop_num_threads(void *, int) {}

OMP_API uint64_t __kmpc_get_taskid(void) {
    return reinterpret_cast<uintptr_t>(current_task());
}
OMP_API uint64_t __kmpc_get_parent_taskid(void) {
    Task *t = current_task();
    return t && t->parent ? reinterpret_cast<uintptr_t>(t->parent) : 0;
}
