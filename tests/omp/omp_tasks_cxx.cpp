// omp_tasks_cxx.cpp: C++ tasks. firstprivate class objects are copy
// constructed into each task and destroyed after it (gcc: cpyfn; clang:
// the destructor thunk), in tasks and in taskloop tasks; lambdas and
// std::vector / std::string captured by value; every construction is
// matched by a destruction once the region ends.
#include <omp.h>

#include <atomic>
#include <string>
#include <vector>

#include "check.h"

static std::atomic<int> live{0}, made{0};

struct Counted {
    int v;
    explicit Counted(int x) : v(x) { ++live; ++made; }
    Counted(const Counted &o) : v(o.v) { ++live; ++made; }
    ~Counted() { --live; }
};

int main() {
    std::atomic<long> sum{0};
    {
        Counted c(3);
        std::string s = "task";
        std::vector<int> vec(100, 1);
#pragma omp parallel num_threads(4)
#pragma omp single
        {
            for (int i = 0; i < 200; ++i) {
#pragma omp task firstprivate(c, s, vec, i) shared(sum)
                {
                    auto f = [&] { return c.v + (long)s.size() + (long)vec.size() + i; };
                    sum += f();
                }
            }
#pragma omp taskwait
#pragma omp taskloop firstprivate(c) shared(sum) num_tasks(10)
            for (int i = 0; i < 100; ++i) sum += c.v;
        }
    }
    long expect = 200L * (3 + 4 + 100) + 199L * 200 / 2 + 100L * 3;
    CHECK(sum.load() == expect);
    CHECK(live.load() == 0);
    CHECK(made.load() > 200);  // one copy per task at least

    // Tasks building a result in a shared vector through dependences.
    std::string parts[8];
    std::string joined;
#pragma omp parallel num_threads(4)
#pragma omp single
    {
        for (int i = 0; i < 8; ++i) {
#pragma omp task depend(out : parts[i]) firstprivate(i) shared(parts)
            parts[i] = std::string(1, static_cast<char>('a' + i));
        }
        for (int i = 0; i < 8; ++i) {
#pragma omp task depend(in : parts[i]) depend(inout : joined) firstprivate(i) shared(parts, joined)
            joined += parts[i];
        }
    }
    CHECK(joined == "abcdefgh");
    return 0;
}
