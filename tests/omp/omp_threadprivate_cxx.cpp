// omp_threadprivate_cxx.cpp: threadprivate C++ objects with a constructor,
// destructor and copy assignment (clang builds this with
// -fnoopenmp-use-tls: __kmpc_threadprivate_register + _cached). Checks:
// each member's copy is constructed once (by the registered constructor),
// persists across regions, copyin assigns the master's value; under lithe
// every copy is destroyed at exit, before the original (checked by the
// original's destructor and by a checker constructed first, so destroyed
// last).
#include <omp.h>
#include <unistd.h>

#include <atomic>

#include "check.h"

static std::atomic<int> ctors{0}, dtors{0}, assigns{0};

struct ExitCheck {
    ~ExitCheck() {
        if (under_lithe() && dtors.load() != ctors.load()) {
            fprintf(stderr, "exit: %d constructed, %d destroyed\n",
                    ctors.load(), dtors.load());
            _exit(3);
        }
    }
};
static ExitCheck exit_check;

struct Obj;
static Obj *original;

struct Obj {
    int v;
    int magic;
    Obj() : v(7), magic(0x5eed) { ++ctors; }
    Obj(const Obj &o) : v(o.v), magic(0x5eed) { ++ctors; }
    Obj &operator=(const Obj &o) {
        CHECK(magic == 0x5eed && o.magic == 0x5eed);
        v = o.v;
        ++assigns;
        return *this;
    }
    ~Obj() {
        CHECK(magic == 0x5eed);
        if (this == original && under_lithe() &&
            dtors.load() != ctors.load() - 1) {
            fprintf(stderr, "original destroyed before its copies\n");
            _exit(4);
        }
        magic = 0;
        ++dtors;
    }
};

static Obj obj;
#pragma omp threadprivate(obj)

int main() {
    omp_set_dynamic(0);
    const int n = 4;
    Obj *addr[n];
    original = &obj;
#pragma omp parallel num_threads(n)
    {
        int id = omp_get_thread_num();
        CHECK(obj.magic == 0x5eed && obj.v == 7);
        addr[id] = &obj;
        obj.v = 10 * id;
    }
    CHECK(addr[0] == &obj && obj.v == 0);
    int made = ctors.load();
    CHECK(made == n);  // the original and one copy per other member
    for (int round = 0; round < 100; ++round) {
        int bad = 0;
#pragma omp parallel num_threads(n) reduction(+ : bad)
        {
            int id = omp_get_thread_num();
            if (&obj != addr[id] || obj.v != 10 * id + round) ++bad;
#pragma omp barrier
            obj.v = 10 * id + round + 1;
        }
        CHECK(bad == 0);
    }
    CHECK(ctors.load() == made);  // no copy made twice
    for (int round = 0; round < 50; ++round) {
        obj.v = 1000 + round;
        int bad = 0;
#pragma omp parallel num_threads(n) copyin(obj) reduction(+ : bad)
        {
            if (obj.v != 1000 + round) ++bad;
        }
        CHECK(bad == 0);
    }
    CHECK(assigns.load() >= 50 * (n - 1));
    CHECK(dtors.load() == 0);
    return 0;
}
