// task.cpp: the team's task queues and task scheduling (see task.hpp for
// the Task lifetime and the scheduling constraint).
//
// Queues (TaskPool::queues, one TaskQueue per member, made when the team
// queues its first task): a deferred task whose dependences are met goes
// to the queue of the member that queued it (a foreign thread fulfilling
// a detach event uses member 0's). A member taking a task at a
// scheduling point looks in its own queue first, newest first (LIFO, as
// libgomp), then steals from the others' queues, oldest first, so an
// owner and its thieves work at opposite ends. When any queued task has a
// priority > 0 (TaskPool::prio_ready), a taker instead scans every queue
// and takes the highest priority one it may run. Each queue has its own
// Spin: the owner's push and pop contend only with thieves, not with the
// whole team. `pending` counts deferred tasks not yet completed; the team
// barrier completes only when it is 0 (barrier.cpp calls task_run_one
// while waiting and is told by tasks_done()).
//
// Waits (taskwait, taskgroup end, depend) loop: read `epoch`, run an
// eligible queued task, else block on the pool's WaitQueue until the
// awaited count drops or a task is enqueued (epoch changes). `epoch` is
// read before the queues are scanned and bumped after a push, so a task
// pushed to a queue after the scan passed it changes the epoch the waiter
// compares with: no wake-up is lost. A waiting member therefore never
// spins on a hart another member needs: with one hart and many members,
// blocked members hand the hart over (PARLIB_VCORES=1 works).
//
// Enqueueing wakes the pool's waiters and the barrier's sleepers; a
// completion wakes the pool's waiters (counts changed). Lock order:
// dep_lock, then one queue's Spin (never two queues at once, never the
// reverse); none is held while a task runs or a context blocks.
//
// Detachable tasks (detach(event)): Task::detach goes kDetachArmed ->
// kDetachFulfilled (omp_fulfill_event while the body runs; the body's end
// then completes the task) or kDetachArmed -> kDetachWaiting (the body
// ended first; omp_fulfill_event, from any thread, completes it). The
// winner of that CAS decides who calls complete(). A waiting task counts
// in the pool's `pending` (an undeferred one is counted from then on), so
// barriers, taskwait, taskgroups and the region's end wait for its
// fulfilment; the parent of an undeferred one goes on (as libomp; libgomp
// blocks the encountering thread, which the spec does not require).
#include "task.hpp"

#include <strings.h>

#include <cstdlib>
#include <cstring>

namespace lomp {
namespace {

constexpr size_t kHeader = (sizeof(Task) + 63) & ~size_t{63};

// Task memory. Blocks of up to kBlock bytes are kept in a free list of the
// context that frees them (each context has its own TLS; hot-team members
// live for the process), so steady task creation does not go through
// malloc. A context that reaches kCached free blocks hands the whole list
// to a shared pool of such lists, and a context that runs out takes one
// from there before it asks malloc: tasks created by one member and run
// (freed) by another would otherwise go through malloc on both sides, and
// glibc's arena locks, contended between the producer and its thieves,
// slept vcores in the kernel (EPCC TASK at 4 members on 2 harts spent ~5%
// of its time in malloc and free, and its per-task overhead varied 2x
// between runs; docs/perf.md). The pool keeps at most kPooled lists (4 MiB)
// and frees the rest. Bigger tasks use the heap. Under AddressSanitizer
// nothing is cached, so a use of a freed task is still reported.
constexpr size_t kBlock = 512;
#if defined(__SANITIZE_ADDRESS__)
constexpr int kCached = 0;
#else
constexpr int kCached = 256;
#endif
constexpr int kPooled = 32;
struct FreeBlock {
    FreeBlock *next;
    FreeBlock *next_list;  // the pool's lists, linked by their first blocks
};
static_assert(sizeof(FreeBlock) <= kBlock);
thread_local FreeBlock *tls_blocks = nullptr;
thread_local int tls_nblocks = 0;

struct BlockPool {
    Spin lock;
    FreeBlock *lists = nullptr;  // each kCached blocks long
    std::atomic<int> n{0};       // lists; read without the lock as a hint
};
BlockPool g_block_pool;

void *block_alloc(size_t bytes) {
    if (bytes <= kBlock) {
        if (!tls_blocks && kCached > 0 &&
            g_block_pool.n.load(std::memory_order_relaxed) > 0) {
            g_block_pool.lock.lock();
            if (FreeBlock *l = g_block_pool.lists) {
                g_block_pool.lists = l->next_list;
                g_block_pool.n.fetch_sub(1, std::memory_order_relaxed);
                tls_blocks = l;
                tls_nblocks = kCached;
            }
            g_block_pool.lock.unlock();
        }
        if (FreeBlock *b = tls_blocks) {
            tls_blocks = b->next;
            --tls_nblocks;
            return b;
        }
        bytes = kBlock;
    }
    return ::operator new(bytes, std::align_val_t{64});
}

void block_free(void *p, size_t bytes) {
    if (bytes > kBlock || kCached == 0) {
        ::operator delete(p, std::align_val_t{64});
        return;
    }
    if (tls_nblocks == kCached) {
        FreeBlock *l = tls_blocks;
        g_block_pool.lock.lock();
        bool kept = g_block_pool.n.load(std::memory_order_relaxed) < kPooled;
        if (kept) {
            l->next_list = g_block_pool.lists;
            g_block_pool.lists = l;
            g_block_pool.n.fetch_add(1, std::memory_order_relaxed);
        }
        g_block_pool.lock.unlock();
        while (!kept && l) {
            FreeBlock *next = l->next;
            ::operator delete(l, std::align_val_t{64});
            l = next;
        }
        tls_blocks = nullptr;
        tls_nblocks = 0;
    }
    tls_blocks = new (p) FreeBlock{tls_blocks, nullptr};
    ++tls_nblocks;
}

Task *implicit_task(Member *m) {
    if (!m->implicit) {
        Task *t = new Task;
        t->implicit = true;
        t->team = m->team;
        m->implicit = t;
    }
    return m->implicit;
}

bool is_descendant(const Task *t, const Task *of) {
    for (const Task *p = t->parent; p; p = p->parent)
        if (p == of) return true;
    return false;
}

}  // namespace

// One member's ready tasks: v[head..] from oldest to newest. The owner
// pushes and pops at the back, thieves take from the front; a task that
// only some takers may run (the scheduling constraint) may also leave
// from the middle. Own cache line: members push and pop in parallel.
struct alignas(64) TaskQueue {
    Spin s;  // guards v, head
    std::vector<Task *> v;
    size_t head = 0;
    std::atomic<int> size{0};  // v.size() - head, read without s
};

TaskPool::~TaskPool() { delete[] queues.load(std::memory_order_relaxed); }

namespace {

TaskQueue *queues_of(Team *team) {
    TaskPool &p = team->tasks;
    TaskQueue *q = p.queues.load(std::memory_order_acquire);
    if (q) return q;
    auto *mine = new TaskQueue[team->n];
    if (p.queues.compare_exchange_strong(q, mine, std::memory_order_acq_rel,
                                         std::memory_order_acquire))
        return mine;
    delete[] mine;  // another member made them first
    return q;
}

// The calling member's queue index in `team` (0 for a thread that is not
// one of its members: omp_fulfill_event may run anywhere).
int my_queue(Team *team) {
    Member *m = self();
    return m->team == team ? m->tid : 0;
}

// Tasks in the queues: `taken` is read first, so a take racing with the
// two reads can only make the answer too high (a caller then finds
// nothing and looks again), never hide a queued task.
uint64_t queued(const TaskPool &p) {
    uint64_t taken = p.taken.load(std::memory_order_seq_cst);
    uint64_t e = p.epoch.load(std::memory_order_seq_cst);
    return e > taken ? e - taken : 0;
}

// Once queued, `t` may run and be freed at any moment: not touched after.
void enqueue(Task *t) {
    Team *team = t->team;
    TaskPool &p = team->tasks;
    TaskQueue &q = queues_of(team)[my_queue(team)];
    bool prio = t->priority > 0;
    if (prio) p.prio_ready.fetch_add(1, std::memory_order_seq_cst);
    q.s.lock();
    q.v.push_back(t);
    q.size.store(static_cast<int>(q.v.size() - q.head),
                 std::memory_order_relaxed);
    q.s.unlock();
    p.epoch.fetch_add(1, std::memory_order_seq_cst);
    p.waitq.notify_all();
    team->barrier.wake_for_tasks();
}

enum Pick { kNewest, kOldest, kBest };

// Under q.s: the index of the task `of` may run (nullptr: any) that
// `how` picks, or -1. kBest: the highest priority, newest among equals.
long pick(const TaskQueue &q, const Task *of, Pick how) {
    long best = -1;
    auto ok = [of](const Task *t) { return !of || is_descendant(t, of); };
    if (how == kOldest) {
        for (size_t i = q.head; i < q.v.size(); ++i)
            if (ok(q.v[i])) return static_cast<long>(i);
        return -1;
    }
    for (size_t i = q.v.size(); i-- > q.head;) {
        if (!ok(q.v[i])) continue;
        if (how == kNewest) return static_cast<long>(i);
        if (best < 0 || q.v[i]->priority > q.v[static_cast<size_t>(best)]->priority)
            best = static_cast<long>(i);
    }
    return best;
}

// Under q.s: removes v[i] and returns it.
Task *remove_at(TaskQueue &q, size_t i) {
    Task *t = q.v[i];
    if (i == q.head)
        ++q.head;
    else if (i + 1 == q.v.size())
        q.v.pop_back();
    else
        q.v.erase(q.v.begin() + static_cast<long>(i));
    if (q.head == q.v.size()) {
        q.v.clear();
        q.head = 0;
    } else if (q.head >= 64 && 2 * q.head >= q.v.size()) {
        q.v.erase(q.v.begin(), q.v.begin() + static_cast<long>(q.head));
        q.head = 0;
    }
    q.size.store(static_cast<int>(q.v.size() - q.head),
                 std::memory_order_relaxed);
    return t;
}

// Takes from `q` the task `how` picks among those `of` may run.
Task *take_from(TaskPool &p, TaskQueue &q, const Task *of, Pick how) {
    if (q.size.load(std::memory_order_relaxed) == 0) return nullptr;
    q.s.lock();
    long i = pick(q, of, how);
    Task *t = i < 0 ? nullptr : remove_at(q, static_cast<size_t>(i));
    q.s.unlock();
    if (t) {
        if (t->priority > 0)
            p.prio_ready.fetch_sub(1, std::memory_order_relaxed);
        p.taken.fetch_add(1, std::memory_order_relaxed);
    }
    return t;
}

// The queue holding the highest-priority task `of` may run (-1: none);
// one queue locked at a time, so the answer may be stale: a hint, as
// priorities are.
int best_queue(TaskQueue *qs, int n, int me, const Task *of) {
    int best = -1, best_prio = 0;
    for (int k = 0; k < n; ++k) {
        TaskQueue &q = qs[(me + k) % n];
        if (q.size.load(std::memory_order_relaxed) == 0) continue;
        q.s.lock();
        long i = pick(q, of, kBest);
        if (i >= 0) {
            int prio = q.v[static_cast<size_t>(i)]->priority;
            if (best < 0 || prio > best_prio) {
                best = (me + k) % n;
                best_prio = prio;
            }
        }
        q.s.unlock();
    }
    return best;
}

// Takes a ready task `of` may run (nullptr: any); *epoch = the epoch
// read before the queues were looked at.
Task *take(Team *team, const Task *of, uint64_t *epoch) {
    TaskPool &p = team->tasks;
    uint64_t taken = p.taken.load(std::memory_order_seq_cst);
    uint64_t e = p.epoch.load(std::memory_order_seq_cst);
    if (epoch) *epoch = e;
    if (e == taken) return nullptr;  // nothing queued
    TaskQueue *qs = p.queues.load(std::memory_order_acquire);
    if (!qs) return nullptr;
    int n = team->n, me = my_queue(team);
    if (p.prio_ready.load(std::memory_order_relaxed) > 0) {
        int b = best_queue(qs, n, me, of);
        if (b >= 0)
            if (Task *t = take_from(p, qs[b], of, kBest)) return t;
    }
    if (Task *t = take_from(p, qs[me], of, kNewest)) return t;
    for (int k = 1; k < n; ++k)
        if (Task *t = take_from(p, qs[(me + k) % n], of, kOldest)) return t;
    return nullptr;
}

void complete(Task *t) {
    Team *team = t->team;
    TaskPool &p = team->tasks;
    if (t->in_dep_map || t->deps) {  // else no sibling can wait for it
        std::vector<Task *> succ;
        p.dep_lock.lock();
        dep_clear(t);
        t->done.store(true, std::memory_order_release);
        succ.swap(t->succ);
        std::vector<Task *> now_ready;
        for (Task *s : succ)
            if (--s->npred == 0) now_ready.push_back(s);
        p.dep_lock.unlock();
        for (Task *s : now_ready) enqueue(s);
    } else {
        t->done.store(true, std::memory_order_release);
    }
    if (!t->deferred) {  // uncounted (count_deferred): nobody waits on it
        task_release(t);
        return;
    }
    if (t->group) t->group->count.fetch_sub(1, std::memory_order_acq_rel);
    t->parent->children.fetch_sub(1, std::memory_order_acq_rel);
    bool last = p.pending.fetch_sub(1, std::memory_order_acq_rel) == 1;
    p.waitq.notify_all();
    if (last) team->barrier.tasks_done();
    task_release(t);
}

// Counts `t` as deferred: in its team's `pending`, its parent's
// `children` and its taskgroup's `count`, which barriers, taskwait and
// taskgroup ends wait on. Only deferred tasks (and undeferred detachable
// ones once their body has ended) are counted: any other undeferred task
// completes before its creator goes on, so no wait can see it, and not
// touching those team-shared counters keeps undeferred tasks cheap
// (libgomp's cancel-taskgroup-1.c creates 26 million of them).
void count_deferred(Task *t, std::memory_order o) {
    t->deferred = true;
    t->parent->children.fetch_add(1, std::memory_order_relaxed);
    if (t->group) t->group->count.fetch_add(1, std::memory_order_relaxed);
    t->team->tasks.pending.fetch_add(1, o);
}

enum { kDetachNone, kDetachArmed, kDetachFulfilled, kDetachWaiting,
       kDetachDone };

// The body of `t` has ended: complete it, unless it waits for its event.
void body_done(Task *t) {
    if (t->detach.load(std::memory_order_acquire) != kDetachNone) {
        // Count it before fulfilment can complete it.
        if (!t->deferred) count_deferred(t, std::memory_order_seq_cst);
        int s = kDetachArmed;
        if (t->detach.compare_exchange_strong(s, kDetachWaiting,
                                              std::memory_order_acq_rel))
            return;  // omp_fulfill_event completes it
    }
    complete(t);
}

void run(Task *t) {
    Member *m = self();
    Task *prev = m->task;
    Icv member_icv = m->icv;
    m->task = t;
    m->icv = t->icv;
    if (!task_cancelled(t)) t->run(t);
    m->icv = member_icv;
    m->task = prev;
    body_done(t);
}

// Runs eligible tasks until done() holds, blocking when there is none.
template <class D>
void wait_running(D done) {
    Member *m = self();
    Task *cur = current_task();
    Team *team = m->team;
    while (!done()) {
        uint64_t epoch;
        if (Task *r = take(team, cur, &epoch)) {
            run(r);
            continue;
        }
        TaskPool &p = team->tasks;
        p.waitq.wait([&] {
            return done() || p.epoch.load(std::memory_order_seq_cst) != epoch;
        });
    }
}

int read_env_int(const char *name, int dflt) {
    const char *v = getenv(name);
    return v ? atoi(v) : dflt;
}

}  // namespace

Task *current_task() {
    Member *m = self();
    return m->task ? m->task : implicit_task(m);
}

Task *task_new(size_t extra) {
    Task *t = new (block_alloc(kHeader + extra)) Task;
    t->alloc_size = kHeader + extra;
    return t;
}

void task_release(Task *t) {
    while (t && t->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        Task *parent = t->parent;
        if (t->implicit) {
            delete t;
        } else {
            size_t bytes = t->alloc_size;
            t->~Task();
            block_free(t, bytes);
        }
        t = parent;
    }
}

Team *task_link(Task *t) {
    Member *m = self();
    Task *parent = current_task();
    t->team = m->team;
    t->parent = parent;
    t->icv = m->icv;
    parent->refs.fetch_add(1, std::memory_order_relaxed);
    t->group = parent->cur_group;
    t->cur_group = t->group;
    if (parent->final_task) t->final_task = true;
    if (t->detach.load(std::memory_order_relaxed) != kDetachNone)
        m->team->tasks.detach_used.store(true, std::memory_order_relaxed);
    if (t->priority > max_task_priority()) t->priority = max_task_priority();
    return m->team;
}

bool task_must_run_now(Team *team, bool has_deps) {
    if (team->n == 1) return true;
    Member *m = self();
    if (m->task && m->task->final_task) return true;
    // Throttle: with many tasks queued, run new independent ones at once
    // (bounds memory; libgomp does the same at 64 per thread).
    return !has_deps &&
           queued(team->tasks) > 64 * static_cast<uint64_t>(team->n);
}

void task_submit(Task *t, const Dep *deps, int ndeps) {
    TaskPool &p = t->team->tasks;
    count_deferred(t, std::memory_order_relaxed);
    if (!p.used.load(std::memory_order_relaxed))  // keep the line shared
        p.used.store(true, std::memory_order_relaxed);
    bool ready = true;
    if (ndeps > 0) {
        p.dep_lock.lock();
        dep_register(t, deps, ndeps);
        ready = t->npred == 0;
        p.dep_lock.unlock();
    }
    if (ready) enqueue(t);
}

void task_run_now(Task *t, const Dep *deps, int ndeps) {
    if (ndeps > 0) task_wait_deps(deps, ndeps);
    run(t);
}

void task_begin_undeferred(Task *t) {
    Member *m = self();
    t->interrupted = m->task;
    m->task = t;
}

void task_end_undeferred(Task *t) {
    Member *m = self();
    m->task = t->interrupted;
    m->icv = t->icv;  // the body ran on the creator's ICVs, which are t's
    body_done(t);
}

uintptr_t task_allow_completion_event(Task *t) {
    t->detach.store(kDetachArmed, std::memory_order_relaxed);
    return reinterpret_cast<uintptr_t>(t);
}

void task_discard(Task *t) {
    size_t bytes = t->alloc_size;
    t->~Task();
    block_free(t, bytes);
}

bool task_cancelled(const Task *t) {
    if (t->team->cancelled.load(std::memory_order_relaxed)) return true;
    for (TaskGroup *g = t->group; g; g = g->outer)
        if (g->cancelled.load(std::memory_order_relaxed)) return true;
    return false;
}

void taskwait() {
    Task *cur = current_task();
    wait_running([cur] {
        return cur->children.load(std::memory_order_seq_cst) == 0;
    });
}

void taskyield() {
    Member *m = self();
    if (Task *r = take(m->team, current_task(), nullptr)) run(r);
}

void taskgroup_begin(TaskGroup *g) {
    Task *cur = current_task();
    g->outer = cur->cur_group;
    if (g->outer) g->gomp_red = g->outer->gomp_red;
    cur->cur_group = g;
}

void taskgroup_end() {
    Task *cur = current_task();
    TaskGroup *g = cur->cur_group;
    if (!g) fatal("taskgroup end without a taskgroup");
    wait_running(
        [g] { return g->count.load(std::memory_order_seq_cst) == 0; });
    cur->cur_group = g->outer;
}

void task_wait_deps(const Dep *deps, int ndeps) {
    Task *cur = current_task();
    TaskPool &p = self()->team->tasks;
    std::vector<Task *> preds;
    p.dep_lock.lock();
    dep_preds(cur, deps, ndeps, &preds);
    p.dep_lock.unlock();
    wait_running([&] {
        for (Task *t : preds)
            if (!t->done.load(std::memory_order_seq_cst)) return false;
        return true;
    });
    for (Task *t : preds) task_release(t);
}

bool task_ready(Team *t) {
    return queued(t->tasks) > 0;
}

bool task_run_one(Team *t) {
    if (!task_ready(t)) return false;
    Task *r = take(t, nullptr, nullptr);
    if (!r) return false;
    run(r);
    return true;
}

bool tasks_quiet(Team *t) {
    return t->tasks.pending.load(std::memory_order_seq_cst) == 0;
}

// Helping at the region's end: run ready tasks until none is left. A
// member that leaves early misses later tasks, but whoever enqueues a task
// (a running task, or a completion releasing dependents) ends the region
// after it and drains it then, and the master returns only after every
// member has ended: so all tasks complete before the region does.
void task_member_end(Team *t) {
    Member *m = self();
    if (t->tasks.used.load(std::memory_order_relaxed))
        while (task_run_one(t)) {
        }
    // Detached tasks may still wait for their events: the region (and
    // their team) must outlive them, so wait, running what becomes ready.
    if (t->tasks.detach_used.load(std::memory_order_relaxed)) {
        TaskPool &p = t->tasks;
        while (!tasks_quiet(t)) {
            uint64_t epoch = p.epoch.load(std::memory_order_seq_cst);
            if (task_run_one(t)) continue;
            p.waitq.wait([&] {
                return tasks_quiet(t) ||
                       p.epoch.load(std::memory_order_seq_cst) != epoch;
            });
        }
    }
    if (Task *imp = m->implicit) {
        m->implicit = nullptr;
        // It stays allocated while children still reference it; its
        // member creates no more children, so its dependence map goes.
        TaskPool &p = t->tasks;
        p.dep_lock.lock();
        dep_clear(imp);
        p.dep_lock.unlock();
        task_release(imp);
    }
}

bool omp_cancellation_enabled() {
    static const bool on = [] {
        const char *v = getenv("OMP_CANCELLATION");
        return v && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0);
    }();
    return on;
}

int max_task_priority() {
    static const int p = [] {
        int v = read_env_int("OMP_MAX_TASK_PRIORITY", 0);
        return v < 0 ? 0 : v;
    }();
    return p;
}

}  // namespace lomp

using namespace lomp;

OMP_API int omp_in_final(void) {
    Member *m = self();
    return m->task && m->task->final_task;
}
OMP_API int omp_get_cancellation(void) { return omp_cancellation_enabled(); }

// Both ABIs: the event handle is the Task (any thread may fulfil it).
OMP_API void omp_fulfill_event(uintptr_t event) {
    Task *t = reinterpret_cast<Task *>(event);
    if (!t) fatal("omp_fulfill_event: null event");
    int s = kDetachArmed;
    if (t->detach.compare_exchange_strong(s, kDetachFulfilled,
                                          std::memory_order_acq_rel))
        return;  // the body is still running: its end completes the task
    if (s == kDetachWaiting &&
        t->detach.compare_exchange_strong(s, kDetachDone,
                                          std::memory_order_acq_rel)) {
        complete(t);
        return;
    }
    fatal("omp_fulfill_event: event %p is not an unfulfilled detach event",
          reinterpret_cast<void *>(event));
}
OMP_API int omp_get_max_task_priority(void) { return max_task_priority(); }
