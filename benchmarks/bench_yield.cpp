// bench_yield: round trip A -> B -> A between two execution contexts on ONE
// core, per mechanism (one "op" = two switches):
//  - parlib uthreads on one vcore (PARLIB_VCORES=1, forced), yielding
//    through the scheduler: save, vcore context, yield callback (enqueue),
//    vcore entry (events), sched_entry (dequeue), run_uthread. Full-TLS
//    (FS base switched) and lightweight (vcore's TLS) variants.
//  - the same with fifo_sched's policy of a vcore_request per enqueue;
//  - the same 2LS switching with uthread_yield_to: the yielder dequeues the
//    next uthread itself and hands the vcore to it directly (one stack
//    switch, one FS write; the callback queues the yielder on the target's
//    stack);
//  - a handoff through vcore context (the yield callback runs the partner
//    with run_uthread, skipping the vcore entry and the run queue): the
//    floor of a switch through vcore context; and uthread_yield_to(partner)
//    with no callback and no queue: the floor of a parlib switch;
//  - references: two NPTL threads pinned to one CPU ping-ponging on a futex,
//    and a raw Boost.Context jump_fcontext ping-pong, also with one
//    wrfsbase per jump (what switching TLS adds to the cheapest switch).
// All variants are interleaved in the same process (harness.hpp).
#include <boost/context/detail/fcontext.hpp>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "bench_sched.hpp"
#include "harness.hpp"

namespace bctx = boost::context::detail;

namespace {

// ---- parlib uthreads --------------------------------------------------

struct Pair {
    bsched::Thread a, b;
    int64_t n = 0;
};

void yield_loop(void *p) {
    auto *pr = static_cast<Pair *>(p);
    for (int64_t i = 0; i < pr->n; ++i) bsched::yield();
}

void yield_direct_loop(void *p) {
    auto *pr = static_cast<Pair *>(p);
    for (int64_t i = 0; i < pr->n; ++i) bsched::yield_direct();
}

// Direct handoff: the yield callback (vcore context, caller already saved
// and READY) runs the partner itself.
void handoff(bsched::Thread *to) {
    uthread_yield(true, [](uthread *, void *p) {
        run_uthread(static_cast<uthread *>(p));
    }, &to->u);
}

// Direct switch: uthread_yield_to the partner, nothing else.
void yield_to(bsched::Thread *to) { uthread_yield_to(&to->u, true, nullptr, nullptr); }

template <void (*kSwitch)(bsched::Thread *)>
void handoff_a(void *p) {
    auto *pr = static_cast<Pair *>(p);
    for (int64_t i = 0; i < pr->n; ++i) kSwitch(&pr->b);
}

// b's last switch goes through the scheduler and queues both, so neither is
// left READY but unqueued when the other exits.
template <void (*kSwitch)(bsched::Thread *)>
void handoff_b(void *p) {
    auto *pr = static_cast<Pair *>(p);
    for (int64_t i = 0; i + 1 < pr->n; ++i) kSwitch(&pr->a);
    uthread_yield(true, [](uthread *self, void *a) {
        bsched::enqueue(static_cast<uthread *>(a));
        bsched::enqueue(self);
    }, &pr->a.u);
}

void run_pair_sched(Pair &pr, int64_t n, bool own_tls,
                    void (*loop)(void *) = yield_loop) {
    pr.n = n;
    bsched::arm(&pr.a, loop, &pr, own_tls);
    bsched::arm(&pr.b, loop, &pr, own_tls);
    uthread_runnable(&pr.a.u);
    uthread_runnable(&pr.b.u);
    bsched::join(&pr.a);
    bsched::join(&pr.b);
}

template <void (*kSwitch)(bsched::Thread *)>
void run_pair_handoff(Pair &pr, int64_t n, bool own_tls) {
    pr.n = n;
    bsched::arm(&pr.a, handoff_a<kSwitch>, &pr, own_tls);
    bsched::arm(&pr.b, handoff_b<kSwitch>, &pr, own_tls);
    uthread_runnable(&pr.a.u);  // b is first run by a's handoff
    bsched::join(&pr.a);
    bsched::join(&pr.b);
}

// ---- NPTL: two pinned threads, futex ping-pong ---------------------------

long futex(std::atomic<uint32_t> *w, int op, uint32_t v) {
    return syscall(SYS_futex, reinterpret_cast<uint32_t *>(w),
                   op | FUTEX_PRIVATE_FLAG, v, nullptr, nullptr, 0);
}

// Persistent threads: each round is started through `gen` and reported
// through `finished`, so thread creation is not measured.
struct Nptl {
    std::atomic<uint32_t> seq{0}, gen{0}, finished{0};
    int64_t n = 0;
};
Nptl g_nptl;

template <bool kFirst>
void *nptl_main(void *) {
    Nptl &s = g_nptl;
    uint32_t seen = 0;
    for (;;) {
        uint32_t g;
        while ((g = s.gen.load(std::memory_order_acquire)) == seen)
            futex(&s.gen, FUTEX_WAIT, seen);
        seen = g;
        for (int64_t i = 0; i < s.n; ++i) {
            auto odd = static_cast<uint32_t>(2 * i + 1);
            if (kFirst) {
                s.seq.store(odd, std::memory_order_release);
                futex(&s.seq, FUTEX_WAKE, 1);
                while (s.seq.load(std::memory_order_acquire) == odd)
                    futex(&s.seq, FUTEX_WAIT, odd);
            } else {
                uint32_t v;
                while ((v = s.seq.load(std::memory_order_acquire)) != odd)
                    futex(&s.seq, FUTEX_WAIT, v);
                s.seq.store(odd + 1, std::memory_order_release);
                futex(&s.seq, FUTEX_WAKE, 1);
            }
        }
        s.finished.fetch_add(1, std::memory_order_release);
        futex(&s.finished, FUTEX_WAKE, 1);
    }
    return nullptr;
}

void nptl_start(int cpu) {
    cpu_set_t m;
    CPU_ZERO(&m);
    CPU_SET(cpu, &m);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setaffinity_np(&a, sizeof m, &m);
    pthread_t t;
    if (pthread_create(&t, &a, nptl_main<true>, nullptr) ||
        pthread_create(&t, &a, nptl_main<false>, nullptr))
        bsched::die("pthread_create", errno);
    pthread_attr_destroy(&a);
}

// Blocks this vcore's kernel thread while the pair runs: nothing else is
// runnable here, and the pair has the CPU to itself.
void nptl_round(int64_t n) {
    Nptl &s = g_nptl;
    s.n = n;
    s.seq.store(0);
    s.finished.store(0);
    s.gen.fetch_add(1, std::memory_order_release);
    futex(&s.gen, FUTEX_WAKE, 2);
    uint32_t f;
    while ((f = s.finished.load(std::memory_order_acquire)) < 2)
        futex(&s.finished, FUTEX_WAIT, f);
}

// ---- Boost.Context: raw fcontext ping-pong ------------------------------

bctx::fcontext_t g_fiber, g_fiber_fs;

void fiber_main(bctx::transfer_t t) {
    for (;;) t = bctx::jump_fcontext(t.fctx, nullptr);
}

// The floor of any switch that also changes TLS: one wrfsbase per jump. It
// rewrites the current FS base (the main uthread's TCB, which both sides
// run on here), which costs what writing another TCB's would.
inline void rewrite_fs() {
    uint64_t fs;
    asm volatile("mov %%fs:0, %0" : "=r"(fs));
    asm volatile("wrfsbase %0" ::"r"(fs));
}

void fiber_fs_main(bctx::transfer_t t) {
    for (;;) {
        rewrite_fs();
        t = bctx::jump_fcontext(t.fctx, nullptr);
    }
}

bctx::fcontext_t boost_start(void (*fn)(bctx::transfer_t)) {
    constexpr size_t kStack = 64 << 10;
    void *s = mmap(nullptr, kStack, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED) bsched::die("mmap", errno);
    return bctx::make_fcontext(static_cast<char *>(s) + kStack, kStack, fn);
}

void boost_round(int64_t n) {
    bctx::fcontext_t f = g_fiber;
    for (int64_t i = 0; i < n; ++i) f = bctx::jump_fcontext(f, nullptr).fctx;
    g_fiber = f;
}

void boost_fs_round(int64_t n) {
    bctx::fcontext_t f = g_fiber_fs;
    for (int64_t i = 0; i < n; ++i) {
        rewrite_fs();
        f = bctx::jump_fcontext(f, nullptr).fctx;
    }
    g_fiber_fs = f;
}

}  // namespace

int main() {
    setenv("PARLIB_VCORES", "1", 1);  // the benchmark is defined on one vcore
    bsched::init();
    nptl_start(sched_getcpu());  // the vcore's CPU; idle while the pair runs
    g_fiber = boost_start(fiber_main);
    bool fsgsbase = (getauxval(AT_HWCAP2) & 2) != 0;  // HWCAP2_FSGSBASE
    if (fsgsbase) g_fiber_fs = boost_start(fiber_fs_main);

    static Pair full, light, full_d, light_d, full_h, light_h, full_t,
        light_t, full_fifo;
    const char *kFull = "uthread, full TLS, via 2LS";
    const char *kLight = "uthread, lightweight, via 2LS";
    const char *kFullD = "uthread, full TLS, via 2LS, uthread_yield_to next";
    const char *kLightD = "uthread, lightweight, via 2LS, uthread_yield_to next";
    const char *kFifo = "uthread, full TLS, via 2LS + vcore_request per enqueue";
    const char *kFullH = "uthread, full TLS, handoff through vcore context";
    const char *kLightH = "uthread, lightweight, handoff through vcore context";
    const char *kFullT = "uthread, full TLS, uthread_yield_to partner";
    const char *kLightT = "uthread, lightweight, uthread_yield_to partner";
    const char *kNptl = "NPTL futex ping-pong, 1 CPU";
    const char *kBoost = "Boost.Context jump_fcontext";
    const char *kBoostFs = "Boost.Context jump_fcontext + wrfsbase per jump";

    bench::Suite s("yield round trip");
    s.add_timed(kFull, 10000, [](int64_t n) { run_pair_sched(full, n, true); });
    s.add_timed(kLight, 20000,
                [](int64_t n) { run_pair_sched(light, n, false); });
    s.add_timed(kFullD, 10000, [](int64_t n) {
        run_pair_sched(full_d, n, true, yield_direct_loop);
    });
    s.add_timed(kLightD, 20000, [](int64_t n) {
        run_pair_sched(light_d, n, false, yield_direct_loop);
    });
    s.add_timed(kFifo, 10000, [](int64_t n) {
        bsched::g_request_every_enqueue = true;
        run_pair_sched(full_fifo, n, true);
        bsched::g_request_every_enqueue = false;
    });
    s.add_timed(kFullH, 10000,
                [](int64_t n) { run_pair_handoff<handoff>(full_h, n, true); });
    s.add_timed(kLightH, 20000, [](int64_t n) {
        run_pair_handoff<handoff>(light_h, n, false);
    });
    s.add_timed(kFullT, 10000,
                [](int64_t n) { run_pair_handoff<yield_to>(full_t, n, true); });
    s.add_timed(kLightT, 20000, [](int64_t n) {
        run_pair_handoff<yield_to>(light_t, n, false);
    });
    s.add_timed(kNptl, 200, nptl_round);
    s.add_timed(kBoost, 100000, boost_round);
    if (fsgsbase) s.add_timed(kBoostFs, 50000, boost_fs_round);

    for (const char *v : {kFull, kLight, kFullD, kLightD}) {
        s.target_speedup(v, kNptl, 40, "≥ 40x faster than NPTL");
        s.target_speedup(v, kBoost, 1.0 / 3, "within 3x of Boost.Context");
    }
    for (const char *v : {kFifo, kFullH, kLightH, kFullT, kLightT})
        s.compare(v, kBoost);
    if (fsgsbase) s.compare(kFullT, kBoostFs);
    s.compare(kNptl, kBoost);
    if (fsgsbase) s.compare(kBoostFs, kBoost);
    s.run(3 * bench::rounds_from_env());  // ~1 ms rounds: afford many
    s.print("Yield round trip (A → B → A) on one core",
            "One op = two switches. uthreads: two uthreads on one vcore "
            "(PARLIB_VCORES=1) yielding through the scheduler (its run "
            "queue): uthread_yield → vcore context → callback queues the "
            "yielder → sched_entry dequeues → run_uthread; \"uthread_yield_to "
            "next\" = the yielder dequeues the next uthread itself and hands "
            "the vcore to it (one switch; the callback queues the yielder on "
            "the target's stack). \"handoff through vcore context\" = the "
            "yield callback calls run_uthread(partner) (no vcore entry, no "
            "run queue): the floor of a switch through vcore context; "
            "\"uthread_yield_to partner\" = no queue, no callback: the floor "
            "of a parlib switch. "
            "NPTL: two threads pinned to the vcore's CPU waking each other "
            "with FUTEX_WAKE / FUTEX_WAIT. Boost: raw jump_fcontext "
            "ping-pong (no TLS switch, no scheduler); \"+ wrfsbase per "
            "jump\" adds the one TLS write any full-TLS switch needs: the "
            "floor for a full-TLS uthread switch on this CPU.");
    return 0;
}
