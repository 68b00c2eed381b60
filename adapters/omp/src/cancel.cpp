// cancel.cpp: cancel and cancellation points (OMP_CANCELLATION=true; off by
// default, then cancel is a no-op and no point reports cancellation).
//
//   parallel:   Team::cancelled; the team barrier releases its waiters and
//               returns "cancelled" from then on (barrier.cpp); tasks not
//               yet started are completed without running (task.cpp).
//   for/sections: Team::cancel_phase = barrier generation + 1 of the phase
//               the construct runs in. A cancellable worksharing construct
//               has no nowait, so its closing barrier ends the phase and
//               the mark goes stale by itself; every member sees the same
//               generation while inside the construct.
//   taskgroup:  the current task's innermost taskgroup (and, for the
//               tasks in it, enclosing ones) is marked; its tasks not yet
//               started are skipped.
// Entry points of both ABIs are here; GOMP kinds are bits (1 parallel,
// 2 for, 4 sections, 8 taskgroup), kmpc kinds numbers (1..4).
#include "task.hpp"

namespace lomp {

bool cancel_activate(CancelKind k) {
    if (!omp_cancellation_enabled()) return false;
    Member *m = self();
    Team *t = m->team;
    switch (k) {
    case kCancelParallel:
        t->cancelled.store(true, std::memory_order_release);
        t->barrier.cancel();
        t->tasks.waitq.notify_all();
        break;
    case kCancelLoop:
    case kCancelSections:
        t->cancel_phase.store(t->barrier.generation() + 1,
                              std::memory_order_release);
        break;
    case kCancelTaskgroup: {
        TaskGroup *g = current_task()->cur_group;
        if (!g) return false;  // no enclosing taskgroup: nothing to cancel
        g->cancelled.store(true, std::memory_order_release);
        break;
    }
    }
    return true;
}

bool cancellation_point(CancelKind k) {
    if (!omp_cancellation_enabled()) return false;
    Team *t = self()->team;
    switch (k) {
    case kCancelParallel:
        return t->cancelled.load(std::memory_order_acquire);
    case kCancelLoop:
    case kCancelSections:
        return t->cancel_phase.load(std::memory_order_acquire) ==
               t->barrier.generation() + 1;
    case kCancelTaskgroup:
        for (TaskGroup *g = current_task()->cur_group; g; g = g->outer)
            if (g->cancelled.load(std::memory_order_acquire)) return true;
        return false;
    }
    return false;
}

bool cancel_barrier() { return self()->team->barrier.wait(); }

}  // namespace lomp

using namespace lomp;

namespace {
CancelKind gomp_kind(int which) {
    switch (which) {
    case 1: return kCancelParallel;
    case 2: return kCancelLoop;
    case 4: return kCancelSections;
    case 8: return kCancelTaskgroup;
    }
    fatal("GOMP_cancel: unknown construct %d", which);
}
CancelKind kmpc_kind(int kind) {
    if (kind < 1 || kind > 4) fatal("__kmpc_cancel: unknown construct %d", kind);
    return static_cast<CancelKind>(kind - 1);
}
}  // namespace

OMP_API bool GOMP_cancel(int which, bool do_cancel) {
    if (!do_cancel) return cancellation_point(gomp_kind(which));
    return cancel_activate(gomp_kind(which));
}
OMP_API bool GOMP_cancellation_point(int which) {
    return cancellation_point(gomp_kind(which));
}
OMP_API bool GOMP_barrier_cancel(void) { return cancel_barrier(); }
OMP_API bool GOMP_sections_end_cancel(void) { return cancel_barrier(); }

OMP_API int __kmpc_cancel(void *, int, int kind) {
    return cancel_activate(kmpc_kind(kind));
}
OMP_API int __kmpc_cancellationpoint(void *, int, int kind) {
    return cancellation_point(kmpc_kind(kind));
}
OMP_API int __kmpc_cancel_barrier(void *, int) { return cancel_barrier(); }
