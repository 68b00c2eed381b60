// fork_join.cpp: the fork-join scheduler (fork_join.h).
//
// State and locks: each hart has a run queue (Queue, own spinlock) and a
// one-context slot for the context that yielded there last (see below). The
// scheduler lock `Impl::lock` protects children, rr, live, the join waiters
// and the unjoined-exited list; it may be held while lithe_hart_grant takes
// the child's lithe lock (parent before child), and is released by the
// grant's unlock callback. No lock is held across a context switch. Some
// are taken in context code (create, join, an enqueue from a context) with
// notifications enabled, which is safe because lithe contexts are not
// preemptible; a runtime that made them so (uthread_set_preemptible) could
// be paused holding one and deadlock the hart that next takes it.
// Free lists (contexts, schedulers) are process-wide and immortal; a
// scheduler is on its free list at most once and never while entered
// (destroy aborts otherwise), so no two users ever share one.
//
// Request accounting (docs/writing-a-scheduler.md#request-accounting): +1
// when a context becomes runnable (made or unblocked), -1 when it blocks or
// exits, nothing on yield or dequeue, so `requested` = runnable or running
// contexts minus the entering one, plus the children's requests forwarded
// through us. Parents grant while subtree_harts <= requested (docs/lithe.md,
// "Accounting").
//
// One turn for the parent: a context that yields (a spin-wait: an OpenMP
// member in sched_yield) is still runnable, so without a rule this hart
// would pick it, or a sibling spinner, again and again, and work that only
// the parent's side can run (a context of the parent, a sibling scheduler
// such as TBB's) would never get a hart when we hold them all. So after a
// yield, if the rest of the parent's subtree wants more harts than it
// holds, the hart goes to the parent once (lithe_hart_yield) before it
// picks a context again; and a hart a child gives back runs our own
// contexts before we serve children again, so that the turn reaches them
// instead of going straight back to the child. The base and the TBB
// scheduler apply the same rule with their `passed` flags. The turn is
// skipped when the parent has no demand (no cost in a tree that wants no
// more harts) or when our own request sum would not bring the hart back.
//
// Look-around: a hart runs its own queue and yield slot first and steals
// only when both are empty, so a context in the queue or slot of a hart
// that is not here (it left for the parent's turn, or after running a
// member an OpenMP region claimed for it, with the context that yielded
// there still in its slot; it was granted to a child; or a hart of another
// scheduler unblocked the context onto its own queue) waits for a thief,
// and a hart whose own contexts spin with sched_yield never is one. With
// TBB tasks spinning on a lock held by the master of an OpenMP region whose
// members meet by yielding (tests/compose/lock_holder.cpp), the region's
// other harts had gone up the tree and were taken by the spinning tasks,
// which never give them back; its last hart re-ran its own yielded member
// for ever while the master sat in another hart's yield slot. So every
// kLookAround-th entry of a hart first takes a context from the queues
// (a yield slot first, else a queue's oldest), scanning from a start that
// rotates per hart (Queue::look_from): a context runnable here runs within
// about kLookAround x harts entries of any hart still here, whatever that
// hart's own queue holds (docs/lithe.md, "Look-around").
#include <lithe/fork_join.h>
#include <parlib/sync.hpp>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

namespace {

// Queue and scheduler locks: parlib's spinlock (never blocks a hart).
using Spin = parlib::SpinLock;

// Three lines: thieves lock `lock` and read the deque (line 0); this hart
// reads `size` on every context yield (line 1, written only with the
// deque); this hart writes the yield slot and its flags on every context
// yield (line 2).
struct alignas(64) Queue {
    Spin lock;
    std::deque<lithe_context_t *> q;
    // q.size(), written under `lock`, read without it: a hart whose queue
    // looks empty skips the lock (a push racing with that read is from a
    // foreign thread, and may as well have come later).
    alignas(64) std::atomic<size_t> size{0};
    // The context that yielded on this hart last, logically in front of `q`
    // (where a yield put it before): it runs after every queued context, and
    // thieves take it first. Only this hart stores into it (context_yield,
    // hart context; harts sharing a queue, see my_queue, exchange instead);
    // this hart and thieves take it with an exchange. A
    // single context yielding on an otherwise idle hart (a spin-wait, the
    // round trip bench_lithe measures) thus goes from context_yield to
    // lithe_context_run with one locked instruction and no queue lock.
    // Thieves see it even while this hart is about to run it again (see
    // "Yielded contexts can move" in docs/lithe.md for why).
    alignas(64) std::atomic<lithe_context_t *> yielded{nullptr};
    // Per hart, touched only by that hart in hart context (no lock): a
    // context yielded here, so the parent is owed a turn (turn_owed); a
    // child gave this hart back (returned), so our own contexts come first;
    // entries since this hart last looked at the other queues first, and
    // the queue its next look starts at (see "Look-around" at the top).
    bool turn_owed = false;
    bool returned = false;
    uint16_t since_look = 0;
    uint16_t look_from = 0;
};

struct FjCtx;

struct Impl {
    std::unique_ptr<Queue[]> queues;
    int nq = 0;
    Spin lock;
    std::vector<lithe_sched_t *> children;
    std::atomic<int> nchildren{0};  // children.size(), readable without lock
    size_t rr = 0;
    int64_t live = 0;  // created, not finished
    lithe_context_t *join_all_waiter = nullptr;
    std::vector<FjCtx *> exited;  // finished, not joined yet
    bool freed = false;  // on the free list (under the free-list lock)
};

struct CtxImpl {
    bool done = false;
    lithe_context_t *joiner = nullptr;
};

struct FjCtx {
    lithe_fj_context_t pub;  // first
    CtxImpl impl;
};

Impl *impl_of(lithe_fj_sched_t *s) { return static_cast<Impl *>(s->impl); }
lithe_fj_sched_t *fj_of(lithe_sched_t *s) {
    return reinterpret_cast<lithe_fj_sched_t *>(s);
}
FjCtx *fjctx_of(lithe_context_t *c) { return reinterpret_cast<FjCtx *>(c); }

// ---- process-wide free lists ----
struct FreeLists {
    Spin lock;
    std::vector<FjCtx *> ctxs;
    std::vector<lithe_fj_sched_t *> scheds;
};
FreeLists &free_lists() {
    static FreeLists *f = new FreeLists;  // immortal
    return *f;
}
constexpr size_t kMaxFreeCtxs = 1024;

thread_local uint32_t tls_rand = 0x9e3779b9u;
uint32_t next_rand() {
    uint32_t x = tls_rand;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return tls_rand = x ? x : 1;
}

// This vcore's id, cached in the vcore thread's own TLS by hart_enter,
// which always runs there (hart context is entered on the vcore's TLS);
// -1 in every other TCB, e.g. a full-TLS context's, which is loaded while a
// uthread_yield_to hand-off runs context_yield: vcore_id() (a call through
// the PLT, twice per context yield without the cache) answers there.
__thread int t_vcore __attribute__((tls_model("initial-exec"))) = -1;

int here_vcore() {
    int v = t_vcore;
    return v >= 0 ? v : vcore_id();
}

// A hart's own queue. nq is lithe_num_harts() (fixed once lithe runs), so a
// vcore id is below it; the modulo (an integer division, 20-40 cycles, twice
// per context yield) is only for a scheduler made before lithe started,
// whose queues harts may share (`*shared`).
int my_queue(Impl *im, bool *shared = nullptr) {
    int v = here_vcore();
    bool own = static_cast<unsigned>(v) < static_cast<unsigned>(im->nq);
    if (shared) *shared = !own;
    if (own) return v;
    return v >= 0 ? v % im->nq : 0;
}

// The context in `q`'s yield slot, taken, or nullptr.
lithe_context_t *take_yielded(Queue &q) {
    if (!q.yielded.load(std::memory_order_relaxed)) return nullptr;
    return q.yielded.exchange(nullptr, std::memory_order_acquire);
}

// This hart's next context: its newest queued one, else the one that
// yielded here.
lithe_context_t *pop_local(Queue &q) {
    if (q.size.load(std::memory_order_relaxed)) {
        std::lock_guard<Spin> g(q.lock);
        if (!q.q.empty()) {
            lithe_context_t *c = q.q.back();
            q.q.pop_back();
            q.size.store(q.q.size(), std::memory_order_relaxed);
            return c;
        }
    }
    return take_yielded(q);
}

// Takes the oldest context of `q` (lock held), or nullptr.
lithe_context_t *take_front(Queue &q) {
    if (q.q.empty()) return nullptr;
    lithe_context_t *c = q.q.front();
    q.q.pop_front();
    q.size.store(q.q.size(), std::memory_order_relaxed);
    return c;
}

// The oldest context of some queue, or nullptr once every queue was seen
// empty. A busy queue is skipped at first (another may have work), then
// waited for: nullptr sends this hart back to the parent, which grants it
// back only while `requested` says so, and contexts queued with negative
// requests of their own (lithe_hart_request(-2), then a yield) make it
// smaller than the queued work. Giving up on a busy queue once left such
// contexts with no hart for ever (tests/lithe/test_stress.cpp, spurious
// trylock).
lithe_context_t *steal(Impl *im, int start) {
    int n = im->nq;
    bool busy = false;
    for (int k = 0; k < n; ++k) {
        Queue &q = im->queues[(start + k) % n];
        if (lithe_context_t *c = take_yielded(q)) return c;
        if (!q.lock.try_lock()) {
            busy = true;
            continue;
        }
        lithe_context_t *c = take_front(q);
        q.lock.unlock();
        if (c) return c;
    }
    if (!busy) return nullptr;
    for (int k = 0; k < n; ++k) {
        Queue &q = im->queues[(start + k) % n];
        std::lock_guard<Spin> g(q.lock);
        if (lithe_context_t *c = take_front(q)) return c;
    }
    return nullptr;
}

lithe_context_t *steal(Impl *im) {
    return steal(im, static_cast<int>(next_rand() % im->nq));
}

// Look-around (see the top): every kLookAround-th entry of a hart, a
// context of any queue, scanned from this hart's next start position.
constexpr uint16_t kLookAround = 64;
lithe_context_t *look_around(Impl *im, Queue &mine) {
    if (++mine.since_look < kLookAround) return nullptr;
    mine.since_look = 0;
    int start = mine.look_from;
    mine.look_from = static_cast<uint16_t>((start + 1) % im->nq);
    return steal(im, start);
}

void unlock_impl(void *p) { static_cast<Impl *>(p)->lock.unlock(); }

void fj_start(void *p) {
    auto *c = static_cast<FjCtx *>(p);
    c->pub.fn(c->pub.arg);
}

// Returns a joined context to the free list (or frees it).
void release_ctx(FjCtx *c) {
    lithe_context_reassociate(&c->pub.ctx, lithe_sched_base());
    FreeLists &f = free_lists();
    {
        std::lock_guard<Spin> g(f.lock);
        if (f.ctxs.size() < kMaxFreeCtxs) {
            f.ctxs.push_back(c);
            return;
        }
    }
    lithe_context_cleanup(&c->pub.ctx);
    delete c;
}

struct JoinArg {
    lithe_fj_sched_t *s;
    FjCtx *c;  // nullptr = join all
};

void join_block_cb(lithe_context_t *self, void *p) {
    auto *j = static_cast<JoinArg *>(p);
    Impl *im = impl_of(j->s);
    bool ready;
    {
        std::lock_guard<Spin> g(im->lock);
        if (j->c) {
            ready = j->c->impl.done;
            if (!ready) j->c->impl.joiner = self;
        } else {
            ready = im->live == 0;
            if (!ready) im->join_all_waiter = self;
        }
    }
    if (ready) lithe_context_unblock(self);
}

// Children first (round robin): grant this hart to one that wants more
// harts than it holds. Returns only if none does (or each was exiting).
void serve_children(Impl *im) {
    im->lock.lock();
    size_t n = im->children.size();
    for (size_t k = 0; k < n; ++k) {
        lithe_sched_t *child = im->children[(im->rr + k) % n];
        struct lithe_sched_stats st;
        lithe_sched_stats(child, &st);
        if (st.subtree_harts <= st.requested) {
            im->rr = (im->rr + k + 1) % n;
            lithe_hart_grant(child, unlock_impl, im);
            // Returned: that child is exiting; we still hold the lock.
        }
    }
    im->lock.unlock();
}

}  // namespace

extern "C" {

// Puts a context of `s` on this hart's run queue (no request). A hart pops
// its newest context (back) and thieves take the oldest (front); a context
// that yields goes into the yield slot, in front of the queue, so it runs
// after the others instead of being picked again at once (which starves
// whatever it waits for), and marks the hart as owing the parent a turn.
// The slot's previous context, if still there (this hart's hart_enter has
// not run since: a lithe_context_yield_to, or a scheduler built on ours
// that left before calling lithe_fj_hart_enter), moves to the queue's front.
static void push(lithe_fj_sched_t *s, lithe_context_t *c, bool yielded) {
    Impl *im = impl_of(s);
    bool shared;
    Queue &q = im->queues[my_queue(im, &shared)];
    if (yielded) {  // hart context on this hart (context_yield)
        q.turn_owed = true;
        lithe_context_t *prev = nullptr;
        if (shared || q.yielded.load(std::memory_order_relaxed))
            prev = q.yielded.exchange(c, std::memory_order_acq_rel);
        else  // only this hart stores into the slot: still empty
            q.yielded.store(c, std::memory_order_release);
        if (!prev) return;
        c = prev;
    }
    std::lock_guard<Spin> g(q.lock);
    if (yielded)
        q.q.push_front(c);
    else
        q.q.push_back(c);
    q.size.store(q.q.size(), std::memory_order_relaxed);
}

void lithe_fj_enqueue(lithe_fj_sched_t *s, lithe_context_t *c) {
    // Request first: once `c` is in a queue it may run and finish at once,
    // and, when the caller is not one of our harts (an unblock from a
    // foreign thread or from another scheduler's context), this scheduler
    // and its parent may then exit and be recycled before a later request
    // reached them. Nothing of ours is touched after the push.
    lithe_hart_request(1);
    push(s, c, false);
}

void lithe_fj_hart_request(lithe_sched_t *, lithe_sched_t *, int d) {
    lithe_hart_request(d);  // forward: demand propagates to the root
}

void lithe_fj_child_enter(lithe_sched_t *self, lithe_sched_t *child) {
    Impl *im = impl_of(fj_of(self));
    std::lock_guard<Spin> g(im->lock);
    im->children.push_back(child);
    im->nchildren.store(static_cast<int>(im->children.size()),
                        std::memory_order_release);
}

void lithe_fj_child_exit(lithe_sched_t *self, lithe_sched_t *child) {
    Impl *im = impl_of(fj_of(self));
    {
        std::lock_guard<Spin> g(im->lock);
        auto &v = im->children;
        for (size_t i = 0; i < v.size(); ++i)
            if (v[i] == child) {
                v.erase(v.begin() + static_cast<long>(i));
                break;
            }
        im->nchildren.store(static_cast<int>(v.size()),
                            std::memory_order_release);
    }
    struct lithe_sched_stats st;
    lithe_sched_stats(child, &st);
    if (st.requested != 0) lithe_hart_request(static_cast<int>(-st.requested));
}

void lithe_fj_hart_return(lithe_sched_t *self, lithe_sched_t *) {
    Impl *im = impl_of(fj_of(self));
    im->queues[my_queue(im)].returned = true;
}

namespace {
// Bounces: a hart that finds nothing here goes back to the parent, which
// grants it straight back while our requests say we want one. An unblock
// requests before it pushes (lithe_fj_enqueue), so an unblocker that loses
// its CPU between the two leaves our harts bouncing at full speed, maybe on
// the CPU it needs (seen: 45,000-330,000 bounces while a foreign unblocker
// was descheduled, under load). After kBounces empty entries in a row the
// hart's kernel thread yields its CPU (the raw system call: libc's
// sched_yield may be interposed to yield a context).
constexpr unsigned kBounces = 64;
__thread unsigned t_empty_entries __attribute__((tls_model("initial-exec")));
}  // namespace

void lithe_fj_hart_enter(lithe_sched_t *self) {
    lithe_fj_sched_t *s = fj_of(self);
    Impl *im = impl_of(s);
    if (t_vcore < 0) t_vcore = vcore_id();  // the vcore's own TLS (above)
    Queue &mine = im->queues[my_queue(im)];
    bool returned = mine.returned;
    if (returned) mine.returned = false;  // no store per context yield
    if (mine.turn_owed) {
        mine.turn_owed = false;
        if (lithe_sched_parent_turn(self)) lithe_hart_yield();
    }
    bool children = im->nchildren.load(std::memory_order_acquire) > 0;
    if (children && !returned) serve_children(im);
    lithe_context_t *c = look_around(im, mine);
    if (!c) c = pop_local(mine);
    if (!c) c = steal(im);
    if (c) {
        if (t_empty_entries) t_empty_entries = 0;
        lithe_context_run(c);
    }
    if (children && returned) serve_children(im);
    if (++t_empty_entries >= kBounces) {
        t_empty_entries = 0;
        syscall(SYS_sched_yield);
    }
    lithe_hart_yield();
}


void lithe_fj_sched_enter(lithe_sched_t *) {}
void lithe_fj_sched_exit(lithe_sched_t *) {}
void lithe_fj_context_block(lithe_sched_t *, lithe_context_t *) {
    lithe_hart_request(-1);
}

void lithe_fj_context_unblock(lithe_sched_t *self, lithe_context_t *c) {
    lithe_fj_enqueue(fj_of(self), c);
}

void lithe_fj_context_yield(lithe_sched_t *self, lithe_context_t *c) {
    push(fj_of(self), c, true);  // still runnable: no new request; owes
                                 // the parent a turn (see the top)
}

void lithe_fj_context_exit(lithe_sched_t *self, lithe_context_t *ctx) {
    lithe_hart_request(-1);
    Impl *im = impl_of(fj_of(self));
    FjCtx *c = fjctx_of(ctx);
    lithe_context_t *joiner, *all = nullptr;
    {
        std::lock_guard<Spin> g(im->lock);
        c->impl.done = true;
        joiner = c->impl.joiner;
        if (!joiner) im->exited.push_back(c);
        if (--im->live == 0) {
            all = im->join_all_waiter;
            im->join_all_waiter = nullptr;
        }
    }
    if (joiner) lithe_context_unblock(joiner);
    if (all) lithe_context_unblock(all);
}

const struct lithe_sched_funcs lithe_fj_sched_funcs = {
    lithe_fj_hart_request, lithe_fj_child_enter,   lithe_fj_child_exit,
    lithe_fj_hart_return,  lithe_fj_hart_enter,    lithe_fj_sched_enter,
    lithe_fj_sched_exit,   lithe_fj_context_block, lithe_fj_context_unblock,
    lithe_fj_context_yield, lithe_fj_context_exit,
};

lithe_fj_sched_t *lithe_fj_sched_create_funcs(
    const struct lithe_sched_funcs *f) {
    lithe_fj_sched_t *s = nullptr;
    {
        FreeLists &fl = free_lists();
        std::lock_guard<Spin> g(fl.lock);
        if (!fl.scheds.empty()) {
            s = fl.scheds.back();
            fl.scheds.pop_back();
            impl_of(s)->freed = false;
        }
    }
    if (!s) {
        s = new lithe_fj_sched_t{};
        auto *im = new Impl;
        im->nq = lithe_num_harts() > 0 ? lithe_num_harts() : 1;
        im->queues.reset(new Queue[im->nq]);
        s->impl = im;
    }
    s->funcs = *f;
    s->user = nullptr;
    Impl *im = impl_of(s);
    im->rr = 0;
    im->live = 0;
    im->join_all_waiter = nullptr;
    if (lithe_sched_init(&s->sched, &s->funcs, &s->main) != LITHE_OK) {
        // A bad table (lithe_sched_init reported it): keep s for reuse.
        FreeLists &fl = free_lists();
        std::lock_guard<Spin> g(fl.lock);
        impl_of(s)->freed = true;
        fl.scheds.push_back(s);
        return nullptr;
    }
    return s;
}

lithe_fj_sched_t *lithe_fj_sched_create(void) {
    return lithe_fj_sched_create_funcs(&lithe_fj_sched_funcs);
}

void lithe_fj_sched_destroy(lithe_fj_sched_t *s) {
    // Recycling an entered scheduler would hand its queues and counts to
    // the next create while its harts and main context still use them.
    // `entered_from` is set from lithe_sched_enter until the exit finished.
    if (__atomic_load_n(&s->sched.entered_from, __ATOMIC_ACQUIRE)) {
        fprintf(stderr,
                "lithe_fj_sched_destroy: scheduler %p is entered (its "
                "lithe_sched_exit has not completed)\n",
                (void *)s);
        abort();
    }
    Impl *im = impl_of(s);
    FreeLists &fl = free_lists();
    {
        // Twice on the free list = two later creates sharing one scheduler.
        std::lock_guard<Spin> g(fl.lock);
        if (im->freed) {
            fprintf(stderr,
                    "lithe_fj_sched_destroy: scheduler %p destroyed twice\n",
                    (void *)s);
            abort();
        }
        im->freed = true;
    }
    {
        std::lock_guard<Spin> g(im->lock);
        for (FjCtx *c : im->exited) release_ctx(c);
        im->exited.clear();
        im->children.clear();
        im->nchildren.store(0, std::memory_order_relaxed);
    }
    std::lock_guard<Spin> g(fl.lock);
    fl.scheds.push_back(s);
}

lithe_fj_context_t *lithe_fj_context_create(lithe_fj_sched_t *s,
                                            size_t stack_size,
                                            void (*fn)(void *), void *arg) {
    FjCtx *c = nullptr;
    if (stack_size == 0) {
        FreeLists &fl = free_lists();
        std::lock_guard<Spin> g(fl.lock);
        if (!fl.ctxs.empty()) {
            c = fl.ctxs.back();
            fl.ctxs.pop_back();
        }
    }
    if (c) {
        lithe_context_reassociate(&c->pub.ctx, &s->sched);
        lithe_context_recycle(&c->pub.ctx, fj_start, c);
    } else {
        c = new FjCtx{};
        struct lithe_context_attr a = {stack_size, true};
        if (lithe_context_init_attr(&c->pub.ctx, fj_start, c, &a) !=
            LITHE_OK) {
            delete c;
            return nullptr;
        }
        if (c->pub.ctx.sched != &s->sched)
            lithe_context_reassociate(&c->pub.ctx, &s->sched);
    }
    c->pub.sched = s;
    c->pub.fn = fn;
    c->pub.arg = arg;
    c->pub.impl = &c->impl;
    c->impl = CtxImpl{};
    {
        Impl *im = impl_of(s);
        std::lock_guard<Spin> g(im->lock);
        ++im->live;
    }
    lithe_fj_enqueue(s, &c->pub.ctx);
    return &c->pub;
}

void lithe_fj_context_join(lithe_fj_context_t *pc) {
    FjCtx *c = reinterpret_cast<FjCtx *>(pc);
    lithe_fj_sched_t *s = c->pub.sched;
    JoinArg j{s, c};
    lithe_context_block(join_block_cb, &j);
    Impl *im = impl_of(s);
    {
        std::lock_guard<Spin> g(im->lock);
        auto &v = im->exited;
        for (size_t i = 0; i < v.size(); ++i)
            if (v[i] == c) {
                v.erase(v.begin() + static_cast<long>(i));
                break;
            }
    }
    release_ctx(c);
}

void lithe_fj_sched_join_all(lithe_fj_sched_t *s) {
    JoinArg j{s, nullptr};
    lithe_context_block(join_block_cb, &j);
    Impl *im = impl_of(s);
    std::vector<FjCtx *> done;
    {
        std::lock_guard<Spin> g(im->lock);
        done.swap(im->exited);
    }
    for (FjCtx *c : done) release_ctx(c);
}

}  // extern "C"
