// harness.hpp: the measurement harness shared by benchmarks/bench_*.cpp:
// variants, interleaved repeated rounds, medians, ratios of medians, and the
// markdown report (one table per suite, plus one machine-readable JSON line
// per variant inside an HTML comment, so docs/perf.md carries both).
//
// Why not Google Benchmark (1.7.1 is installed): it runs each benchmark to
// completion before the next one starts, so on these shared 2-CPU VMs a burst
// of interference (another build, the host) lands on one variant and not on
// the one it is compared with, and the ratio is then meaningless. Here every
// comparison is between variants of one process measured in the same rounds:
// round r runs every variant once, in an order rotated each round, and the
// rounds are repeated (BENCH_ROUNDS, default 15; a suite whose rounds are
// short may run a multiple of it: more rounds make the median shrug off
// more bursts of interference). A variant's value for a
// round is "per operation" (a batch of `iters` operations timed as a whole,
// or a value the variant measures itself, e.g. the median of latency
// samples); we report the median over rounds with min and max, and ratios of
// medians. Some variants also need untimed set-up before each round (letting
// a pool refill), which the `before` hook provides.
//
// Everything printed is a report: a missed target prints "no", it never
// fails or aborts anything.
#pragma once

#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace bench {

// CLOCK_MONOTONIC (vDSO, consistent across CPUs) in nanoseconds.
inline uint64_t now_ns() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000u +
           static_cast<uint64_t>(ts.tv_nsec);
}

inline void spin_until_ns(uint64_t deadline) {
    while (now_ns() < deadline) __builtin_ia32_pause();
}

inline double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

inline int rounds_from_env() {
    const char *s = getenv("BENCH_ROUNDS");
    int r = s ? atoi(s) : 0;
    return r > 0 ? r : 15;
}

class Suite {
  public:
    // `unit` is what the per-op values are in; lower is better for all of
    // them. Ratios read "faster/slower" for time units, "lower/higher"
    // otherwise.
    // `name` is the short benchmark name of the table's first column.
    Suite(std::string name, std::string unit = "ns")
        : name_(std::move(name)), unit_(std::move(unit)) {}

    // fn(n) performs n operations; the harness times the call.
    void add_timed(std::string name, int64_t iters,
                   std::function<void(int64_t)> fn,
                   std::function<void()> before = {}) {
        add_measured(
            std::move(name), iters,
            [fn = std::move(fn)](int64_t n) {
                uint64_t t0 = now_ns();
                fn(n);
                return static_cast<double>(now_ns() - t0) /
                       static_cast<double>(n);
            },
            std::move(before));
    }

    // fn(n) performs n operations, measures them itself and returns the
    // round's value per operation.
    void add_measured(std::string name, int64_t iters,
                      std::function<double(int64_t)> fn,
                      std::function<void()> before = {}) {
        variants_.push_back(
            {std::move(name), iters, std::move(fn), std::move(before), {}});
    }

    // Shows `variant`'s ratio against `ref` without a target.
    void compare(const std::string &variant, const std::string &ref) {
        checks_.push_back({variant, ref, 0, 0, ""});
    }
    // Target: ref median / variant median >= min_speedup.
    void target_speedup(const std::string &variant, const std::string &ref,
                        double min_speedup, std::string text) {
        checks_.push_back({variant, ref, min_speedup, 0, std::move(text)});
    }
    // Target: variant median <= max_value.
    void target_at_most(const std::string &variant, double max_value,
                        std::string text) {
        checks_.push_back({variant, "", 0, max_value, std::move(text)});
    }

    // One untimed warm-up round, then `rounds` interleaved rounds.
    void run(int rounds = rounds_from_env()) {
        rounds_ = rounds;
        size_t nv = variants_.size();
        for (Variant &v : variants_) run_one(v, false);
        for (int r = 0; r < rounds; ++r)
            for (size_t k = 0; k < nv; ++k)
                run_one(variants_[(r + k) % nv], true);
    }

    double median_of(const std::string &name) const {
        return median(find(name).values);
    }

    // Markdown: heading, optional description, the table, JSON lines.
    void print(const std::string &heading,
               const std::string &description = "") const {
        printf("### %s\n\n", heading.c_str());
        if (!description.empty()) printf("%s ", description.c_str());
        printf("%d interleaved rounds after a warm-up round.\n\n", rounds_);
        printf("| benchmark | variant | median %s | min | max | ratio vs "
               "reference | target | met? |\n",
               unit_.c_str());
        printf("|---|---|---:|---:|---:|---|---|---|\n");
        for (const Variant &v : variants_) {
            bool any = false;
            for (const Check &c : checks_)
                if (c.variant == v.name) {
                    print_row(v, &c);
                    any = true;
                }
            if (!any) print_row(v, nullptr);
        }
        printf("\n");
        for (const Variant &v : variants_) {
            auto mm = std::minmax_element(v.values.begin(), v.values.end());
            printf("<!-- bench-json {\"suite\":\"%s\",\"variant\":\"%s\","
                   "\"unit\":\"%s\",\"median\":%.4g,\"min\":%.4g,"
                   "\"max\":%.4g,\"rounds\":%d,\"iters_per_round\":%lld} "
                   "-->\n",
                   json_safe(name_).c_str(), json_safe(v.name).c_str(),
                   unit_.c_str(), median(v.values), *mm.first, *mm.second,
                   rounds_, static_cast<long long>(v.iters));
        }
        printf("\n");
        fflush(stdout);
    }

  private:
    struct Variant {
        std::string name;
        int64_t iters;
        std::function<double(int64_t)> fn;
        std::function<void()> before;
        std::vector<double> values;
    };
    struct Check {
        std::string variant, ref;
        double min_speedup, max_value;
        std::string text;  // empty: comparison only
    };

    void run_one(Variant &v, bool keep) {
        if (v.before) v.before();
        double x = v.fn(v.iters);
        if (keep) v.values.push_back(x);
    }

    const Variant &find(const std::string &name) const {
        for (const Variant &v : variants_)
            if (v.name == name) return v;
        fprintf(stderr, "harness: no variant '%s' in '%s'\n", name.c_str(),
                name_.c_str());
        abort();  // a typo in a benchmark, not a measurement outcome
    }

    static std::string fmt(double x) {
        char b[64];
        if (x < 10) snprintf(b, sizeof b, "%.2f", x);
        else if (x < 1000) snprintf(b, sizeof b, "%.1f", x);
        else snprintf(b, sizeof b, "%.0f", x);
        return b;
    }

    static std::string json_safe(std::string s) {
        for (char &c : s)
            if (c == '"' || c == '\\') c = '\'';
        return s;
    }

    std::string ratio_text(double speedup, const std::string &ref) const {
        bool time = unit_ == "ns";
        char b[256];
        if (speedup >= 1)
            snprintf(b, sizeof b, "%.2fx %s than %s", speedup,
                     time ? "faster" : "lower", ref.c_str());
        else
            snprintf(b, sizeof b, "%.2fx %s than %s", 1 / speedup,
                     time ? "slower" : "higher", ref.c_str());
        return b;
    }

    void print_row(const Variant &v, const Check *c) const {
        double med = median(v.values);
        auto mm = std::minmax_element(v.values.begin(), v.values.end());
        std::string ratio = "—", target = "—", met = "—";
        if (c && !c->ref.empty()) {
            double speedup = median_of(c->ref) / med;  // +inf when med == 0
            ratio = med > 0 ? ratio_text(speedup, c->ref)
                            : "(median is 0) vs " + c->ref;
            if (!c->text.empty()) {
                target = c->text;
                met = speedup >= c->min_speedup ? "yes" : "**no**";
            }
        } else if (c) {
            target = c->text;
            met = med <= c->max_value ? "yes" : "**no**";
        }
        printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", name_.c_str(),
               v.name.c_str(), fmt(med).c_str(), fmt(*mm.first).c_str(),
               fmt(*mm.second).c_str(), ratio.c_str(), target.c_str(),
               met.c_str());
    }

    std::string name_, unit_;
    std::vector<Variant> variants_;
    std::vector<Check> checks_;
    int rounds_ = 0;
};

}  // namespace bench
