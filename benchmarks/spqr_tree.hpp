// spqr_tree.hpp: a synthetic multifrontal QR factorisation, the SPQR
// pattern of the thesis' evaluation (ch. 3): a task tree (the elimination
// tree) whose nodes factor dense frontal matrices with LAPACK/BLAS, i.e. TBB
// tasks calling OpenMP-parallel OpenBLAS kernels. Shared by
// benchmarks/bench_spqr.cpp and tests/compose/spqr_tree.cpp.
//
// The tree is complete: `depth` levels below the root, `fanout` children
// per inner node, nodes numbered in level order (children of i: i*fanout+1
// .. i*fanout+fanout). Every node's front has n = npiv + cb columns and
// m = own + children * cb rows (column-major, leading dimension m):
//   - rows [0, own): the node's own rows, a product X * Y of two
//     deterministic pseudo-random factors (own x inner, inner x n), formed
//     by one dgemm straight into the front (standing in for the assembly of
//     the sparse matrix's rows; it is the kernel that scales on 2 cores);
//   - then each child's contribution block in child order: the child's
//     R[npiv:n, npiv:n] (cb x cb upper triangle) in columns [0, cb), i.e.
//     the child's trailing columns are the parent's leading ones (extend-add
//     with a fixed column map).
// The node then factors the whole front with dgeqrf; R's first npiv rows are
// the node's part of the factor and R[npiv:n, npiv:n] goes to the parent.
// A node starts after all its children finished (factor_tree: a
// tbb::task_group per inner node; factor_sequential: plain recursion).
//
// Result: the checksum, sum over nodes (in node order, after the tree) of
// |R_jj| for j < npiv. The |R_jj| are the same in exact arithmetic whatever
// the signs the Householder reflections give R's rows, so the checksum
// differs between runs only by rounding: identical for the same OpenBLAS
// team size (every node's input is fixed and the sum's order too), equal
// within kTolerance for different team sizes (OpenBLAS splits work by team
// size, and a different split rounds differently: docs/omp.md).
//
// Context: any thread; factor_tree must run where tbb may be used. No
// locks: each node's slot (contribution, diagonal sum) is written by the
// task that factors it and read by its parent after task_group::wait.
#pragma once

#include <oneapi/tbb/task_group.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

// Debian's OpenBLAS (libopenblas0-openmp) ships no headers without the
// -dev package: the Fortran ABI prototypes (32-bit integers).
extern "C" {
void dgemm_(const char *ta, const char *tb, const int *m, const int *n, const int *k,
            const double *alpha, const double *a, const int *lda, const double *b,
            const int *ldb, const double *beta, double *c, const int *ldc);
void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau,
             double *work, const int *lwork, int *info);
}

namespace spqr {

struct Shape {
    const char *name;
    int depth;   // levels below the root
    int fanout;  // children per inner node
    int npiv;    // pivot columns per front
    int cb;      // contribution block size (trailing columns)
    int own;     // own rows per front (>= npiv + cb: full-rank R)
    int inner;   // inner dimension of the own rows' dgemm
};

// tiny: the test's (40 fronts of 64 columns, 96 to 192 rows, ~5 ms on one
// core); bench: bench_spqr's (21 fronts of 384 columns, 768 to 1536 rows,
// ~0.4 s on one core; why these sizes: docs/perf.md, "SPQR-like tree").
inline constexpr Shape kShapes[] = {
    {"tiny", 3, 3, 32, 32, 96, 64},
    {"bench", 2, 4, 192, 192, 768, 768},
};

// Allowed relative difference of checksums computed with different
// OpenBLAS team sizes (rounding only; a wrong assembly or a lost node
// changes the sum by far more: each node adds at least npiv * ~0.1).
inline constexpr double kTolerance = 1e-9;

inline const Shape *find_shape(const char *name) {
    for (const Shape &s : kShapes)
        if (std::string_view(name) == s.name) return &s;
    return nullptr;
}

class Tree {
  public:
    explicit Tree(const Shape &s) : s_(s) {
        // A front with fewer rows than columns would have a rank-deficient
        // R, whose |R_jj| are rounding noise: the checksum would not check.
        if (s.depth < 0 || s.fanout < 1 || s.npiv < 1 || s.cb < 1 || s.inner < 1 ||
            s.own < s.npiv + s.cb) {
            std::fprintf(stderr, "spqr::Tree: shape %s is invalid (needs own >= npiv + cb)\n",
                         s.name);
            std::abort();
        }
        long count = 1, level = 1;
        for (int d = 0; d < s.depth; ++d) count += level *= s.fanout;
        nodes_ = static_cast<int>(count);
        contribution_.resize(nodes_);
        diag_.assign(nodes_, 0.0);
    }
    int nodes() const { return nodes_; }

    // Factors the tree, siblings in parallel (TBB), each node's kernels as
    // OpenBLAS runs them (OpenMP-parallel with OMP_NUM_THREADS > 1).
    double factor_tree() {
        node_parallel(0);
        return checksum();
    }
    // The same, depth-first on the calling thread.
    double factor_sequential() {
        node_sequential(0);
        return checksum();
    }

  private:
    int first_child(int i) const { return i * s_.fanout + 1; }
    int children(int i) const { return first_child(i) < nodes_ ? s_.fanout : 0; }

    void node_parallel(int i) {
        if (int c = children(i)) {
            tbb::task_group g;
            for (int k = 0; k < c; ++k) g.run([this, i, k] { node_parallel(first_child(i) + k); });
            g.wait();
        }
        factor_front(i);
    }
    void node_sequential(int i) {
        for (int k = 0; k < children(i); ++k) node_sequential(first_child(i) + k);
        factor_front(i);
    }

    double checksum() const {
        double sum = 0;
        for (double d : diag_) sum += d;
        return sum;
    }

    // xorshift64 values in [-0.5, 0.5), seeded per node and factor.
    static void fill(std::vector<double> &v, uint64_t seed) {
        uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
        for (double &d : v) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            d = static_cast<double>(x >> 11) / 9007199254740992.0 - 0.5;
        }
    }

    void factor_front(int i) {
        const int n = s_.npiv + s_.cb, kids = children(i), m = s_.own + kids * s_.cb;
        std::vector<double> front(static_cast<size_t>(m) * n, 0.0);
        std::vector<double> x(static_cast<size_t>(s_.own) * s_.inner),
            y(static_cast<size_t>(s_.inner) * n);
        fill(x, 2 * static_cast<uint64_t>(i) + 1);
        fill(y, 2 * static_cast<uint64_t>(i) + 2);
        const double one = 1, zero = 0;
        dgemm_("N", "N", &s_.own, &n, &s_.inner, &one, x.data(), &s_.own, y.data(),
               &s_.inner, &zero, front.data(), &m);
        for (int k = 0; k < kids; ++k) {  // extend-add, column-major cb x cb
            const std::vector<double> &cb = contribution_[first_child(i) + k];
            const int row0 = s_.own + k * s_.cb;
            for (int col = 0; col < s_.cb; ++col)
                for (int r = 0; r <= col; ++r)
                    front[static_cast<size_t>(col) * m + row0 + r] =
                        cb[static_cast<size_t>(col) * s_.cb + r];
            contribution_[first_child(i) + k] = {};  // consumed
        }
        std::vector<double> tau(n);
        int lwork = -1, info = 0;
        double query = 0;
        dgeqrf_(&m, &n, front.data(), &m, tau.data(), &query, &lwork, &info);
        lwork = static_cast<int>(query);
        std::vector<double> work(lwork > 0 ? lwork : 1);
        dgeqrf_(&m, &n, front.data(), &m, tau.data(), work.data(), &lwork, &info);
        if (info != 0) {
            std::fprintf(stderr, "spqr_tree: dgeqrf of node %d (%d x %d) failed: info %d\n", i,
                         m, n, info);
            std::abort();
        }
        double d = 0;
        for (int j = 0; j < s_.npiv; ++j) d += std::fabs(front[static_cast<size_t>(j) * m + j]);
        diag_[i] = d;
        std::vector<double> out(static_cast<size_t>(s_.cb) * s_.cb, 0.0);
        for (int col = 0; col < s_.cb; ++col)
            for (int r = 0; r <= col; ++r)
                out[static_cast<size_t>(col) * s_.cb + r] =
                    front[static_cast<size_t>(s_.npiv + col) * m + s_.npiv + r];
        contribution_[i] = std::move(out);
    }

    Shape s_;
    int nodes_ = 0;
    std::vector<std::vector<double>> contribution_;  // cb x cb, node -> parent
    std::vector<double> diag_;                       // sum |R_jj|, j < npiv
};

// Relative equality of two checksums (kTolerance).
inline bool same_checksum(double a, double b) {
    return std::fabs(a - b) <= kTolerance * std::fabs(a);
}

}  // namespace spqr
