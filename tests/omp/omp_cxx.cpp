// omp_cxx.cpp: OpenMP from C++: a parallel loop over a std::vector with a
// class-type private accumulator, a user-declared reduction, a lambda
// called from a region, and a threadprivate object.
#include <omp.h>

#include <numeric>
#include <vector>

#include "check.h"

struct Acc {
    long sum = 0;
    long n = 0;
};
#pragma omp declare reduction(acc:Acc : omp_out.sum += omp_in.sum, omp_out.n += omp_in.n)

struct Counter {
    int v;
};
static Counter ctr = {7};  // each member's TLS starts as a copy
#pragma omp threadprivate(ctr)

int main() {
    std::vector<int> v(10000);
    std::iota(v.begin(), v.end(), 1);
    Acc a;
#pragma omp parallel for reduction(acc : a) schedule(dynamic, 64) num_threads(4)
    for (size_t i = 0; i < v.size(); ++i) {
        a.sum += v[i];
        a.n++;
    }
    CHECK(a.sum == 10000L * 10001 / 2 && a.n == 10000);

    auto body = [&](int tid) { return tid * 2; };
    std::vector<int> out(4, -1);
#pragma omp parallel num_threads(4)
    out[omp_get_thread_num()] = body(omp_get_thread_num());
    for (int i = 0; i < 4; ++i) CHECK(out[i] == 2 * i);

    int bad = 0;
#pragma omp parallel num_threads(4) reduction(+ : bad)
    {
        bad += ctr.v != 7;
        ctr.v = omp_get_thread_num();
    }
#pragma omp parallel num_threads(4) reduction(+ : bad)
    bad += ctr.v != omp_get_thread_num();
    CHECK(bad == 0);
    printf("omp_cxx: ok\n");
    return 0;
}
