// omp_taskred_cxx.cpp: task reductions of C++ objects and array sections.
// Private copies of a class with a constructor/destructor are initialised
// from omp_orig (user-declared reduction with an initializer), combined
// once each and destroyed: the live-object count returns to its start.
// Whole arrays and (gcc) run-time-length array sections are reduced too.
// 4 members.
#include <omp.h>

#include <string>
#include <vector>

#include "check.h"

namespace {

int g_live = 0;  // Acc objects alive (constructions - destructions)

struct Acc {
    std::vector<long> v;
    std::string tag;
    Acc() : v(4, 0) {
#pragma omp atomic
        g_live++;
    }
    Acc(const Acc &o) : v(o.v.size(), 0), tag(o.tag) {
#pragma omp atomic
        g_live++;
    }
    ~Acc() {
#pragma omp atomic
        g_live--;
    }
    void merge(const Acc &o) {
        for (size_t i = 0; i < v.size(); ++i) v[i] += o.v[i];
    }
};

#pragma omp declare reduction(merge : Acc : omp_out.merge(omp_in)) \
    initializer(omp_priv = Acc(omp_orig))

void class_items() {
    int live0 = g_live;
    {
        Acc acc;
        acc.tag = "sum";
#pragma omp parallel num_threads(4) shared(acc)
#pragma omp single
        {
#pragma omp taskgroup task_reduction(merge : acc)
            {
                for (long i = 1; i <= 200; i++) {
#pragma omp task in_reduction(merge : acc) firstprivate(i)
                    {
                        CHECK(acc.tag == "sum");  // copied from omp_orig
                        acc.v[static_cast<size_t>(i % 4)] += i;
                    }
                }
            }
        }
        long want[4] = {0, 0, 0, 0};
        for (long i = 1; i <= 200; i++) want[i % 4] += i;
        for (int k = 0; k < 4; k++) CHECK(acc.v[static_cast<size_t>(k)] == want[k]);
    }
    CHECK(g_live == live0);
}

// A whole array, and (gcc) an array section with a run-time length.
// clang-14 passes a section's length to its init/combine routines in a
// thread_local that only the tasks set, so the member ending the taskgroup
// combines with a stale length unless it ran one of the tasks (libomp's
// producing thread nearly always does; here another member may have run
// them all): a clang bug, so the section is checked with gcc only.
void arrays(int n) {
    long fixed[8] = {0};
#pragma omp parallel num_threads(4) shared(fixed)
#pragma omp single
    {
#pragma omp taskgroup task_reduction(+ : fixed)
        {
            for (int i = 0; i < 300; i++) {
#pragma omp task in_reduction(+ : fixed) firstprivate(i)
                fixed[i % 8] += 1;
            }
        }
    }
    for (int k = 0; k < 8; k++) CHECK(fixed[k] == 300 / 8 + (k < 300 % 8 ? 1 : 0));
#ifndef __clang__
    std::vector<long> a(static_cast<size_t>(n), 0);
    long *p = a.data();
#pragma omp parallel num_threads(4) firstprivate(p, n)
#pragma omp single
    {
#pragma omp taskgroup task_reduction(+ : p[0:n])
        {
            for (int i = 0; i < 300; i++) {
#pragma omp task in_reduction(+ : p[0:n]) firstprivate(i)
                p[i % n] += 1;
            }
        }
    }
    long total = 0;
    for (int k = 0; k < n; k++) {
        CHECK(a[static_cast<size_t>(k)] == 300 / n + (k < 300 % n ? 1 : 0));
        total += a[static_cast<size_t>(k)];
    }
    CHECK(total == 300);
#else
    (void)n;
#endif
}

void lambdas_in_tasks() {
    long s = 0;
#pragma omp parallel num_threads(4) reduction(task, + : s)
    {
        auto add = [&](long v) { s += v; };
        add(1);
#pragma omp task in_reduction(+ : s)
        s += 10;
    }
    int n = 0;
#pragma omp parallel num_threads(4)
#pragma omp single
    n = omp_get_num_threads();
    CHECK(s == 11L * n);
}

}  // namespace

int main() {
    for (int rep = 0; rep < 5; rep++) {
        class_items();
        arrays(7 + rep);
        lambdas_in_tasks();
    }
    std::puts("omp_taskred_cxx: ok");
    return 0;
}
