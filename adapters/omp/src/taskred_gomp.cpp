// taskred_gomp.cpp: gcc's task reductions (libgomp task.c ABI):
// GOMP_taskgroup_reduction_register/unregister, GOMP_task_reduction_remap,
// GOMP_parallel_reductions and the worksharing form (reduction(task, ...)
// on for/sections/scope: abi_gomp.cpp calls in here,
// GOMP_workshare_task_reduction_unregister ends it).
//
// The compiler owns the combining: it passes an array in libgomp's layout
//   d[0] items, d[1] bytes of one member's block, d[2] alignment (the
//   runtime stores the blocks' base there), d[3] allocator, d[4] next
//   array of this registration (the runtime links the last one to the
//   previous registration), d[5] internal (here: 1 on a registration's
//   head, 0 elsewhere), d[6] internal (end of the blocks), then per item
//   {address of the original, offset in the block, internal}
// and, after the construct, combines the team size's blocks itself. The
// runtime allocates one zeroed block per team member and maps an
// original's address (or an address inside any member's block) to the
// executing member's copy. The newest array is kept in the innermost
// TaskGroup (task.hpp); older registrations are reachable through d[4].
// A registration is read only by members of the team it was made for:
// the blocks are indexed by Member::tid.
#include <cstdlib>
#include <cstring>

#include "task.hpp"

namespace lomp {
namespace {

// libgomp's gomp_reduction_register: allocates (or, for a worksharing
// construct's later members, shares the first member's `orig`) blocks for
// every array of `data`'s chain and links it in front of `old`.
void register_chain(uintptr_t *data, uintptr_t *old, uintptr_t *orig,
                    int nthreads) {
    for (uintptr_t *d = data;;) {
        if (orig) {
            d[2] = orig[2];
            d[6] = orig[6];
            orig = reinterpret_cast<uintptr_t *>(orig[4]);
        } else {
            size_t align = d[2] < sizeof(void *) ? sizeof(void *) : d[2];
            size_t sz = d[1] * static_cast<size_t>(nthreads);
            void *p = std::aligned_alloc(align, (sz + align - 1) / align * align);
            if (!p) fatal("task reduction: out of memory (%zu bytes)", sz);
            std::memset(p, 0, sz);
            d[2] = reinterpret_cast<uintptr_t>(p);
            d[6] = d[2] + sz;
        }
        d[5] = d == data ? 1 : 0;
        for (uintptr_t j = 0; j < d[0]; ++j)
            d[7 + 3 * j + 2] = reinterpret_cast<uintptr_t>(d);
        if (d[4] == 0) {
            d[4] = reinterpret_cast<uintptr_t>(old);
            return;
        }
        d = reinterpret_cast<uintptr_t *>(d[4]);
    }
}

TaskGroup *innermost_group(const char *who) {
    TaskGroup *g = current_task()->cur_group;
    if (!g) fatal("%s outside a taskgroup", who);
    return g;
}

// The array of `p`'s registration: the item whose original is `p`, or the
// array whose blocks contain `p`. Sets *item (nullptr for a block address).
uintptr_t *find(uintptr_t *chain, uintptr_t p, uintptr_t **item) {
    for (uintptr_t *d = chain; d; d = reinterpret_cast<uintptr_t *>(d[4]))
        for (uintptr_t j = 0; j < d[0]; ++j)
            if (d[7 + 3 * j] == p) {
                *item = d + 7 + 3 * j;
                return d;
            }
    *item = nullptr;
    for (uintptr_t *d = chain; d; d = reinterpret_cast<uintptr_t *>(d[4]))
        if (p >= d[2] && p < d[6]) return d;
    return nullptr;
}

// GOMP_parallel_reductions: the first member to start registers the array
// for the team's size; every member's implicit task then has `group`
// (holding it) as its innermost taskgroup.
struct ParallelRed {
    ParallelRed(void (*f)(void *), void *d, uintptr_t *r)
        : fn(f), data(d), red(r) {}
    void (*fn)(void *);
    void *data;
    uintptr_t *red;
    Spin s;
    bool registered = false;
    int nthreads = 1;
    TaskGroup group;
};

void run_parallel_red(void *p) {
    auto *pr = static_cast<ParallelRed *>(p);
    {
        std::lock_guard<Spin> g(pr->s);
        if (!pr->registered) {
            pr->nthreads = self()->team->n;
            register_chain(pr->red, nullptr, nullptr, pr->nthreads);
            pr->group.gomp_red = pr->red;
            pr->registered = true;
        }
    }
    current_task()->cur_group = &pr->group;
    pr->fn(pr->data);
}

}  // namespace

void gomp_taskgroup_reduction_register(uintptr_t *data) {
    TaskGroup *g = innermost_group("GOMP_taskgroup_reduction_register");
    register_chain(data, g->gomp_red, nullptr, self()->team->n);
    g->gomp_red = data;
}

void gomp_workshare_reduction_register(uintptr_t *data, uintptr_t *orig) {
    TaskGroup *g = innermost_group("worksharing task reduction");
    register_chain(data, g->gomp_red, orig, self()->team->n);
    g->gomp_red = data;
}

}  // namespace lomp

using namespace lomp;

OMP_API void GOMP_taskgroup_reduction_register(uintptr_t *data) {
    gomp_taskgroup_reduction_register(data);
}

// Frees the blocks of `data`'s registration (its arrays up to the next
// registration's head).
OMP_API void GOMP_taskgroup_reduction_unregister(uintptr_t *data) {
    uintptr_t *d = data;
    do {
        std::free(reinterpret_cast<void *>(d[2]));
        d = reinterpret_cast<uintptr_t *>(d[4]);
    } while (d && !d[5]);
}

// ptrs[i] (an original's address, or an address in some member's block)
// becomes the executing member's copy; for i < cntorig, ptrs[cnt + i]
// gets the original's address.
OMP_API void GOMP_task_reduction_remap(size_t cnt, size_t cntorig,
                                       void **ptrs) {
    TaskGroup *g = innermost_group("GOMP_task_reduction_remap");
    uintptr_t id = static_cast<uintptr_t>(self()->tid);
    for (size_t i = 0; i < cnt; ++i) {
        uintptr_t p = reinterpret_cast<uintptr_t>(ptrs[i]), *item;
        uintptr_t *d = find(g->gomp_red, p, &item);
        if (!d)
            fatal("GOMP_task_reduction_remap: %p is no task_reduction or "
                  "task-modifier reduction item", ptrs[i]);
        uintptr_t off = item ? item[1] : (p - d[2]) % d[1];
        if (d[2] + id * d[1] >= d[6])  // a member of another (nested) team
            fatal("GOMP_task_reduction_remap: thread %zu is not in the team "
                  "the reduction of %p was registered for",
                  static_cast<size_t>(id), ptrs[i]);
        ptrs[i] = reinterpret_cast<void *>(d[2] + id * d[1] + off);
        if (i >= cntorig) continue;
        if (!item)
            for (uintptr_t j = 0; j < d[0] && !item; ++j)
                if (d[7 + 3 * j + 1] == off) item = d + 7 + 3 * j;
        if (!item)
            fatal("GOMP_task_reduction_remap: no item at offset %zu",
                  static_cast<size_t>(off));
        ptrs[cnt + i] = reinterpret_cast<void *>(item[0]);
    }
}

// The end of a worksharing construct with task reductions (after its
// closing barrier, which ran every task, and the compiler's combining in
// member 0): ends the member's taskgroup; member 0 frees the blocks.
OMP_API void GOMP_workshare_task_reduction_unregister(bool cancelled) {
    Member *m = self();
    TaskGroup *g = innermost_group("GOMP_workshare_task_reduction_unregister");
    uintptr_t *data = g->gomp_red;
    taskgroup_end();
    delete g;
    if (m->tid == 0) GOMP_taskgroup_reduction_unregister(data);
    if (!cancelled) m->team->barrier.wait();
}

// parallel reduction(task, ...): data's first word points to the array.
// Returns the team size (the compiler combines that many blocks).
OMP_API unsigned GOMP_parallel_reductions(void (*fn)(void *), void *data,
                                          unsigned nthreads, unsigned) {
    ParallelRed pr(fn, data, *static_cast<uintptr_t **>(data));
    region_fork(run_parallel_red, &pr, static_cast<int>(nthreads));
    return static_cast<unsigned>(pr.nthreads);
}
