// abi_gomp_task.cpp: gcc's tasking entry points (libgomp_g.h: GOMP_task,
// GOMP_taskwait[_depend], GOMP_taskyield, GOMP_taskgroup_start/end,
// GOMP_taskloop[_ull]) mapped onto task.cpp. A deferred task owns a copy
// of the argument block (made by cpyfn, the C++ copy constructors, or
// memcpy) in its payload; an undeferred one without cpyfn runs on the
// caller's block, as libgomp does.
//
// detach(event): the event handle (task.cpp) is stored through `detach`
// and, as libgomp does, in the first word of the argument block, before
// it is copied. Task reductions: taskred_gomp.cpp; a taskloop with a
// reduction clause registers the array its argument block points to
// ({start, end, reductions...}) in the taskloop's taskgroup.
#include <cstring>

#include "task.hpp"

using namespace lomp;

namespace {

enum : unsigned {
    kUntied = 1, kFinal = 2, kMergeable = 4, kDepend = 8, kPriority = 16,
    kUp = 256, kGrainsize = 512, kIf = 1024, kNogroup = 2048,
    kReduction = 4096, kDetach = 8192, kStrict = 16384,
};

// depend arrays: [n, nout, addr...] (out/inout first, then in), or the
// OpenMP 5.0 form [0, n, nout, nmutexinoutset, nin, addr...] followed by
// depobj entries (pointers to {addr, kind}) for the rest.
std::vector<Dep> parse_depend(void **d) {
    std::vector<Dep> out;
    auto n_of = [](void *p) { return reinterpret_cast<uintptr_t>(p); };
    if (n_of(d[0]) != 0) {
        uintptr_t n = n_of(d[0]), nout = n_of(d[1]);
        for (uintptr_t i = 0; i < n; ++i)
            out.push_back({d[2 + i], i < nout ? kDepOut : kDepIn});
        return out;
    }
    uintptr_t n = n_of(d[1]), nout = n_of(d[2]), nmtx = n_of(d[3]),
              nin = n_of(d[4]);
    for (uintptr_t i = 0; i < n; ++i) {
        if (i < nout + nmtx + nin) {
            out.push_back({d[5 + i], i < nout + nmtx ? kDepOut : kDepIn});
        } else {
            void **obj = static_cast<void **>(d[5 + i]);
            uintptr_t kind = n_of(obj[1]);  // GOMP_DEPEND_IN = 1
            out.push_back({obj[0], kind == 1 ? kDepIn : kDepOut});
        }
    }
    return out;
}

void run_gomp(Task *t) { t->gomp_fn(t->gomp_arg); }

// detach: arms `t`'s completion event and publishes it through `detach`
// and in the argument block's first word (gcc reads it there), before
// the block is copied.
void publish_event(Task *t, void *detach, void *data) {
    if (!detach) return;
    uintptr_t ev = task_allow_completion_event(t);
    *static_cast<uintptr_t *>(detach) = ev;
    if (data) *static_cast<uintptr_t *>(data) = ev;
}

// A task carrying a copy of the argument block.
Task *make_task(void (*fn)(void *), void *data, void (*cpyfn)(void *, void *),
                long size, long align, void *detach = nullptr) {
    size_t a = align > 0 ? static_cast<size_t>(align) : 1;
    Task *t = task_new(static_cast<size_t>(size) + a);
    publish_event(t, detach, data);
    uintptr_t p = reinterpret_cast<uintptr_t>(task_payload(t));
    void *arg = reinterpret_cast<void *>((p + a - 1) / a * a);
    if (cpyfn)
        cpyfn(arg, data);
    else if (size > 0)
        std::memcpy(arg, data, static_cast<size_t>(size));
    t->run = run_gomp;
    t->gomp_fn = fn;
    t->gomp_arg = arg;
    return t;
}

template <typename T>
void taskloop(void (*fn)(void *), void *data, void (*cpyfn)(void *, void *),
              long size, long align, unsigned flags, unsigned long num_tasks,
              int priority, T start, T end, T step) {
    uint64_t trip;
    bool up = std::is_signed_v<T> ? step > 0 : (flags & kUp) != 0;
    if (up)
        trip = start < end ? (static_cast<uint64_t>(end - start) +
                              static_cast<uint64_t>(step) - 1) /
                                 static_cast<uint64_t>(step)
                           : 0;
    else
        trip = start > end ? (static_cast<uint64_t>(start - end) -
                              static_cast<uint64_t>(step) - 1) /
                                 (0 - static_cast<uint64_t>(step))
                           : 0;
    TaskloopSched how = (flags & kGrainsize) ? kTlGrainsize
                        : num_tasks          ? kTlNumTasks
                                             : kTlDefault;
    // reduction: data = {start, end, reductions array, ...}.
    bool reduce = (flags & (kNogroup | kReduction)) == kReduction;
    uintptr_t *red = reduce ? static_cast<uintptr_t **>(data)[2] : nullptr;
    if (trip == 0) {
        if (reduce) red[2] = 0;  // tells the caller nothing was registered
        return;
    }
    TaskGroup g;
    if (!(flags & kNogroup)) taskgroup_begin(&g);
    if (reduce) gomp_taskgroup_reduction_register(red);
    taskloop_chunks(trip, how, num_tasks, (flags & kStrict) != 0,
                    [&](uint64_t first, uint64_t count, bool) {
        Task *t = make_task(fn, data, cpyfn, size, align);
        T *bounds = static_cast<T *>(t->gomp_arg);
        bounds[0] = static_cast<T>(start + static_cast<T>(first) * step);
        bounds[1] = static_cast<T>(start + static_cast<T>(first + count) * step);
        t->priority = (flags & kPriority) ? priority : 0;
        t->final_task = (flags & kFinal) != 0;
        Team *team = task_link(t);
        if (!(flags & kIf) || task_must_run_now(team, false))
            task_run_now(t, nullptr, 0);
        else
            task_submit(t, nullptr, 0);
    });
    if (!(flags & kNogroup)) taskgroup_end();
}

}  // namespace

OMP_API void GOMP_task(void (*fn)(void *), void *data,
                       void (*cpyfn)(void *, void *), long arg_size,
                       long arg_align, bool if_clause, unsigned flags,
                       void **depend, int priority, void *detach) {
    if (!(flags & kDetach)) detach = nullptr;
    std::vector<Dep> deps;
    if ((flags & kDepend) && depend) deps = parse_depend(depend);
    Member *m = self();
    bool now = !if_clause ||
               task_must_run_now(m->team, !deps.empty());
    Task *t;
    if (now && !cpyfn) {  // runs on the caller's argument block
        t = task_new(0);
        t->run = run_gomp;
        t->gomp_fn = fn;
        t->gomp_arg = data;
        publish_event(t, detach, data);
    } else {
        t = make_task(fn, data, cpyfn, arg_size, arg_align, detach);
    }
    t->priority = (flags & kPriority) ? priority : 0;
    t->final_task = (flags & kFinal) != 0;
    task_link(t);
    if (now)
        task_run_now(t, deps.data(), static_cast<int>(deps.size()));
    else
        task_submit(t, deps.data(), static_cast<int>(deps.size()));
}

OMP_API void GOMP_taskwait(void) { taskwait(); }
OMP_API void GOMP_taskwait_depend(void **depend) {
    std::vector<Dep> deps = parse_depend(depend);
    task_wait_deps(deps.data(), static_cast<int>(deps.size()));
}
OMP_API void GOMP_taskyield(void) { taskyield(); }

// The group lives until its end: a heap object per group (the start and
// end calls are in one function of the caller, but on our side they are
// two calls, so it cannot be on our stack).
OMP_API void GOMP_taskgroup_start(void) { taskgroup_begin(new TaskGroup); }
OMP_API void GOMP_taskgroup_end(void) {
    TaskGroup *g = current_task()->cur_group;
    taskgroup_end();
    delete g;
}

OMP_API void GOMP_taskloop(void (*fn)(void *), void *data,
                           void (*cpyfn)(void *, void *), long arg_size,
                           long arg_align, unsigned flags,
                           unsigned long num_tasks, int priority, long start,
                           long end, long step) {
    taskloop<long>(fn, data, cpyfn, arg_size, arg_align, flags, num_tasks,
                   priority, start, end, step);
}
OMP_API void GOMP_taskloop_ull(void (*fn)(void *), void *data,
                               void (*cpyfn)(void *, void *), long arg_size,
                               long arg_align, unsigned flags,
                               unsigned long num_tasks, int priority,
                               unsigned long long start,
                               unsigned long long end,
                               unsigned long long step) {
    taskloop<unsigned long long>(fn, data, cpyfn, arg_size, arg_align, flags,
                                 num_tasks, priority, start, end, step);
}
