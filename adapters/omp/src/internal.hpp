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
//   usable in hart context (block callbacks take it). Taken in a context it
//   disables parlib notifications, so a time-sliced member is never paused
//   holding one (wait_policy.cpp).
// Blocking (barriers, mutexes, joins) uses lithe_context_block; a caller
// that is not a lithe context (foreign pthread) spins with sched_yield.
#ifndef LITHE_OMP_INTERNAL_HPP
#define LITHE_OMP_INTERNAL_HPP

#include <lithe/fork_join.h>
#include <lithe/lithe.h>
#include <lithe/spinlock.hpp>

#include <sched.h>

#include <atomic>
#include <cstdarg>
#include <cstdint>
#include <memory>
#include <vector>

#define OMP_API extern "C" __attribute__((visibility("default")))

namespace lomp {

using Spin = lithe::SpinLock;  // never blocks a hart

// Spins until cond() holds or the spin window (wait_policy.cpp:
// OMP_WAIT_POLICY, else PARLIB_SPIN_US, parlib's knob and default, 50 µs)
// has passed; returns cond()'s last value. Waiters call it before blocking:
// short waits then cost no context switch. Not while the caller's team has
// more members than its region holds harts (team_oversubscribed, as
// libgomp throttles its spin count past the CPU count): the member awaited
// may have no hart, and spinning would only delay the block that gives it
// one (4 members on 2 harts: barriers cost the whole window).
uint64_t spin_budget_ns();
uint64_t now_ns();
bool team_oversubscribed();
template <class F>
bool spin_until(F cond) {
    // Most waits end at once (an uncontended Mutex, a reduction's lock):
    // no clock read for those.
    if (cond()) return true;
    uint64_t budget = spin_budget_ns();
    if (budget == 0 || team_oversubscribed()) return cond();
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
    bool run_monotonic;    // run-sched-var's monotonic modifier
    int64_t run_chunk;     // 0 = default
    int thread_limit;      // thread-limit-var (a teams region's thread_limit)
    uintptr_t def_allocator;  // def-allocator-var (0: omp_default_mem_alloc)
    // Not ICVs, but inherited the same way by every thread of a team:
    // the enclosing teams region's team number and size (teams.cpp).
    int team_num;
    int num_teams;         // 0 outside teams (= 1 team)
};
struct Globals {
    std::vector<int> nthreads_list;  // OMP_NUM_THREADS
    int thread_limit;                // OMP_THREAD_LIMIT
    size_t stack_size;               // team member stacks (icv.cpp)
    Icv initial;                     // ICVs of the initial thread
};
const Globals &globals();
// nthreads-var of a region at nesting `level` (1 = outermost) whose
// encountering thread had `parent`.
int inherited_nthreads(const Icv &parent, int level);
// Runs fn(data) as a new initial thread (level 0, one-member team, the
// initial ICVs; thread_limit > 0 sets thread-limit-var): target regions'
// host fallback (target.cpp).
void run_as_initial_thread(void (*fn)(void *), void *data, int thread_limit);
// OMP_DISPLAY_ENV (display_env.cpp): prints the settings if asked to;
// called once, when globals() are first read.
bool display_env_at_start(const Globals &g);
void display_env(const Globals &g, const Icv &icv, bool verbose);
// OMP_DISPLAY_AFFINITY (affinity.cpp): a member about to run a region's
// body prints its affinity line if it has not printed one for this
// (level, member number, team size) yet.
void display_affinity_hook();
// kmp_set_defaults("OMP_TARGET_OFFLOAD=...") (target.cpp).
void set_target_offload(const char *v);
// OMP_ALLOCATOR's value as an allocator handle (alloc.cpp).
uintptr_t parse_allocator(const char *v);

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

// ---- wait queue: block until a predicate holds ----
// wait(pred) spins briefly, then blocks the calling context until pred()
// holds; the block callback re-checks pred() under `s_` (hart context, so
// pred must only read atomics). notify_all() wakes every sleeper to
// re-check; callers change the state pred reads *before* notifying (the
// seq_cst fence and counter make the two sides see each other). Foreign
// pthreads spin with sched_yield.
class WaitQueue {
  public:
    template <class P>
    void wait(P pred);
    void notify_all() {
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (nwait_.load(std::memory_order_seq_cst) == 0) return;
        s_.lock();
        Waiter *w = head_;
        head_ = nullptr;
        nwait_.store(0, std::memory_order_relaxed);
        s_.unlock();
        while (w) {
            Waiter *next = w->next;  // the node dies once its owner runs
            lithe_context_unblock(w->ctx);
            w = next;
        }
    }

  private:
    Spin s_;
    Waiter *head_ = nullptr;
    std::atomic<int> nwait_{0};
};

// ---- barrier (barrier.cpp) ----
struct Team;
class Barrier {
  public:
    // `team` (optional) gives the barrier the team's task pool (waiters
    // run tasks; completion waits for them) and its cancel flag.
    void reset(int n, Team *team = nullptr);
    // Returns true if the team's parallel region was cancelled (the
    // barrier then releases everyone at once).
    bool wait();
    // Cancellation of the region: releases every waiter (cancel.cpp).
    void cancel();
    // Task pool hooks (task.cpp): the last pending task completed; a
    // task became ready (wake sleepers so they run it).
    void tasks_done();
    void wake_for_tasks();
    // Completed barriers so far: names the phase between two barriers.
    uint64_t generation() const {
        return gen_.load(std::memory_order_acquire);
    }

  private:
    bool cancelled() const;
    void complete_locked(uint64_t g);  // unlocks s_
    Spin s_;
    int n_ = 1, arrived_ = 0;
    Team *team_ = nullptr;
    std::atomic<uint64_t> gen_{0};
    std::atomic<int> nsleep_{0};
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
    // gcc's generic (GOMP 5.0) forms, abi_gomp.cpp: data the construct's
    // members share, set up by the first member to reach it (under `s`);
    // valid while ws_seq == seq.
    uint64_t ws_seq = 0;
    uintptr_t *ws_red = nullptr;  // first member's task-reduction array
    std::unique_ptr<char[]> ws_mem;  // zeroed shared block (`mem` argument)
    size_t ws_mem_size = 0;
    bool ws_mem_ready = false;
};
constexpr int kLoopSlots = 4;

// ---- tasks (task.cpp, taskdep.cpp) ----
struct Task;
struct TaskQueue;  // one member's ready tasks (task.cpp)
struct TaskPool {
    // Read-mostly: one TaskQueue per member, made when the team queues
    // its first task; flags set once.
    std::atomic<TaskQueue *> queues{nullptr};
    std::atomic<bool> used{false};   // a deferred task was ever created
    std::atomic<bool> detach_used{false};  // a detachable task was made
    // Counters every enqueue / take / completion writes (own line).
    // Queued tasks = epoch - taken.
    alignas(64) std::atomic<uint64_t> epoch{0};  // enqueues so far
    std::atomic<uint64_t> taken{0};  // tasks taken from the queues so far
    std::atomic<int> prio_ready{0};  // queued tasks with priority > 0
    std::atomic<long> pending{0};    // deferred tasks not yet completed
    Spin dep_lock;  // dependence maps, successor lists, Task::npred
    WaitQueue waitq;  // taskwait / taskgroup / depend waiters
    TaskPool() = default;
    TaskPool(const TaskPool &) = delete;
    TaskPool &operator=(const TaskPool &) = delete;
    ~TaskPool();  // frees the queues (task.cpp)
};

// ---- doacross loops (doacross.cpp) ----
struct DoacrossSlot {
    Spin s;            // serialises set-up
    std::atomic<uint64_t> seq{0};  // doacross loop set up here (0 = never)
    std::atomic<int> finished{0};  // members done with loop `seq`
    int ndims = 0;
    std::vector<uint64_t> count;      // iterations per dimension
    std::vector<int64_t> lo, st;      // kmpc: original bounds and steps
    std::unique_ptr<std::atomic<uint64_t>[]> done;  // per outer iteration
    WaitQueue waitq;
};
constexpr int kDoacrossSlots = 2;

// ---- team and members ----
struct Team;
struct Member {
    Team *team = nullptr;
    int tid = 0;
    int level = 0;         // enclosing regions, active or not
    int pool_base = 0;     // hot-team pool index of level 0 (team.cpp): a
                           // target region's initial thread (level 0)
                           // nests inside its encountering member's level
    int active_level = 0;  // enclosing regions with more than one member
    Icv icv{};
    Member *outer = nullptr;   // the same context's Member one level out
    int push_nthreads = 0;     // __kmpc_push_num_threads, next fork only
    int push_teams = 0, push_teams_threads = 0;  // __kmpc_push_num_teams
    uint64_t singles = 0;      // single constructs encountered in `team`
    uint64_t loops = 0;        // worksharing loops started in `team`
    LoopSlot *loop = nullptr;  // the loop being worked on
    uint64_t static_k = 0;     // static schedule: chunks taken so far
    bool loop_done = false;
    bool has_chunk = false;            // ordered: a chunk not yet passed on
    uint64_t chunk_first = 0, chunk_end = 0;
    uint64_t base = 0, step = 0;  // ABI view of `loop`: i-th iteration's
                                  // value is base + i*step (mod 2^64)
    // kmpc simd schedules (abi_kmpc.cpp): `loop` counts groups of
    // simd_width iterations; simd_trip is the real iteration count.
    uint64_t simd_width = 1, simd_trip = 0;
    Task *task = nullptr;      // task running now (nullptr: implicit task)
    Task *implicit = nullptr;  // this member's implicit task, lazily made
    uint64_t dx_seq = 0;       // doacross loops started in `team`
    DoacrossSlot *dx = nullptr;  // the doacross loop being worked on
    uint64_t dx_loop = 0;        // gcc: `loops` when it started (its
                                 // GOMP_loop_end* ends the doacross too)
};

struct Team {
    int n = 1;
    int level = 0, active_level = 0;
    int pool = 0;  // the master's hot-team pool used (pool_base + level)
    void (*body)(void *) = nullptr;  // run by every member
    void *data = nullptr;
    Member *master = nullptr;
    Barrier barrier;
    std::atomic<uint64_t> singles{0};  // single constructs claimed
    void *copy_data = nullptr;         // copyprivate broadcast
    Mutex reduce_lock;
    LoopSlot loops[kLoopSlots];
    // Start: the members not started yet, start_list[start_next..start_n)
    // (the master's Workers), claimed by team_claim (team.cpp).
    void *start_list = nullptr;
    std::atomic<int> start_n{0};
    std::atomic<int> start_next{0};
    // Hart requests (team.cpp, "Short regions"): members made runnable
    // without a hart request (all n - 1 when the region's call site has
    // been short, else 0); a block of a context of the region takes one of
    // these instead of counting -1, so that requested + unrequested stays
    // "runnable contexts - 1" (fork-join's accounting).
    std::atomic<int> unrequested{0};
    const void *site = nullptr;  // the call site (outlined function)
    void *hint = nullptr;        // its SiteHint in the master's pool
    uint64_t body_start = 0;     // parlib_ticks() when member 0 began the body
    // Join: workers not yet docked, and the blocked master (team.cpp).
    Spin join_lock;
    std::atomic<int> running{0};
    lithe_context_t *joiner = nullptr;
    TaskPool tasks;
    std::atomic<bool> cancelled{false};  // cancel parallel (cancel.cpp)
    // `cancel for/sections`: barrier generation + 1 of the phase whose
    // worksharing construct was cancelled (such constructs end with a
    // barrier: the spec forbids nowait on them).
    std::atomic<uint64_t> cancel_phase{0};
    DoacrossSlot dx[kDoacrossSlots];
    // clang's task reductions with the task modifier (taskred_kmpc.cpp):
    // [0] parallel, [1] worksharing: the items every member copies
    // (1 while the first member sets them up), and members done.
    std::atomic<void *> kmp_red[2] = {};
    std::atomic<int> kmp_red_fini[2] = {};
};

template <class P>
void WaitQueue::wait(P pred) {
    if (spin_until(pred)) return;
    if (!lithe_context_self()) {
        while (!pred()) sched_yield();
        return;
    }
    struct Arg {
        WaitQueue *q;
        P *pred;
        Waiter w;
    };
    Arg a{this, &pred, {}};
    while (!pred()) {
        lithe_context_block(
            [](lithe_context_t *self, void *p) {
                auto *a = static_cast<Arg *>(p);
                WaitQueue *q = a->q;
                q->s_.lock();
                q->nwait_.fetch_add(1, std::memory_order_seq_cst);
                bool ok = (*a->pred)();
                if (ok) {
                    q->nwait_.fetch_sub(1, std::memory_order_relaxed);
                } else {
                    a->w = Waiter{self, q->head_};
                    q->head_ = &a->w;
                }
                q->s_.unlock();
                if (ok) lithe_context_unblock(self);
            },
            &a);
    }
}

// The current OpenMP thread (initial-thread Member if none).
Member *self();
void set_self(Member *m);
int gtid();  // a unique small id of the calling context

// ---- team.cpp ----
// Runs `t` (t->n members, t->body) with the calling context as member 0,
// in the scheduler the caller has just entered, in two halves: team_start
// starts the workers (returns the caller's previous preemptibility) and
// returns; member 0 then runs the body and task_member_end; team_join
// waits for every member to finish the body (the region's closing
// barrier) and docks the workers.
bool team_start(Team *t, Member *master_member);
void team_join(Team *t, bool was_preemptible);
// The region scheduler's hooks (region.cpp), hart context: the next
// member of `t` not started yet (nullptr if none), claimed for the caller
// to run; and context_block for a team member of `region`: true if it was
// a Worker docking (then handled: counted off, and its hart goes to the
// master or back to the parent), false for any other block.
lithe_context_t *team_claim(Team *t);
bool team_block(lithe_sched_t *region, lithe_context_t *c);
// Counts a blocking context of `region` off its requests: takes one of
// t->unrequested if any is left, else requests -1 (fork-join's block).
// Returns true if it took an unrequested one.
bool team_count_block(lithe_sched_t *region, Team *t);
// Hart context on a hart of `region` (the slicer's tick or kick): turns the
// region's unrequested members into a hart request. Returns true if there
// were any.
bool team_request_unrequested(lithe_sched_t *region);

// The region scheduler for a region the calling context masters at
// hot-team pool `pool`: the one its last region there used (exited, so
// re-initialised with lithe_sched_init: a fork-join scheduler that exited
// owns no context, queued or not, and no child, as a new one), else a new
// one with funcs `f` (always region.cpp's table). team_sched_put keeps
// it for the next region there (a second live one at the same pool, if
// any, is destroyed); team_release_pools destroys the kept ones.
lithe_fj_sched_t *team_sched_take(int pool, const lithe_sched_funcs *f);
void team_sched_put(int pool, lithe_fj_sched_t *s);

// Team member contexts alive (they dock between regions; a pause frees the
// pausing context's).
int members_created();
// omp_pause_resource from outside any region: retires every Worker the
// calling context keeps docked (and, through them, those of the regions
// they mastered), freeing their stacks and TLS; returns once they are
// gone. The next region creates new ones. A no-op for a context that
// keeps none (a foreign thread, nothing forked yet).
void team_release_pools();
// Stack size of member contexts created from now on (kmp_settings.cpp:
// kmp_set_stacksize, else OMP_STACKSIZE's).
size_t member_stack_size();

// Members left for teams sized under OMP_DYNAMIC: the harts minus the
// workers of every live team (at least 1).
int dynamic_team_limit();

// ---- wait_policy.cpp: time slicing of busy-waiting members ----
bool slicing_enabled();
// Registers a live region scheduler (its starved harts get sliced) /
// unregisters it, before its scheduler exits.
void slicer_add(lithe_sched_t *region);
void slicer_remove(lithe_sched_t *region);
// Makes the calling context preemptible or not (when slicing is on);
// returns the previous setting.
bool set_preemptible(bool on);

// ---- region.cpp ----
// A parallel region: every member runs body(data). `requested` = 0 means
// nthreads-var.
// `site` names the call site for the short-region hints (team.cpp): the
// outlined function (nullptr: `body`).
void region_fork(void (*body)(void *), void *data, int requested,
                 const void *site = nullptr);
// region_fork in two halves, for GOMP_parallel_start/end: region_begin
// starts the team and returns in the calling context as member 0, which
// runs the body itself and then calls region_end(f) (same context, same
// frame; frames nest like the regions).
struct RegionFrame {
    Team t;
    Member m;
    Member *enc = nullptr;
    lithe_fj_sched_t *sched = nullptr;  // nullptr: a one-member region
    bool was_preemptible = false;
};
void region_begin(RegionFrame *f, void (*body)(void *), void *data,
                  int requested, const void *site = nullptr);
void region_end(RegionFrame *f);
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
Mutex &global_critical();  // unnamed critical
// Atomic updates no instruction does (GOMP_atomic_start/end,
// __kmpc_atomic_start/end, atomic_kmpc.cpp's wide types): never held
// together with another lock, so an atomic inside a critical is safe.
Mutex &atomic_mutex();

// ---- task.cpp ----
// The task running on the calling member (its implicit task if none).
Task *current_task();
// Barrier and region-end hooks.
bool task_ready(Team *t);    // a deferred task is waiting to run
bool task_run_one(Team *t);  // ran one ready task (any); false if none
bool tasks_quiet(Team *t);   // no deferred task is pending
// The calling member finished the region's body: helps run the team's
// remaining tasks, then drops its implicit task.
void task_member_end(Team *t);
bool omp_cancellation_enabled();
int max_task_priority();

// ---- cancel.cpp ----
enum CancelKind { kCancelParallel, kCancelLoop, kCancelSections,
                  kCancelTaskgroup };
bool cancel_activate(CancelKind k);  // true: leave the construct
bool cancellation_point(CancelKind k);
bool cancel_barrier();  // a barrier; true if the region was cancelled

// ---- doacross.cpp: iteration vectors are logical (0-based) numbers ----
void doacross_init(int ndims, const uint64_t *count, const int64_t *lo,
                   const int64_t *st);
void doacross_fini();

[[noreturn]] void fatal(const char *fmt, ...);

// The shared-variable pointers a __kmpc_fork_call/__kmpc_fork_teams caller
// passes as varargs, collected for lithe_omp_invoke (on the stack for up to
// 16, the common case).
class MicrotaskArgs {
  public:
    MicrotaskArgs(int argc, va_list ap)
        : argv_(argc <= kInline ? inline_ : new void *[argc]) {
        for (int i = 0; i < argc; ++i) argv_[i] = va_arg(ap, void *);
    }
    ~MicrotaskArgs() {
        if (argv_ != inline_) delete[] argv_;
    }
    MicrotaskArgs(const MicrotaskArgs &) = delete;
    MicrotaskArgs &operator=(const MicrotaskArgs &) = delete;
    void **argv() { return argv_; }

  private:
    static constexpr int kInline = 16;
    void *inline_[kInline];
    void **argv_;
};

}  // namespace lomp

extern "C" [[noreturn]] void lithe_omp_unimplemented(const char *name);

#endif
