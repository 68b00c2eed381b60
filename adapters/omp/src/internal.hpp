// internal.hpp: the OpenMP adapter's shared types (docs/omp.md).
//
// Who owns what:
// * Member: one per OpenMP thread *position* (an implicit task). A team
//   worker's Member lives in its Worker (team.cpp); a master's Member for a
//   region lives on the master's stack for the region's duration (region.cpp).
//   `tls_member` points to the Member of the context running now; each
//   context has its own TLS, so this is the "current OpenMP thread".
// * Team: one per region, on the master's stack; members only touch it
//   between region start and their dock (team.cpp guarantees the master
//   outlives every member's use of it).
// * Spin: short critical sections only, never held across a context switch;
//   usable in hart context (block callbacks take it).
// Blocking (barriers, mutexes, joins) uses lithe_context_block; a caller
// that is not a lithe context (foreign pthread) spins with sched_yield.
#ifndef LITHE_OMP_INTERNAL_HPP
#define LITHE_OMP_INTERNAL_HPP

#include <lithe/fork_join.h>
#include <lithe/lithe.h>
#include <parlib/sync.hpp>

#include <atomic>
#include <cstdint>
#include <vector>

#define OMP_API extern "C" __attribute__((visibility("default")))

namespace lomp {

using Spin = parlib::SpinLock;  // never blocks a hart

// Spins until cond() holds or PARLIB_SPIN_US microseconds (parlib's knob
// and default, 50) have passed; returns cond()'s last value. Waiters call
// it before blocking: short waits then cost no context switch.
uint64_t spin_budget_ns();
uint64_t now_ns();
template <class F>
bool spin_until(F cond) {
    uint64_t budget = spin_budget_ns();
    if (budget == 0) return cond();
    uint64_t deadline = now_ns() + budget;
    for (unsigned i = 1;; ++i) {
        if (cond()) return true;
        __builtin_ia32_pause();
        if ((i & 63) == 0 && now_ns() >= deadline) return cond();
    }
}

// ---- ICVs (icv.cpp) ----
enum SchedKind { kStatic = 1, kDynamic = 2, kGuided = 3, kAuto = 4 };
struct Icv {
    int nthreads;          // nthreads-var for the next region
    int level_of_list;     // index into the OMP_NUM_THREADS list used
    bool dynamic;          // dyn-var
    int max_active_levels; // max-active-levels-var
    SchedKind run_sched;   // run-sched-var
    int64_t run_chunk;     // 0 = default
};
struct Globals {
    std::vector<int> nthreads_list;  // OMP_NUM_THREADS
    int thread_limit;                // OMP_THREAD_LIMIT
    size_t stack_size;               // OMP_STACKSIZE (0 = parlib default)
    Icv initial;                     // ICVs of the initial thread
};
const Globals &globals();
// nthreads-var of a region at nesting `level` (1 = outermost) whose
// encountering thread had `parent`.
int inherited_nthreads(const Icv &parent, int level);

// ---- blocking mutex (sync.cpp) ----
struct Waiter {
    lithe_context_t *ctx;
    Waiter *next;
};
class Mutex {
  public:
    void lock();
    bool try_lock();
    void unlock();

  private:
    Spin s_;
    bool held_ = false;
    Waiter *head_ = nullptr, *tail_ = nullptr;
    friend void mutex_block_cb(lithe_context_t *, void *);
};

// ---- barrier (barrier.cpp) ----
class Barrier {
  public:
    void reset(int n);
    void wait();

  private:
    Spin s_;
    int n_ = 1, arrived_ = 0;
    std::atomic<uint64_t> gen_{0};
    Waiter *waiters_ = nullptr;
    friend void barrier_block_cb(lithe_context_t *, void *);
};

// ---- loops (loops.cpp) ----
struct LoopSlot {
    Spin s;
    uint64_t seq = 0;  // loop number initialised here (0 = never used)
    int finished = 0;  // members done with loop `seq`
    SchedKind kind = kStatic;
    uint64_t trip = 0, chunk = 1;
    bool ordered = false;
    uint64_t ord_next = 0;  // ordered: first iteration of the chunk whose
                            // ordered regions may run now
    std::atomic<uint64_t> next{0};
    Waiter *waiters = nullptr;  // members waiting (reuse, or ordered turn)
};
constexpr int kLoopSlots = 4;

// ---- team and members ----
struct Team;
struct Member {
    Team *team = nullptr;
    int tid = 0;
    int level = 0;         // enclosing regions, active or not
    int active_level = 0;  // enclosing regions with more than one member
    Icv icv{};
    Member *outer = nullptr;   // the same context's Member one level out
    int push_nthreads = 0;     // __kmpc_push_num_threads, next fork only
    uint64_t singles = 0;      // single constructs encountered in `team`
    uint64_t loops = 0;        // worksharing loops started in `team`
    LoopSlot *loop = nullptr;  // the loop being worked on
    uint64_t static_k = 0;     // static schedule: chunks taken so far
    bool loop_done = false;
    bool has_chunk = false;            // ordered: a chunk not yet passed on
    uint64_t chunk_first = 0, chunk_end = 0;
    uint64_t base = 0, step = 0;  // ABI view of `loop`: i-th iteration's
                                  // value is base + i*step (mod 2^64)
};

struct Team {
    int n = 1;
    int level = 0, active_level = 0;
    void (*body)(void *) = nullptr;  // run by every member
    void *data = nullptr;
    Member *master = nullptr;
    Barrier barrier;
    std::atomic<uint64_t> singles{0};  // single constructs claimed
    void *copy_data = nullptr;         // copyprivate broadcast
    Mutex reduce_lock;
    LoopSlot loops[kLoopSlots];
    // Join: workers not yet docked, and the blocked master (team.cpp).
    Spin join_lock;
    std::atomic<int> running{0};
    lithe_context_t *joiner = nullptr;
};

// The current OpenMP thread (initial-thread Member if none).
Member *self();
void set_self(Member *m);
int gtid();  // a unique small id of the calling context

// ---- team.cpp ----
// Runs `t` (t->n members, t->body) with the calling context as member 0,
// in the scheduler the caller has just entered. Returns after every member
// finished the body (the region's closing barrier).
void team_run(Team *t, Member *master_member);

// ---- region.cpp ----
// A parallel region: every member runs body(data). `requested` = 0 means
// nthreads-var.
void region_fork(void (*body)(void *), void *data, int requested);
// Push/pop a one-member region in the calling context (kmpc serialized).
void serialized_push();
void serialized_pop();

// ---- loops.cpp: a worksharing loop over iterations [0, trip) ----
void loop_start(SchedKind kind, uint64_t chunk, uint64_t trip,
                bool ordered = false);
// ordered regions of an ordered loop: enter waits for the member's chunk's
// turn (chunks pass the turn on in iteration order when their member takes
// its next chunk or finishes).
void ordered_enter();
// Next chunk: first iteration and count; false when none is left (the
// member is then done with the loop).
bool loop_next(uint64_t *first, uint64_t *count, bool *last);
SchedKind resolve_runtime(uint64_t *chunk);

// ---- sync.cpp ----
bool single_begin();
void critical_enter(std::atomic<Mutex *> *slot);
void critical_exit(std::atomic<Mutex *> *slot);
Mutex &global_critical();  // unnamed critical and GOMP_atomic

[[noreturn]] void fatal(const char *fmt, ...);

}  // namespace lomp

extern "C" [[noreturn]] void lithe_omp_unimplemented(const char *name);

#endif
