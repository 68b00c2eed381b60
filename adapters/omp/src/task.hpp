// task.hpp: explicit tasks, shared by task.cpp (queues, scheduling, waits),
// taskdep.cpp (depend clauses) and the two ABI front ends
// (abi_gomp_task.cpp, abi_kmpc_task.cpp). docs/omp.md "Tasks".
//
// A Task is one task region. Deferred tasks go to their team's TaskPool
// (the queueing member's queue) and are run by whichever member reaches
// a scheduling point (taskwait, taskgroup end, taskyield, a barrier, the
// end of the region's body) on that member's own stack; undeferred ones
// run at once on the encountering member and, unless detachable, are
// not counted by any wait (task.cpp, count_deferred). Every member's
// implicit task is a Task too (Member::implicit), so children,
// taskgroups and dependences work the same way in both.
//
// Lifetime: `refs` = 1 until the task completes (or, for an implicit task,
// until its member ends the region) + 1 per child not yet freed + 1 per
// dependence-map entry naming it. The last release frees it and releases
// its parent, so the parent chain of any live task is live (descendant
// checks walk it). A task's dependence map is emptied when it can create
// no more children (it completed, or its member ended the region), which
// breaks the parent <-> map cycle.
//
// Scheduling constraint (tied tasks): a member waiting inside task C
// (taskwait, taskgroup end, depend waits) runs only descendants of C, so
// a suspended task never waits behind an unrelated one it may depend on;
// at barriers and the region's end any ready task may run. Untied tasks
// are run as tied ones.
#ifndef LITHE_OMP_TASK_HPP
#define LITHE_OMP_TASK_HPP

#include <unordered_map>

#include "internal.hpp"

namespace lomp {

// An open taskgroup: `count` = deferred tasks created in it (and their
// descendants) not yet completed. Lives on the stack of the task region
// that opened it, until its end has seen count == 0.
struct KmpRedItem;
struct TaskGroup {
    std::atomic<long> count{0};
    std::atomic<bool> cancelled{false};
    TaskGroup *outer = nullptr;  // enclosing group of the same task region
    // Task reductions (taskred_gomp.cpp, taskred_kmpc.cpp). gcc: the
    // newest registered array (libgomp's layout; older registrations are
    // chained behind it), inherited from `outer`. clang: this group's
    // items; `kmp_modifier` 0/1 when they are a parallel/worksharing
    // reduction's team-shared copies, -1 for a taskgroup's own.
    uintptr_t *gomp_red = nullptr;
    KmpRedItem *kmp_red = nullptr;
    int kmp_nred = 0;
    int kmp_modifier = -1;
};

struct DepEntry {
    Task *last_out = nullptr;    // last out/inout/mutexinoutset sibling
    std::vector<Task *> readers;  // `in` siblings since last_out
};

enum DepKind { kDepIn = 1, kDepOut = 2 };  // inout/mutexinoutset = kDepOut
struct Dep {
    void *addr;
    DepKind kind;
};

struct Task {
    void (*run)(Task *) = nullptr;  // runs the body (ABI front end)
    Team *team = nullptr;
    Task *parent = nullptr;       // holds a ref on it
    TaskGroup *group = nullptr;   // taskgroup it counts in
    TaskGroup *cur_group = nullptr;  // innermost group open in this region
    std::atomic<int> refs{1};
    std::atomic<long> children{0};  // incomplete deferred child tasks
    int priority = 0;
    bool final_task = false;
    bool implicit = false;
    bool deferred = false;  // counted: pending, parent children, group (task.cpp)
    bool again = false;     // kmpc untied: re-run the entry (new part)
    // The task's data environment ICVs: the generating task's at creation
    // (OpenMP 5.1 §2.4.1). Its body runs with them in Member::icv, so a
    // setter called inside it changes neither its creator's nor its
    // member's copy (libgomp icv-1.c).
    Icv icv{};
    Task *interrupted = nullptr;  // kmpc if(0): the task it runs inside
    // detach(event): kDetachNone, or the event's state (task.cpp).
    std::atomic<int> detach{0};
    // Dependences, guarded by the pool's dep_lock.
    int npred = 0;                      // unfinished predecessors
    bool in_dep_map = false;            // named in its parent's map
    std::atomic<bool> done{false};
    std::vector<Task *> succ;           // tasks waiting for this one
    std::unordered_map<void *, DepEntry> *deps = nullptr;  // children's
    // ABI payload.
    void (*gomp_fn)(void *) = nullptr;
    void *gomp_arg = nullptr;
    int kmp_flags = 0;
    size_t alloc_size = 0;  // bytes allocated from `this` (taskloop copies)
};

// Allocates a Task with `extra` bytes after it (aligned to 64), filled
// in by the caller; payload(t) points there. Small tasks come from a
// per-context cache of blocks (task.cpp).
Task *task_new(size_t extra);
inline char *task_payload(Task *t) {
    return reinterpret_cast<char *>(t) + ((sizeof(Task) + 63) & ~size_t{63});
}
inline Task *task_of_payload(void *p) {
    return reinterpret_cast<Task *>(static_cast<char *>(p) -
                                    ((sizeof(Task) + 63) & ~size_t{63}));
}
// Links `t` (made by task_new) under the current task: parent, group,
// final. Returns the member's team.
Team *task_link(Task *t);
// Should a task created now run undeferred? (one-member team, final
// parent, or too many queued tasks and no dependences)
bool task_must_run_now(Team *team, bool has_deps);
// Queues a linked task: it runs once its dependences are met.
void task_submit(Task *t, const Dep *deps, int ndeps);
// Runs a linked task undeferred on the calling member, after waiting for
// its dependences, and completes it.
void task_run_now(Task *t, const Dep *deps, int ndeps);
// kmpc if(0): the compiler runs the body itself between these two.
void task_begin_undeferred(Task *t);
void task_end_undeferred(Task *t);
// Frees a task that was allocated but will never run (kmpc taskloop's
// pattern task).
void task_discard(Task *t);
void task_release(Task *t);

// detach: makes `t` complete only once its body has ended *and* its
// event is fulfilled; returns the event handle (omp_event_handle_t).
uintptr_t task_allow_completion_event(Task *t);

void taskwait();
void taskyield();
void taskgroup_begin(TaskGroup *g);
void taskgroup_end();
// Task reductions at the end of a clang taskgroup (taskred_kmpc.cpp):
// combines (or, for a modifier's non-last member, drops) `g`'s items.
void kmp_taskgroup_reduction_end(TaskGroup *g);
// Blocks (running eligible tasks) until the current task's earlier
// siblings named by `deps` have completed.
void task_wait_deps(const Dep *deps, int ndeps);
// True if `t`'s task group (or an enclosing one) or its team's parallel
// region was cancelled: it is then completed without running.
bool task_cancelled(const Task *t);

// ---- taskred_gomp.cpp: gcc's task reductions (libgomp's array layout) ----
// Registers `data` in the current task's innermost taskgroup: one zeroed
// private copy per team member.
void gomp_taskgroup_reduction_register(uintptr_t *data);
// A worksharing construct's task reductions in the current taskgroup: the
// first member registers (orig == nullptr), later ones share its blocks.
void gomp_workshare_reduction_register(uintptr_t *data, uintptr_t *orig);

// ---- taskdep.cpp (callers hold the pool's dep_lock) ----
// Records `t` as the newest sibling with `deps` in its parent's map and
// adds edges from unfinished predecessors (t->npred, pred->succ).
void dep_register(Task *t, const Dep *deps, int ndeps);
// Collects, with a ref each, the unfinished tasks `deps` would wait for.
void dep_preds(Task *parent, const Dep *deps, int ndeps,
               std::vector<Task *> *out);
// Drops the map of a task that can create no more children.
void dep_clear(Task *t);

// ---- taskloop chunking (both front ends) ----
// Splits [0, trip) into task chunks as the taskloop clauses ask:
// grainsize g (strict: exactly g but the last), num_tasks k, or neither
// (one chunk per team member). Calls emit(first, count, last) per chunk.
enum TaskloopSched { kTlDefault, kTlGrainsize, kTlNumTasks };
template <class F>
void taskloop_chunks(uint64_t trip, TaskloopSched how, uint64_t param,
                     bool strict, F emit);

}  // namespace lomp

template <class F>
void lomp::taskloop_chunks(uint64_t trip, TaskloopSched how, uint64_t param,
                           bool strict, F emit) {
    if (trip == 0) return;
    uint64_t ntasks;
    if (how == kTlGrainsize) {
        uint64_t g = param ? param : 1;
        if (strict) {
            for (uint64_t lo = 0; lo < trip; lo += g) {
                uint64_t c = trip - lo < g ? trip - lo : g;
                emit(lo, c, lo + c == trip);
            }
            return;
        }
        ntasks = trip / g;  // each chunk gets between g and 2g iterations
        if (ntasks == 0) ntasks = 1;
    } else if (how == kTlNumTasks) {
        ntasks = param ? param : 1;
    } else {
        ntasks = static_cast<uint64_t>(self()->team->n);
    }
    if (ntasks > trip) ntasks = trip;
    uint64_t q = trip / ntasks, r = trip % ntasks, lo = 0;
    for (uint64_t k = 0; k < ntasks; ++k) {
        uint64_t c = q + (k < r ? 1 : 0);
        emit(lo, c, lo + c == trip);
        lo += c;
    }
}

#endif
