// abi_kmpc_task.cpp: clang's tasking entry points (kmp.h,
// kmp_tasking.cpp, kmp_taskdeps.cpp: __kmpc_omp_task_alloc,
// __kmpc_omp_task[_with_deps], __kmpc_omp_wait_deps,
// __kmpc_omp_task_begin_if0 / complete_if0, __kmpc_omp_taskwait,
// __kmpc_omp_taskyield, __kmpc_taskgroup / end_taskgroup, __kmpc_taskloop,
// __kmpc_omp_reg_task_with_affinity) mapped onto task.cpp.
//
// The compiler's kmp_task_t {shareds, routine, part_id, data1, data2,
// privates...} lives in the Task's payload, followed by the shareds block;
// task_alloc returns it and the compiler fills it in. data1 holds the
// destructor thunk (flag 8), data2 the priority (flag 32). An untied task
// (flag 1 clear) re-enqueues itself with __kmpc_omp_task at its
// scheduling points and returns: we run its next part at once.
//
// detach(event): __kmpc_task_allow_completion_event arms the task
// (task.cpp); the compiler stores the returned handle in the event
// variable. Task reductions: taskred_kmpc.cpp, combined at the end of the
// taskgroup here.
//
// Not supported (abort naming the feature): proxy tasks (target nowait).
#include <cstring>

#include "task.hpp"

using namespace lomp;

namespace {

struct KmpTask {
    void *shareds;
    int (*routine)(int, KmpTask *);
    int32_t part_id;
    void *data1;  // destructors thunk
    union {
        int32_t priority;
        void *ptr;
    } data2;
};

struct DependInfo {
    intptr_t base_addr;
    size_t len;
    uint8_t flags;  // in 1, out 2, mutexinoutset 4, inoutset 8
};

enum : int {
    kTied = 1, kFinal = 2, kMergedIf0 = 4, kDestructors = 8, kProxy = 16,
    kPriority = 32, kDetachable = 64,
};

KmpTask *kmp(Task *t) { return reinterpret_cast<KmpTask *>(task_payload(t)); }
Task *header(KmpTask *k) { return task_of_payload(k); }

void run_kmp(Task *t) {
    KmpTask *k = kmp(t);
    int g = gtid();
    // A null entry is an empty task (libomp 14: `taskwait depend(...)
    // nowait` is such a task with the dependences).
    if (!k->routine) return;
    do {
        t->again = false;
        k->routine(g, k);
    } while (t->again);
    if (t->kmp_flags & kDestructors)
        reinterpret_cast<int (*)(int, KmpTask *)>(k->data1)(g, k);
}

std::vector<Dep> deps_of(int n1, const DependInfo *l1, int n2,
                         const DependInfo *l2) {
    std::vector<Dep> out;
    auto add = [&](int n, const DependInfo *l) {
        for (int i = 0; i < n; ++i)
            out.push_back({reinterpret_cast<void *>(l[i].base_addr),
                           l[i].flags == 1 ? kDepIn : kDepOut});
    };
    add(n1, l1);
    add(n2, l2);
    return out;
}

void schedule(Task *t, const std::vector<Dep> &deps) {
    if (t->kmp_flags & kPriority) t->priority = kmp(t)->data2.priority;
    Team *team = task_link(t);
    if (task_must_run_now(team, !deps.empty()))
        task_run_now(t, deps.data(), static_cast<int>(deps.size()));
    else
        task_submit(t, deps.data(), static_cast<int>(deps.size()));
}

}  // namespace

OMP_API void *__kmpc_omp_task_alloc(void *, int, int flags, size_t task_size,
                                    size_t shareds_size,
                                    int (*routine)(int, void *)) {
    if (flags & kProxy)
        lithe_omp_unimplemented("__kmpc_omp_task_alloc (proxy task)");
    size_t off = (task_size + 15) & ~size_t{15};
    Task *t = task_new(off + shareds_size);
    KmpTask *k = kmp(t);
    std::memset(k, 0, off + shareds_size);
    k->shareds = shareds_size ? reinterpret_cast<char *>(k) + off : nullptr;
    k->routine = reinterpret_cast<int (*)(int, KmpTask *)>(routine);
    t->run = run_kmp;
    t->kmp_flags = flags;
    t->final_task = (flags & kFinal) != 0;
    return k;
}

OMP_API int __kmpc_omp_task(void *, int, void *task) {
    Task *t = header(static_cast<KmpTask *>(task));
    if (t == self()->task) {  // an untied task's next part
        t->again = true;
        return 0;
    }
    schedule(t, {});
    return 0;
}

OMP_API int __kmpc_omp_task_with_deps(void *, int, void *task, int ndeps,
                                      const DependInfo *list, int nnoalias,
                                      const DependInfo *noalias) {
    schedule(header(static_cast<KmpTask *>(task)),
             deps_of(ndeps, list, nnoalias, noalias));
    return 0;
}

// affinity(...) is a placement hint; lithe decides where harts run.
OMP_API int __kmpc_omp_reg_task_with_affinity(void *, int, void *, int,
                                              void *) {
    return 0;
}

OMP_API void __kmpc_omp_wait_deps(void *, int, int ndeps,
                                  const DependInfo *list, int nnoalias,
                                  const DependInfo *noalias) {
    std::vector<Dep> deps = deps_of(ndeps, list, nnoalias, noalias);
    task_wait_deps(deps.data(), static_cast<int>(deps.size()));
}

// if(0): the compiler calls the entry itself between these two.
OMP_API void __kmpc_omp_task_begin_if0(void *, int, void *task) {
    Task *t = header(static_cast<KmpTask *>(task));
    task_link(t);
    task_begin_undeferred(t);
}
OMP_API void __kmpc_omp_task_complete_if0(void *, int, void *task) {
    Task *t = header(static_cast<KmpTask *>(task));
    if (t->kmp_flags & kDestructors) {
        KmpTask *k = kmp(t);
        reinterpret_cast<int (*)(int, KmpTask *)>(k->data1)(gtid(), k);
    }
    task_end_undeferred(t);
}

OMP_API int __kmpc_omp_taskwait(void *, int) {
    taskwait();
    return 0;
}
OMP_API int __kmpc_omp_taskyield(void *, int, int) {
    taskyield();
    return 0;
}
OMP_API void __kmpc_taskgroup(void *, int) { taskgroup_begin(new TaskGroup); }
OMP_API void __kmpc_end_taskgroup(void *, int) {
    TaskGroup *g = current_task()->cur_group;
    taskgroup_end();
    kmp_taskgroup_reduction_end(g);
    delete g;
}
// reduction(task, ...) on parallel/worksharing: ends the member's group.
OMP_API void __kmpc_task_reduction_modifier_fini(void *loc, int gtid, int) {
    __kmpc_end_taskgroup(loc, gtid);
}

OMP_API void *__kmpc_task_allow_completion_event(void *, int, void *task) {
    return reinterpret_cast<void *>(
        task_allow_completion_event(header(static_cast<KmpTask *>(task))));
}

// taskloop: `task` is a pattern; each chunk gets a byte copy of it (task,
// privates and shareds, the shareds pointer rebased), its own inclusive
// bounds at the pattern's lb/ub offsets, and task_dup (firstprivate copy
// construction, lastprivate flag). sched: 0 default, 1 grainsize,
// 2 num_tasks (the value in `grainsize`); `strict` (grainsize's strict
// modifier, __kmpc_taskloop_5): exactly `grainsize` iterations per task
// but the last. The pattern itself never runs; its destructors do.
static void kmp_taskloop(void *task, int if_val, uint64_t *lb, uint64_t *ub,
                         int64_t st, int nogroup, int sched,
                         uint64_t grainsize, bool strict, void *task_dup) {
    KmpTask *pk = static_cast<KmpTask *>(task);
    Task *pt = header(pk);
    auto dup = reinterpret_cast<void (*)(KmpTask *, KmpTask *, int32_t)>(task_dup);
    uint64_t lo = *lb, hi = *ub, trip;
    if (st == 1)
        trip = hi - lo + 1;
    else if (st < 0)
        trip = (lo - hi) / static_cast<uint64_t>(-st) + 1;
    else
        trip = (hi - lo) / static_cast<uint64_t>(st) + 1;
    size_t bytes = pt->alloc_size - static_cast<size_t>(
                       reinterpret_cast<char *>(pk) - reinterpret_cast<char *>(pt));
    size_t lb_off = reinterpret_cast<char *>(lb) - reinterpret_cast<char *>(pk);
    size_t ub_off = reinterpret_cast<char *>(ub) - reinterpret_cast<char *>(pk);
    TaskGroup g;
    if (!nogroup) taskgroup_begin(&g);
    TaskloopSched how = sched == 1 ? kTlGrainsize
                        : sched == 2 ? kTlNumTasks
                                     : kTlDefault;
    taskloop_chunks(trip, how, grainsize, strict,
                    [&](uint64_t first, uint64_t count, bool last) {
        Task *t = task_new(bytes);
        KmpTask *k = kmp(t);
        std::memcpy(k, pk, bytes);
        if (pk->shareds)
            k->shareds = reinterpret_cast<char *>(k) +
                         (static_cast<char *>(pk->shareds) -
                          reinterpret_cast<char *>(pk));
        t->run = run_kmp;
        t->kmp_flags = pt->kmp_flags;
        t->final_task = pt->final_task;
        uint64_t step = static_cast<uint64_t>(st);
        uint64_t f = lo + first * step, l = lo + (first + count - 1) * step;
        std::memcpy(reinterpret_cast<char *>(k) + lb_off, &f, sizeof f);
        std::memcpy(reinterpret_cast<char *>(k) + ub_off, &l, sizeof l);
        if (dup) dup(k, pk, last ? 1 : 0);
        if (t->kmp_flags & kPriority) t->priority = k->data2.priority;
        Team *team = task_link(t);
        if (!if_val || task_must_run_now(team, false))
            task_run_now(t, nullptr, 0);
        else
            task_submit(t, nullptr, 0);
    });
    if (!nogroup) taskgroup_end();
    if (pt->kmp_flags & kDestructors)
        reinterpret_cast<int (*)(int, KmpTask *)>(pk->data1)(gtid(), pk);
    task_discard(pt);
}

OMP_API void __kmpc_taskloop(void *, int, void *task, int if_val,
                             uint64_t *lb, uint64_t *ub, int64_t st,
                             int nogroup, int sched, uint64_t grainsize,
                             void *task_dup) {
    kmp_taskloop(task, if_val, lb, ub, st, nogroup, sched, grainsize, false,
                 task_dup);
}
OMP_API void __kmpc_taskloop_5(void *, int, void *task, int if_val,
                               uint64_t *lb, uint64_t *ub, int64_t st,
                               int nogroup, int sched, uint64_t grainsize,
                               int modifier, void *task_dup) {
    kmp_taskloop(task, if_val, lb, ub, st, nogroup, sched, grainsize,
                 modifier != 0, task_dup);
}
