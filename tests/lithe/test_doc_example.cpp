// The worked example of docs/writing-a-scheduler.md (examples/tiny_for.hpp):
// the doc shows the file verbatim, and the code works alone, nested in
// itself, in the fork-join scheduler and around lithe::parallel_*.
#include <catch2/catch.hpp>
#include <lithe/fork_join.h>
#include <lithe/fork_join.hpp>
#include <lithe/lithe.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "examples/tiny_for.hpp"

namespace {

const std::filesystem::path kRoot =
    std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();

std::string read_file(const std::filesystem::path &p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The fenced block that follows the marker line in the doc.
std::string doc_block(const std::string &doc, const std::string &marker) {
    size_t at = doc.find(marker);
    if (at == std::string::npos) return "<marker not found>";
    size_t open = doc.find("```cpp\n", at);
    if (open == std::string::npos) return "<no code block after marker>";
    open += 7;
    size_t close = doc.find("\n```\n", open);
    if (close == std::string::npos) return "<unterminated code block>";
    return doc.substr(open, close + 1 - open);
}

int base_children() {
    struct lithe_sched_stats st {};
    lithe_sched_stats(lithe_sched_base(), &st);
    return st.children;
}

bool all_once(const std::vector<std::atomic<int>> &v) {
    for (auto &x : v)
        if (x.load() != 1) return false;
    return true;
}

}  // namespace

TEST_CASE("the doc shows examples/tiny_for.hpp verbatim") {
    std::string file = read_file(kRoot / "tests/lithe/examples/tiny_for.hpp");
    std::string doc = read_file(kRoot / "docs/writing-a-scheduler.md");
    REQUIRE(file.size() > 1000);
    REQUIRE(doc_block(doc, "<!-- verbatim: tests/lithe/examples/tiny_for.hpp -->") ==
            file);
}

TEST_CASE("tiny::parallel_for visits every index once") {
    for (long grain : {1L, 7L, 1000L}) {
        std::vector<std::atomic<int>> v(5000);
        tiny::parallel_for(0, 5000, grain, [&](long i) { v[i]++; });
        REQUIRE(all_once(v));
    }
    REQUIRE(base_children() == 0);
}

TEST_CASE("tiny: requests balance to zero by the time the loop is joined") {
    std::atomic<long> sum{0};
    tiny::ForScheduler s(0, 20000, 16, [&](long i) {
        sum += i;
        if (i % 512 == 0) lithe::yield();
    });
    struct lithe_sched_stats st {};
    {
        lithe::SchedGuard g(s);
        s.run();
        st = s.stats();
    }
    REQUIRE(sum == 19999L * 20000 / 2);
    REQUIRE(st.requested == 0);
    REQUIRE(st.contexts == 0);
}

TEST_CASE("tiny nests in itself three levels deep") {
    constexpr int A = 4, B = 5, C = 6;
    std::vector<std::atomic<int>> v(A * B * C);
    tiny::parallel_for(0, A, 1, [&](long a) {
        tiny::parallel_for(0, B, 1, [&](long b) {
            tiny::parallel_for(0, C, 2, [&](long c) { v[(a * B + b) * C + c]++; });
        });
    });
    REQUIRE(all_once(v));
    REQUIRE(base_children() == 0);
}

namespace {
struct Slice {
    std::vector<std::atomic<int>> *v;
    long lo, hi;
};
void fj_slice(void *p) {
    auto *s = static_cast<Slice *>(p);
    tiny::parallel_for(s->lo, s->hi, 3, [&](long i) { (*s->v)[i]++; });
}
}  // namespace

TEST_CASE("tiny nests inside the fork-join scheduler") {
    std::vector<std::atomic<int>> v(4000);
    std::vector<Slice> slices;
    for (long k = 0; k < 8; ++k) slices.push_back(Slice{&v, k * 500, k * 500 + 500});
    lithe_fj_sched_t *s = lithe_fj_sched_create();
    REQUIRE(lithe_sched_enter(&s->sched) == LITHE_OK);
    for (auto &sl : slices)
        REQUIRE(lithe_fj_context_create(s, 0, fj_slice, &sl) != nullptr);
    lithe_fj_sched_join_all(s);
    REQUIRE(lithe_sched_exit() == LITHE_OK);
    lithe_fj_sched_destroy(s);
    REQUIRE(all_once(v));
}

TEST_CASE("fork-join helpers nest inside tiny, and tiny inside them") {
    std::vector<std::atomic<int>> v(3 * 4 * 50);
    tiny::parallel_for(0, 3, 1, [&](long a) {
        lithe::parallel_invoke(
            [&] {
                lithe::parallel_for(0, 100, 7, [&](int i) {
                    v[(a * 4 + i / 50) * 50 + i % 50]++;
                });
            },
            [&] {
                tiny::parallel_for(100, 200, 9, [&](long i) {
                    v[(a * 4 + i / 50) * 50 + i % 50]++;
                });
            });
    });
    REQUIRE(all_once(v));
    REQUIRE(base_children() == 0);
}

TEST_CASE("tiny gets one hart per runnable context") {
    // Every worker spins, without yielding, until all have started: they
    // can only all start if tiny holds num_harts() harts at once. The
    // deadline only bounds the test if that property breaks.
    const int n = lithe_num_harts();
    std::atomic<int> started{0}, saw_all{0};
    tiny::parallel_for(0, n, 1, [&](long) {
        started++;
        auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (started.load() < n && std::chrono::steady_clock::now() < end) {
        }
        if (started.load() == n) saw_all++;
    });
    REQUIRE(saw_all == n);
}
