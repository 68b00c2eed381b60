// omp_alloc_cxx.cpp: OpenMP allocators from C++. omp.h's C++ default
// arguments (omp_alloc(size) uses def-allocator-var, omp_free(p) the
// null allocator), and a standard-library allocator adapter over an
// aligned OpenMP allocator: each member builds a std::vector and a
// std::map through it; elements are 64-byte aligned and the contents are
// right.
#include <omp.h>

#include <cstdint>
#include <map>
#include <new>
#include <vector>

#include "check.h"

template <class T>
struct OmpAllocator {
    using value_type = T;
    omp_allocator_handle_t h;
    explicit OmpAllocator(omp_allocator_handle_t a) : h(a) {}
    template <class U>
    OmpAllocator(const OmpAllocator<U> &o) : h(o.h) {}
    T *allocate(std::size_t n) {
        void *p = omp_alloc(n * sizeof(T), h);
        if (!p) throw std::bad_alloc();
        return static_cast<T *>(p);
    }
    void deallocate(T *p, std::size_t) { omp_free(p, h); }
    template <class U>
    bool operator==(const OmpAllocator<U> &o) const { return h == o.h; }
    template <class U>
    bool operator!=(const OmpAllocator<U> &o) const { return h != o.h; }
};

int main() {
    int *p = static_cast<int *>(omp_alloc(10 * sizeof(int)));
    CHECK(p != nullptr);
    p[9] = 9;
    omp_free(p);

    omp_alloctrait_t t[1] = {{omp_atk_alignment, 64}};
    omp_allocator_handle_t a = omp_init_allocator(omp_default_mem_space, 1, t);
    CHECK(a != omp_null_allocator);
    int bad = 0;
#pragma omp parallel num_threads(4) reduction(+ : bad)
    {
        int me = omp_get_thread_num();
        OmpAllocator<double> al(a);
        std::vector<double, OmpAllocator<double>> v(al);
        for (int i = 0; i < 5000; ++i) v.push_back(me * 10000.0 + i);
        bad += reinterpret_cast<std::uintptr_t>(v.data()) % 64 != 0;
        for (int i = 0; i < 5000; ++i) bad += v[i] != me * 10000.0 + i;
        using Pair = std::pair<const int, int>;
        std::map<int, int, std::less<int>, OmpAllocator<Pair>> m{
            std::less<int>(), OmpAllocator<Pair>(a)};
        for (int i = 0; i < 1000; ++i) m[i] = i * me;
        for (int i = 0; i < 1000; ++i) bad += m[i] != i * me;
    }
    CHECK(bad == 0);
    omp_destroy_allocator(a);
    return 0;
}
