// The C++ API (lithe.hpp, fork_join.hpp): Scheduler dispatch, SchedGuard,
// parallel_invoke / parallel_for results, nesting, exceptions.
#include <catch2/catch.hpp>
#include <lithe/fork_join.h>
#include <lithe/fork_join.hpp>
#include <lithe/lithe.hpp>
#include <parlib/vcore.h>

#include <atomic>
#include <deque>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

// A FIFO scheduler written against lithe::Scheduler, counting every
// callback it receives and checking that each runs where lithe.h says:
// with lithe_sched_current() == this, in hart context unless it is
// hart_request or context_unblock. Child management is the base class's.
// Requests: +1 when a context becomes runnable (spawn, unblock), -1 when one
// blocks or exits, so stats().requested = runnable-or-running contexts - 1.
class FifoSched : public lithe::Scheduler {
  public:
    std::atomic<int> n_hart_request{0}, n_child_enter{0}, n_child_exit{0},
        n_hart_return{0}, n_hart_enter{0}, n_sched_enter{0}, n_sched_exit{0},
        n_block{0}, n_unblock{0}, n_yield{0}, n_exit{0};
    std::atomic<int> child_delta_sum{0};
    std::atomic<int> misplaced{0};  // callbacks run in the wrong place

    // From a context of this scheduler (its main context, usually).
    void spawn(std::function<void()> fn) {
        auto c = std::make_unique<lithe::Context>();
        REQUIRE(c->init(std::move(fn)) == LITHE_OK);
        lock_.lock();
        ++live_;
        runq_.push_back(c.get());
        lock_.unlock();
        lithe::hart_request(1);
        owned_.push_back(std::move(c));
    }
    // From the main context: waits until every spawned context exited, then
    // cleans them up.
    void join() {
        lithe::block([this](lithe_context_t *self) {
            lock_.lock();
            bool done = live_ == 0;
            if (!done) waiter_ = self;
            lock_.unlock();
            if (done) lithe::unblock(self);
        });
        owned_.clear();
    }

  protected:
    void hart_request(lithe_sched_t *child, int delta) override {
        check(false);
        ++n_hart_request;
        child_delta_sum += delta;
        lithe::Scheduler::hart_request(child, delta);
    }
    void child_enter(lithe_sched_t *child) override {
        check(true);
        ++n_child_enter;
        lithe::Scheduler::child_enter(child);
    }
    void child_exit(lithe_sched_t *child) override {
        check(true);
        ++n_child_exit;
        lithe::Scheduler::child_exit(child);
    }
    void hart_return(lithe_sched_t *child) override {
        check(true);
        ++n_hart_return;
        lithe::Scheduler::hart_return(child);
    }
    void hart_enter() override {
        check(true);
        ++n_hart_enter;
        grant_to_children();
        lock_.lock();
        lithe::Context *next = nullptr;
        if (!runq_.empty()) {
            next = runq_.front();
            runq_.pop_front();
        }
        lock_.unlock();
        if (next) next->run();
        lithe::hart_yield();
    }
    void sched_enter() override {
        check(true);
        ++n_sched_enter;
    }
    void sched_exit() override {
        check(true);
        ++n_sched_exit;
    }
    void context_block(lithe::Context &) override {
        check(true);
        ++n_block;
        lithe::hart_request(-1);
    }
    void context_unblock(lithe::Context &c) override {
        check(false);
        ++n_unblock;
        enqueue(c);
        lithe::hart_request(1);
    }
    void context_yield(lithe::Context &c) override {
        check(true);
        ++n_yield;
        enqueue(c);
    }
    void context_exit(lithe::Context &) override {
        check(true);
        ++n_exit;
        lithe::hart_request(-1);
        lock_.lock();
        lithe_context_t *w = --live_ == 0 ? waiter_ : nullptr;
        if (w) waiter_ = nullptr;
        lock_.unlock();
        if (w) lithe::unblock(w);
    }

  private:
    void check(bool hart_only) {
        if (lithe_sched_current() != native() ||
            (hart_only && !in_vcore_context()))
            ++misplaced;
    }
    void enqueue(lithe::Context &c) {
        lock_.lock();
        runq_.push_back(&c);
        lock_.unlock();
    }

    lithe::SpinLock lock_;
    std::deque<lithe::Context *> runq_;      // under lock_
    int live_ = 0;                           // under lock_
    lithe_context_t *waiter_ = nullptr;      // under lock_
    std::vector<std::unique_ptr<lithe::Context>> owned_;  // main context's
};

int base_children() {
    struct lithe_sched_stats st {};
    lithe_sched_stats(lithe_sched_base(), &st);
    return st.children;
}

}  // namespace

TEST_CASE("Scheduler: a derived scheduler receives its callbacks") {
    FifoSched s;
    std::atomic<int> ran{0}, foreign{0};
    {
        lithe::SchedGuard g(s);
        REQUIRE(lithe_sched_current() == s.native());
        REQUIRE(lithe_context_self() == s.main_context().native());
        for (int i = 0; i < 4; ++i)
            s.spawn([&] {
                if (lithe_sched_current() != s.native()) ++foreign;
                lithe::yield();
                ++ran;
            });
        s.join();
        REQUIRE(ran == 4);
    }
    REQUIRE(foreign == 0);
    REQUIRE(lithe_sched_current() == lithe_sched_base());
    CHECK(s.misplaced == 0);
    CHECK(s.n_sched_enter == 1);
    CHECK(s.n_sched_exit == 1);
    CHECK(s.n_exit == 4);
    CHECK(s.n_yield >= 4);  // each worker's yield (+ exit's drain loop)
    CHECK(s.n_block == 1);  // the main context's join
    CHECK(s.n_unblock == 1);
    CHECK(s.n_hart_enter >= 5);
    CHECK(s.n_child_enter == 0);
    CHECK(s.n_hart_request == 0);
}

TEST_CASE("Scheduler: a parent sees child_enter, hart_request, hart_return, "
          "child_exit, and its grants reach the child") {
    FifoSched a;
    FifoSched b;
    std::atomic<lithe_context_t *> gate{nullptr};
    std::atomic<bool> b_resumed{false};
    std::atomic<int> unblock_rc{1};
    {
        lithe::SchedGuard g(a);
        a.spawn([&] {  // W1: enters b, blocks b's main until W2 frees it
            lithe::SchedGuard gb(b);
            lithe::block([&](lithe_context_t *self) { gate.store(self); });
            b_resumed = true;
        });
        a.spawn([&] {  // W2: unblocks b's main from a's context
            // Wait until b gave its only hart back: hart_return is then
            // certain, and b can only resume through a's grant.
            while (!gate.load() || a.n_hart_return == 0) lithe::yield();
            unblock_rc = lithe::unblock(gate.load());
        });
        a.join();
    }
    REQUIRE(b_resumed);
    REQUIRE(unblock_rc == LITHE_OK);
    CHECK(a.misplaced == 0);
    CHECK(b.misplaced == 0);
    CHECK(a.n_child_enter == 1);
    CHECK(a.n_child_exit == 1);
    // b's main blocked with nothing else to run: b yielded that hart to a.
    CHECK(a.n_hart_return >= 1);
    // b asked -1 (its main blocked) and +1 (unblocked from a's context).
    CHECK(a.n_hart_request >= 2);
    CHECK(a.child_delta_sum == 0);
    CHECK(b.n_unblock == 1);
    CHECK(b.n_block == 1);
    struct lithe_sched_stats st = b.stats();
    CHECK(st.grants_received >= 1);  // the hart that resumed b's main
    CHECK(base_children() == 0);
}

TEST_CASE("Scheduler: child_exit withdraws what an exiting child still "
          "requested") {
    FifoSched a;
    FifoSched b;
    int64_t before = 0, during = 0, after = 0;
    {
        lithe::SchedGuard g(a);
        before = a.stats().requested;
        {
            lithe::SchedGuard gb(b);
            lithe::hart_request(2);  // forwarded by a to its parent
            during = a.stats().requested;
        }  // b exits still asking for 2
        after = a.stats().requested;
    }
    REQUIRE(during == before + 2);
    REQUIRE(after == before);
    REQUIRE(a.child_delta_sum == 2);
}

TEST_CASE("SchedGuard enters in its constructor and exits in its destructor") {
    lithe_sched_t *base = lithe_sched_base();
    FifoSched s;
    {
        lithe::SchedGuard g(s);
        REQUIRE(lithe_sched_current() == s.native());
        REQUIRE(base_children() == 1);
        lithe_fj_sched_t *fj = lithe_fj_sched_create();
        {
            lithe::SchedGuard inner(&fj->sched);
            REQUIRE(lithe_sched_current() == &fj->sched);
            REQUIRE(s.stats().children == 1);
        }
        lithe_fj_sched_destroy(fj);
        REQUIRE(lithe_sched_current() == s.native());
        REQUIRE(s.stats().children == 0);
    }
    REQUIRE(lithe_sched_current() == base);
    REQUIRE(lithe_context_self() == base->main_context);
    REQUIRE(base_children() == 0);
}

TEST_CASE("Scheduler can be entered again after it exited") {
    FifoSched s;
    int ran = 0;
    for (int round = 0; round < 3; ++round) {
        lithe::SchedGuard g(s);
        s.spawn([&] { ++ran; });
        s.join();
    }
    REQUIRE(ran == 3);
    REQUIRE(s.n_sched_enter == 3);
    REQUIRE(s.n_sched_exit == 3);
}

TEST_CASE("SchedGuard throws lithe::Error when the enter fails") {
    lithe_set_misuse_policy(LITHE_MISUSE_RETURN);
    FifoSched s;
    int code = LITHE_OK;
    {
        lithe::SchedGuard g(s);
        try {
            lithe::SchedGuard again(s);  // already entered
        } catch (const lithe::Error &e) {
            code = e.code();
        }
        REQUIRE(lithe_sched_current() == s.native());
    }
    lithe_set_misuse_policy(LITHE_MISUSE_ABORT);
    REQUIRE(code == LITHE_ESTATE);
    REQUIRE(lithe_sched_current() == lithe_sched_base());
}

TEST_CASE("parallel_invoke runs every callable once, each in a fork-join "
          "child of the caller's scheduler") {
    lithe_sched_t *caller = lithe_sched_current();
    std::vector<long> part(4, 0);
    std::atomic<int> wrong_sched{0};
    auto sum_range = [&](int which) {
        return [&, which] {
            lithe_sched_t *s = lithe_sched_current();
            if (s == caller || s->parent != caller) ++wrong_sched;
            for (long i = which * 1000; i < (which + 1) * 1000; ++i)
                part[which] += i;
        };
    };
    lithe::parallel_invoke(sum_range(0), sum_range(1), sum_range(2),
                           sum_range(3));
    REQUIRE(std::accumulate(part.begin(), part.end(), 0L) == 3999L * 4000 / 2);
    REQUIRE(wrong_sched == 0);
    REQUIRE(lithe_sched_current() == caller);
    REQUIRE(base_children() == 0);
    int one = 0;
    lithe::parallel_invoke([&] { ++one; });
    REQUIRE(one == 1);
}

TEST_CASE("parallel_for visits every index exactly once") {
    struct Case {
        long begin, end, grain;
    };
    for (Case c : {Case{0, 10000, 1}, Case{0, 10000, 0}, Case{-500, 501, 7},
                   Case{3, 4, 100}, Case{0, 999, 1000}}) {
        std::vector<std::atomic<int>> visits(c.end - c.begin);
        lithe::parallel_for(c.begin, c.end, c.grain,
                            [&](long i) { visits[i - c.begin]++; });
        for (auto &v : visits) REQUIRE(v.load() == 1);
    }
    int calls = 0;
    lithe::parallel_for(5, 5, 1, [&](int) { ++calls; });
    lithe::parallel_for(9, 2, 1, [&](int) { ++calls; });
    REQUIRE(calls == 0);
}

TEST_CASE("parallel_for range form sums a range") {
    const long n = 1000000;
    std::atomic<long> total{0};
    std::atomic<long> covered{0};
    lithe::parallel_for(0L, n, 4096L, [&](long lo, long hi) {
        long s = 0;
        for (long i = lo; i < hi; ++i) s += i;
        total += s;
        covered += hi - lo;
    });
    REQUIRE(covered == n);
    REQUIRE(total == (n - 1) * n / 2);
    // Mixed index types: unsigned end, int begin.
    std::atomic<unsigned long> t2{0};
    std::vector<int> v(777, 2);
    lithe::parallel_for(0, v.size(), 10, [&](size_t i) { t2 += v[i]; });
    REQUIRE(t2 == 2 * 777);
}

TEST_CASE("helpers nest three levels deep") {
    constexpr int I = 6, J = 5, K = 3;
    std::vector<std::atomic<int>> cell(I * J * K);
    lithe::parallel_for(0, I, 1, [&](int i) {
        lithe::parallel_for(0, J, 1, [&](int j) {
            lithe::parallel_invoke([&] { cell[(i * J + j) * K + 0]++; },
                                   [&] { cell[(i * J + j) * K + 1]++; },
                                   [&] { cell[(i * J + j) * K + 2]++; });
        });
    });
    for (auto &c : cell) REQUIRE(c.load() == 1);
    REQUIRE(base_children() == 0);
}

namespace {
struct FjArg {
    std::atomic<long> *sum;
    int k;
};
void fj_body(void *p) {
    auto *a = static_cast<FjArg *>(p);
    std::atomic<long> local{0};
    lithe::parallel_for(0, 1000, 16, [&](int i) { local += i; });
    long x = 0, y = 0;
    lithe::parallel_invoke([&] { x = a->k; }, [&] { y = 1000L * a->k; });
    *a->sum += local + x + y;
}
}  // namespace

TEST_CASE("helpers nest inside a raw fork-join scheduler") {
    std::atomic<long> sum{0};
    std::vector<FjArg> args;
    for (int k = 0; k < 6; ++k) args.push_back(FjArg{&sum, k});
    lithe_fj_sched_t *s = lithe_fj_sched_create();
    REQUIRE(lithe_sched_enter(&s->sched) == LITHE_OK);
    for (auto &a : args)
        REQUIRE(lithe_fj_context_create(s, 0, fj_body, &a) != nullptr);
    lithe_fj_sched_join_all(s);
    REQUIRE(lithe_sched_exit() == LITHE_OK);
    lithe_fj_sched_destroy(s);
    // Each context: sum(0..999) + k + 1000k.
    REQUIRE(sum == 6 * 499500L + 1001L * (0 + 1 + 2 + 3 + 4 + 5));
}

TEST_CASE("helpers nest inside a lithe::Scheduler-derived scheduler") {
    FifoSched s;
    std::atomic<long> sum{0};
    {
        lithe::SchedGuard g(s);
        for (int w = 0; w < 3; ++w)
            s.spawn([&] {
                // parallel_invoke forks even on one hart: a fork-join child
                // of s for sure, with parallel_for children below it.
                lithe::parallel_invoke(
                    [&] {
                        lithe::parallel_for(0, 1500, 10,
                                            [&](int i) { sum += i; });
                    },
                    [&] {
                        lithe::parallel_for(1500, 3000, 10,
                                            [&](int i) { sum += i; });
                    });
            });
        lithe::parallel_for(0, 3000, 0, [&](int i) { sum += i; });
        s.join();
    }
    REQUIRE(sum == 4 * (2999L * 3000 / 2));
    CHECK(s.n_child_enter == s.n_child_exit);
    CHECK(s.n_child_enter >= 3);  // one per parallel_invoke
    CHECK(s.misplaced == 0);
}

TEST_CASE("FirstException keeps the first exception captured") {
    lithe::detail::FirstException ex;
    REQUIRE_FALSE(ex.any());
    for (const char *m : {"first", "second"}) {
        try {
            throw std::runtime_error(m);
        } catch (...) {
            ex.capture();
        }
    }
    REQUIRE(ex.any());
    REQUIRE_THROWS_WITH(ex.rethrow(), "first");
}

TEST_CASE("parallel_invoke rethrows a piece's exception after all ran") {
    std::atomic<int> ran{0};
    auto ok = [&] { ++ran; };
    REQUIRE_THROWS_AS(
        lithe::parallel_invoke(ok, [&] {
            ++ran;
            throw std::out_of_range("piece");
        }, ok, ok),
        std::out_of_range);
    REQUIRE(ran == 4);
    REQUIRE(lithe_sched_current() == lithe_sched_base());
    // Several throw: exactly one of theirs arrives.
    std::string what;
    try {
        lithe::parallel_invoke([] { throw std::runtime_error("a"); },
                               [] { throw std::runtime_error("b"); },
                               [] { throw std::runtime_error("c"); });
    } catch (const std::runtime_error &e) {
        what = e.what();
    }
    REQUIRE((what == "a" || what == "b" || what == "c"));
    // The last piece runs in the caller: its exception is captured too, the
    // others still run and are joined.
    ran = 0;
    REQUIRE_THROWS_AS(lithe::parallel_invoke(ok, ok, [] { throw 7; }), int);
    REQUIRE(ran == 2);
}

TEST_CASE("parallel_for rethrows and stops handing out chunks") {
    const long n = 100000;
    std::atomic<long> executed{0};
    std::atomic<bool> first{true};
    std::atomic<bool> thrown{false};
    REQUIRE_THROWS_WITH(
        lithe::parallel_for(0L, n, 1L, [&](long) {
            if (first.exchange(false)) {
                thrown = true;
                throw std::runtime_error("chunk");
            }
            while (!thrown) lithe::yield();  // nobody finishes before the throw
            lithe::yield();
            ++executed;
        }),
        "chunk");
    REQUIRE(executed < n - 1);
    REQUIRE(lithe_sched_current() == lithe_sched_base());
}

TEST_CASE("exceptions propagate out of nested helpers") {
    std::atomic<int> leaves{0};
    REQUIRE_THROWS_WITH(
        lithe::parallel_for(0, 4, 1, [&](int i) {
            lithe::parallel_invoke(
                [&] { ++leaves; },
                [&] {
                    lithe::parallel_for(0, 4, 1, [&](int j) {
                        ++leaves;
                        if (i == 2 && j == 3) throw std::logic_error("deep");
                    });
                });
        }),
        "deep");
    REQUIRE(leaves >= 1);
    REQUIRE(base_children() == 0);
}

TEST_CASE("helpers run serially on a thread that is not a lithe context") {
    long sum = 0;
    int order_ok = 1;
    std::string what;
    bool foreign = false;
    std::thread t([&] {
        foreign = lithe_context_self() == nullptr;
        int last = -1;
        lithe::parallel_for(0, 100, 3, [&](int i) {
            if (i != last + 1) order_ok = 0;
            last = i;
            sum += i;
        });
        int x = 0;
        lithe::parallel_invoke([&] { x += 1; }, [&] { x += 2; });
        sum += x;
        try {
            lithe::parallel_invoke([] {}, [] { throw std::runtime_error("f"); });
        } catch (const std::runtime_error &e) {
            what = e.what();
        }
    });
    t.join();
    REQUIRE(foreign);
    REQUIRE(sum == 4950 + 3);
    REQUIRE(order_ok == 1);
    REQUIRE(what == "f");
}
