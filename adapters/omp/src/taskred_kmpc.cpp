// taskred_kmpc.cpp: clang's task reductions (libomp kmp_tasking.cpp ABI):
// __kmpc_task_reduction_init / __kmpc_taskred_init (taskgroup
// task_reduction, taskloop reduction), __kmpc_task_reduction_get_th_data
// (in_reduction), __kmpc_task_reduction_modifier_init /
// __kmpc_taskred_modifier_init (reduction(task, ...) on parallel and
// worksharing constructs; their __kmpc_task_reduction_modifier_fini is
// __kmpc_end_taskgroup, abi_kmpc_task.cpp).
//
// Unlike gcc, the runtime combines: each item gets one private copy per
// team member (indexed by Member::tid, initialised by the compiler's init
// routine, or lazily on first use with the lazy_priv flag); at the end of
// the taskgroup (kmp_taskgroup_reduction_end, from __kmpc_end_taskgroup)
// every copy is combined into the shared item and finalised. In a
// one-member team nothing is allocated: the shared item is used directly.
//
// Modifier form: every member opens its own taskgroup; the first member
// to arrive (CAS on Team::kmp_red[is_ws] from null to 1) allocates the
// copies and publishes its items; the others wait for them and copy them
// with their own shared item (each member's reduction variable is private
// to it). At the end the last member to finish (Team::kmp_red_fini)
// combines every copy into its own shared item (the enclosing reduction
// then combines the members' variables) and frees the copies; the others
// only drop their item arrays. As libomp does.
#include <sched.h>

#include <cstdlib>
#include <cstring>

#include "task.hpp"

namespace lomp {

struct KmpRedItem {
    void *shar;    // the shared item (combined into)
    void *orig;    // omp_orig for init (null: old single-argument init)
    size_t size;   // bytes per copy, a multiple of 64
    int n;         // members (copies)
    bool lazy;     // priv is an array of n pointers, filled on first use
    void *priv;    // n copies (or n pointers)
    void *pend;    // end of the copies (not lazy)
    void (*comb)(void *, void *);
    void *init;
    void (*fini)(void *);
};

namespace {

// kmp_task_red_input_t (old) and kmp_taskred_input_t (new, with orig).
struct RedInputOld {
    void *shar;
    size_t size;
    void *init, *fini, *comb;
    unsigned flags;  // bit 0: lazy_priv
};
struct RedInputNew {
    void *shar, *orig;
    size_t size;
    void *init, *fini, *comb;
    unsigned flags;
};

void init_copy(const KmpRedItem &it, void *p) {
    if (!it.init) return;
    if (it.orig)
        reinterpret_cast<void (*)(void *, void *)>(it.init)(p, it.orig);
    else
        reinterpret_cast<void (*)(void *)>(it.init)(p);
}

template <class In>
KmpRedItem item_of(const In &in) {
    KmpRedItem it{};
    it.shar = in.shar;
    if constexpr (std::is_same_v<In, RedInputNew>)
        it.orig = in.orig ? in.orig : in.shar;
    it.size = (in.size + 63) / 64 * 64;
    it.lazy = (in.flags & 1) != 0;
    it.comb = reinterpret_cast<void (*)(void *, void *)>(in.comb);
    it.init = in.init;
    it.fini = reinterpret_cast<void (*)(void *)>(in.fini);
    if (!it.comb) fatal("task reduction: item %p without a combiner", in.shar);
    return it;
}

// Allocates and initialises the copies of `num` items for `n` members.
template <class In>
KmpRedItem *make_items(int num, const In *data, int n) {
    auto *arr = new KmpRedItem[num];
    for (int i = 0; i < num; ++i) {
        KmpRedItem &it = arr[i] = item_of(data[i]);
        it.n = n;
        if (it.lazy) {
            it.priv = std::calloc(static_cast<size_t>(n), sizeof(void *));
            continue;
        }
        size_t bytes = it.size * static_cast<size_t>(n);
        it.priv = std::aligned_alloc(64, bytes);
        if (!it.priv) fatal("task reduction: out of memory (%zu bytes)", bytes);
        std::memset(it.priv, 0, bytes);
        it.pend = static_cast<char *>(it.priv) + bytes;
        for (int j = 0; j < n; ++j)
            init_copy(it, static_cast<char *>(it.priv) + j * it.size);
    }
    return arr;
}

// Combines every copy into the shared items, finalises and frees them.
void combine_items(KmpRedItem *arr, int num, int n) {
    for (int i = 0; i < num; ++i) {
        KmpRedItem &it = arr[i];
        for (int j = 0; j < n; ++j) {
            void *p = it.lazy ? static_cast<void **>(it.priv)[j]
                              : static_cast<char *>(it.priv) + j * it.size;
            if (!p) continue;
            it.comb(it.shar, p);
            if (it.fini) it.fini(p);
            if (it.lazy) std::free(p);
        }
        std::free(it.priv);
    }
    delete[] arr;
}

template <class In>
void *taskgroup_init(int num, const In *data) {
    TaskGroup *g = current_task()->cur_group;
    if (!g) fatal("__kmpc_task_reduction_init outside a taskgroup");
    int n = self()->team->n;
    if (n > 1 && num > 0) {
        g->kmp_red = make_items(num, data, n);
        g->kmp_nred = num;
    }
    return g;
}

template <class In>
void *modifier_init(int is_ws, int num, const In *data) {
    taskgroup_begin(new TaskGroup);
    TaskGroup *g = current_task()->cur_group;
    Team *t = self()->team;
    int n = t->n;
    if (n == 1 || num <= 0) return g;
    void *busy = reinterpret_cast<void *>(1), *expect = nullptr;
    std::atomic<void *> &shared = t->kmp_red[is_ws];
    g->kmp_nred = num;
    g->kmp_modifier = is_ws;
    if (shared.compare_exchange_strong(expect, busy)) {
        g->kmp_red = make_items(num, data, n);
        auto *copy = new KmpRedItem[num];
        std::memcpy(copy, g->kmp_red, num * sizeof(KmpRedItem));
        shared.store(copy, std::memory_order_release);
        return g;
    }
    void *p;
    spin_until([&] { return shared.load(std::memory_order_acquire) != busy; });
    while ((p = shared.load(std::memory_order_acquire)) == busy)
        sched_yield();  // a context yields its hart (sched_yield_guard)
    g->kmp_red = new KmpRedItem[num];
    std::memcpy(g->kmp_red, p, num * sizeof(KmpRedItem));
    for (int i = 0; i < num; ++i) g->kmp_red[i].shar = data[i].shar;
    return g;
}

}  // namespace

void kmp_taskgroup_reduction_end(TaskGroup *g) {
    if (!g->kmp_red) return;
    Team *t = self()->team;
    if (g->kmp_modifier < 0) {
        combine_items(g->kmp_red, g->kmp_nred, t->n);
    } else {
        int w = g->kmp_modifier;
        if (t->kmp_red_fini[w].fetch_add(1, std::memory_order_acq_rel) ==
            t->n - 1) {
            combine_items(g->kmp_red, g->kmp_nred, t->n);
            delete[] static_cast<KmpRedItem *>(t->kmp_red[w].load());
            t->kmp_red_fini[w].store(0, std::memory_order_relaxed);
            t->kmp_red[w].store(nullptr, std::memory_order_release);
        } else {
            delete[] g->kmp_red;
        }
    }
    g->kmp_red = nullptr;
    g->kmp_nred = 0;
}

}  // namespace lomp

using namespace lomp;

OMP_API void *__kmpc_task_reduction_init(int, int num, void *data) {
    return taskgroup_init(num, static_cast<RedInputOld *>(data));
}
OMP_API void *__kmpc_taskred_init(int, int num, void *data) {
    return taskgroup_init(num, static_cast<RedInputNew *>(data));
}
OMP_API void *__kmpc_task_reduction_modifier_init(void *, int, int is_ws,
                                                  int num, void *data) {
    return modifier_init(is_ws ? 1 : 0, num, static_cast<RedInputOld *>(data));
}
OMP_API void *__kmpc_taskred_modifier_init(void *, int, int is_ws, int num,
                                           void *data) {
    return modifier_init(is_ws ? 1 : 0, num, static_cast<RedInputNew *>(data));
}

// The calling member's copy of the item `data` names (its shared address,
// or an address in any member's copy), searched from `tg` (null: the
// current task's innermost taskgroup) outwards.
OMP_API void *__kmpc_task_reduction_get_th_data(int, void *tg, void *data) {
    Member *m = self();
    int n = m->team->n;
    if (n == 1) return data;
    auto *g = static_cast<TaskGroup *>(tg);
    if (!g) g = current_task()->cur_group;
    for (; g; g = g->outer) {
        for (int i = 0; i < g->kmp_nred; ++i) {
            KmpRedItem &it = g->kmp_red[i];
            void **pp = static_cast<void **>(it.priv);
            bool found = data == it.shar;
            if (!it.lazy)
                found = found || (data >= it.priv && data < it.pend);
            for (int j = 0; it.lazy && j < it.n && !found; ++j)
                found = pp[j] == data;
            if (!found) continue;
            if (m->tid >= it.n)  // a member of another (nested) team
                fatal("__kmpc_task_reduction_get_th_data: thread %d is not "
                      "in the team of the reduction of %p", m->tid, data);
            if (!it.lazy)
                return static_cast<char *>(it.priv) + m->tid * it.size;
            if (!pp[m->tid]) {
                pp[m->tid] = std::aligned_alloc(64, it.size);
                std::memset(pp[m->tid], 0, it.size);
                init_copy(it, pp[m->tid]);
            }
            return pp[m->tid];
        }
    }
    fatal("__kmpc_task_reduction_get_th_data: %p is no task reduction item",
          data);
}
