// uthread.cpp: uthreads on vcores (uthread.h): init / recycle / cleanup,
// run, yield through vcore context, exit, the main-thread conversion, and
// the vcore entry that the uthread layer installs.
//
// State protocol (struct uthread::state): READY -> RUNNING only in
// run_uthread (a CAS, so running a running uthread is caught); RUNNING ->
// READY in vcore context after the context is saved (so nobody can resume a
// half-saved context); RUNNING -> EXITED after the stack is abandoned.
// The yield callback runs after READY is published: it is where a blocking
// primitive makes the uthread visible to others.
//
// Direct hand-off (uthread_yield_to): the caller claims `next` (READY ->
// RUNNING, the same CAS as run_uthread), saves itself and switches straight
// to next's stack and TLS; the yield callback runs there, below next's saved
// frame, in vcore-context state (tls_self == nullptr in whichever TLS is
// loaded, v->current == nullptr, errno saved around it), then next resumes
// with no second switch. A notification that lands in that window only sets
// notif_pending (tls_self is null), exactly as in vcore context. Events
// queued before the hand-off starts divert it through vcore context, so a
// chain of hand-offs cannot starve handle_events.
//
// Notifications: nothing in libparlib's text is ever interrupted (see
// event.cpp), so the code here may read tls_vcore once and use it until the
// switch.
#include "parlib/uthread.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <vector>

#include "asan_fiber.hpp"
#include "lsan_roots.hpp"
#include "check.hpp"
#include "context.hpp"
#include "futex.hpp"
#include "parlib/event.h"
#include "spin.hpp"
#include "tls_pool.hpp"
#include "vcore_internal.hpp"

namespace parlib {
namespace {

const schedule_ops *g_ops = nullptr;
std::atomic<bool> g_lib_inited{false};

// Marker yield_fn: "interrupted; stay current on this vcore".
void interrupted_marker(uthread *, void *) {}

std::atomic<uint32_t> &state_of(uthread *u) {
    return *reinterpret_cast<std::atomic<uint32_t> *>(&u->state);
}

const char *state_name(uint32_t s) {
    switch (s) {
    case UTH_ST_FREE: return "free (not initialised or cleaned up)";
    case UTH_ST_READY: return "ready";
    case UTH_ST_RUNNING: return "running";
    case UTH_ST_EXITED: return "exited";
    }
    return "corrupt";
}

// READY -> RUNNING: the one way to take a uthread; `call` names the caller.
void claim(uthread *u, const char *call) {
    uint32_t exp = UTH_ST_READY;
    if (!state_of(u).compare_exchange_strong(exp, UTH_ST_RUNNING,
                                             std::memory_order_acquire))
        fatal("%s: uthread %p is %s", call, (void *)u, state_name(exp));
}

// Vcore::ctl: known control words carry this bit (outside the slot's 48).
constexpr uint64_t kCtlKnown = uint64_t{1} << 63;

// Vcore context: switch to `u`, already claimed. When the control words in
// effect are known (a uthread saved itself into this vcore context: the
// yield path), the resume compares with them instead of reading them with
// stmxcsr, ~4 ns per resume here (docs/perf.md).
[[noreturn]] void resume_claimed(Vcore *v, uthread *u) {
    v->current = u;
    u->vcoreid = v->id;
    ++u->switches;
    uint64_t ctl = v->ctl;
    v->ctl = 0;  // u runs next and may change them
    uint64_t fs = 0;
    if (u->flags & UTHREAD_F_OWN_TLS) {
        write_tls_of(u->fsbase, g_tls_vcore_off, v);
        fs = u->fsbase;
    } else {
        tls_self = u;  // lightweight: runs on this vcore's TLS
        asan_switch_to(u->stack_lo, u->stack_size, false);
    }
    if (ctl) parlib_ctx_resume_from(u->sp, ctl, fs);
    parlib_ctx_resume(u->sp, fs);
}

// ---- lightweight stacks: mmap'd with a guard page, pooled by size ----
struct StackPool {
    SpinLock lock;
    std::map<size_t, std::vector<void *>> free;  // size -> region bases
};
StackPool &g_stacks = *new StackPool;  // immortal: used until _exit

const size_t kPage = static_cast<size_t>(sysconf(_SC_PAGESIZE));

size_t stack_round(size_t s) { return (s + kPage - 1) & ~(kPage - 1); }

void *stack_alloc(size_t size) {
    {
        SpinGuard g(g_stacks.lock);
        auto &v = g_stacks.free[size];
        if (!v.empty()) {
            void *r = v.back();
            v.pop_back();
            return r;
        }
    }
    void *r = mmap(nullptr, size + kPage, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                   -1, 0);
    if (r == MAP_FAILED) return nullptr;
    mprotect(r, kPage, PROT_NONE);  // guard page below the stack
    return r;
}

void stack_free(void *region, size_t size) {
    SpinGuard g(g_stacks.lock);
    g_stacks.free[size].push_back(region);
}

void uthread_start(void *p) {
    auto *u = static_cast<uthread *>(p);
    if (!(u->flags & UTHREAD_F_OWN_TLS)) asan_switched();
    u->entry(u->arg);
    uthread_exit();
}

void prepare_frame(uthread *u) {
    char *top = static_cast<char *>(u->stack_lo) + u->stack_size;
    u->sp = ctx_make_frame(top, uthread_start, u);
}

// The original main kernel thread parks here for ever once main() runs as
// a uthread; it keeps the main TCB alive but never runs code again. Once the
// main uthread is published it may already run on a vcore with this same
// TCB, so after publishing this thread only makes raw syscalls.
alignas(64) char g_main_park_stack[64 << 10];
std::atomic<uint32_t> g_main_park_word{0};
std::atomic<uthread *> g_pending_main{nullptr};

void park_main(void *p) {
    auto *u = static_cast<uthread *>(p);
    tls_self = nullptr;  // this TCB is the main uthread's; it is not running
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, nullptr);
    Vcore *v0 = &g_vcores[0];
    state_of(u).store(UTH_ST_READY, std::memory_order_release);
    g_pending_main.store(u, std::memory_order_release);
    // vcore 0 hands main to the scheduler from its own TLS (vcore entry).
    v0->state.store(kOnline);
    kfutex_wake(&v0->state, 1);
    for (;;) kfutex_wait(&g_main_park_word, 0);
}

// Whether handle_vcore_events has anything to do (queued events or a
// notification to acknowledge). Checked inline: the call itself, with its
// frame and saved registers, is a measurable part of a yield (docs/perf.md).
__attribute__((always_inline)) inline bool events_or_notif(Vcore *v) {
    return vcore_has_events(v) ||
           v->notif_pending.load(std::memory_order_relaxed);
}

// Vcore entry proper, on the vcore stack and TLS with tls_self cleared.
// Inlined in both callers: after a yield it is one call fewer, with its
// frame, on the path to the next run.
[[noreturn]] __attribute__((always_inline)) inline void vcore_entry_on(
    Vcore *v) {
    // Single writer: a plain increment, not a locked RMW, on the hot path.
    v->entries.store(v->entries.load(std::memory_order_relaxed) + 1,
                     std::memory_order_relaxed);
    if (uthread *m = g_pending_main.load(std::memory_order_relaxed);
        m && g_pending_main.exchange(nullptr, std::memory_order_acquire))
        g_ops->thread_runnable(m);
    if (events_or_notif(v)) handle_vcore_events(v);
    if (v->current) run_current_uthread();
    g_ops->sched_entry();
    vcore_yield();
}

[[noreturn]] void uthread_vcore_entry() {
    Vcore *v = tls_vcore;
    tls_self = nullptr;
    vcore_entry_on(v);
}

// Runs on the vcore stack after a uthread saved itself.
void yield_on_vcore(void *p) {
    auto *u = static_cast<uthread *>(p);
    bool own_tls = u->flags & UTHREAD_F_OWN_TLS;  // the switch wrote FS
    uint64_t ctl = ctx_ctl_after_save(u->sp, own_tls);  // before all else
    if (!own_tls) asan_switched();
    Vcore *v = tls_vcore;
    tls_self = nullptr;
    v->ctl = ctl | kCtlKnown;
    auto fn = u->yield_fn;
    void *arg = u->yield_arg;
    if (fn == interrupted_marker) {
        // Still current here: vcore_entry handles events, then resumes it
        // unless a handler took it with uthread_paused().
        state_of(u).store(UTH_ST_READY, std::memory_order_release);
    } else {
        v->current = nullptr;
        state_of(u).store(UTH_ST_READY, std::memory_order_release);
        if (fn) fn(u, arg);
    }
    vcore_entry_on(v);  // a callback does not change tls_vcore / tls_self
}

void exit_on_vcore(void *p) {
    auto *u = static_cast<uthread *>(p);
    if (!(u->flags & UTHREAD_F_OWN_TLS)) asan_switched();
    Vcore *v = tls_vcore;
    tls_self = nullptr;
    v->current = nullptr;
    auto fn = u->yield_fn;
    void *arg = u->yield_arg;
    state_of(u).store(UTH_ST_EXITED, std::memory_order_release);
    if (fn) fn(u, arg);
    if (g_ops->thread_exited) g_ops->thread_exited(u);
    uthread_vcore_entry();
}

struct Handoff {
    uthread *from, *to;
    void (*fn)(uthread *, void *);
    void *arg;
    Vcore *v;
    bool exiting;
};

// Publishes `from` (READY or EXITED) and runs its callbacks. Vcore-context
// state: tls_self == nullptr, v->current == nullptr.
inline void handoff_callbacks(const Handoff &h) {
    h.v->current = nullptr;
    state_of(h.from).store(h.exiting ? UTH_ST_EXITED : UTH_ST_READY,
                           std::memory_order_release);
    if (!h.fn && !h.exiting) return;  // nothing runs: no flag to raise
    h.v->in_handoff = true;
    if (h.fn) h.fn(h.from, h.arg);
    if (h.exiting && g_ops->thread_exited) g_ops->thread_exited(h.from);
    h.v->in_handoff = false;
}

// Runs below next's saved frame with next's TLS (a full-TLS target) or the
// vcore's (a lightweight one), already loaded by the switch.
// Reads one field of a Handoff that the caller has just written. A relaxed
// atomic load is never merged with its neighbours into one wide load: a
// load spanning several pending narrower stores cannot be store-forwarded
// and waits until they reach the cache (docs/perf.md, "hand-off").
template <class T>
T fresh(const T &field) {
    return __atomic_load_n(&field, __ATOMIC_RELAXED);
}

void handoff_on_next(void *p) {
    // A copy: from's stack, which holds *p, dies once from is published.
    const auto *hp = static_cast<const Handoff *>(p);
    const Handoff h{fresh(hp->from), fresh(hp->to), fresh(hp->fn),
                    fresh(hp->arg),  fresh(hp->v),  fresh(hp->exiting)};
    uthread *to = h.to;
    // The control words in effect (nothing here or in a callback changes
    // them): from's, saved now, or unknown if from is exiting.
    bool to_own = to->flags & UTHREAD_F_OWN_TLS;
    bool fs_written = to_own || (h.from->flags & UTHREAD_F_OWN_TLS);
    uint64_t ctl = h.exiting ? 0 : ctx_ctl_after_save(h.from->sp, fs_written);
    if (!to_own && (h.from->flags & UTHREAD_F_OWN_TLS))
        asan_switch_to(to->stack_lo, to->stack_size, false);  // vcore thread's
    if (to_own) {
        tls_vcore = h.v;
        // libc_guards' tcb_kind reads both racily: set one before clearing
        // the other so that to's TCB never looks like a foreign thread's.
        std::atomic_signal_fence(std::memory_order_seq_cst);
    }
    tls_self = nullptr;  // in to's own TLS: restored below
    // A callback's errno must not leak into the target's.
    bool keep_errno = h.fn || h.exiting;
    int saved_errno = keep_errno ? errno : 0;
    handoff_callbacks(h);
    if (keep_errno) errno = saved_errno;
    h.v->current = to;
    h.v->ctl = 0;  // to runs next and may change them
    tls_self = to;
    if (h.exiting) parlib_ctx_resume(to->sp, 0);
    parlib_ctx_resume_from(to->sp, ctl, 0);
}

// The same on the vcore stack, with events handled before next runs.
void handoff_via_vcore(void *p) {
    Handoff h = *static_cast<Handoff *>(p);
    bool from_own = h.from->flags & UTHREAD_F_OWN_TLS;  // the switch wrote FS
    if (!h.exiting)
        h.v->ctl = ctx_ctl_after_save(h.from->sp, from_own) | kCtlKnown;
    if (!from_own) asan_switched();
    tls_self = nullptr;
    handoff_callbacks(h);
    handle_vcore_events(h.v);
    resume_claimed(h.v, h.to);
}

// Returns 0 once the caller runs again (save_state), as yield_impl does,
// so uthread_yield_to_status can be tail-called.
int yield_to_impl(bool save_state, uthread *next,
                  void (*fn)(uthread *, void *), void *arg) {
    uthread *u = tls_self;
    PARLIB_CHECK(u, "uthread_yield_to: not called from a uthread");
    PARLIB_CHECK(next && next != u,
                 "uthread_yield_to: next is %s", next ? "the caller" : "NULL");
    Vcore *v = tls_vcore;
    PARLIB_ASSERT(v && v->current == u);
    claim(next, "uthread_yield_to");
    Handoff h{u, next, fn, arg, v, !save_state};
    bool from_own = u->flags & UTHREAD_F_OWN_TLS;
    bool to_own = next->flags & UTHREAD_F_OWN_TLS;
    void *top;
    uint64_t fs;
    void (*cont)(void *);
    if (events_or_notif(v)) {
        top = v->stack_top;
        fs = from_own ? v->fsbase : 0;
        cont = handoff_via_vcore;
        if (!from_own)
            asan_switch_to(v->stack_lo,
                           static_cast<size_t>(v->stack_top - v->stack_lo),
                           !save_state);
    } else {
        next->vcoreid = v->id;
        ++next->switches;
        // The callback's frames go below next's saved registers.
        top = reinterpret_cast<void *>(reinterpret_cast<uintptr_t>(next->sp) &
                                       ~uintptr_t{15});
        fs = to_own ? next->fsbase : from_own ? v->fsbase : 0;
        cont = handoff_on_next;
        if (!from_own && !to_own) {
            asan_switch_to(next->stack_lo, next->stack_size, !save_state);
        } else if (!from_own) {  // the vcore thread leaves our stack for good
            asan_switch_to(v->stack_lo,
                           static_cast<size_t>(v->stack_top - v->stack_lo),
                           !save_state);
            asan_switched();
            tls_self = nullptr;  // the vcore's TLS: no uthread runs on it now
        }
    }
    if (!save_state) parlib_ctx_call_on(top, fs, cont, &h);
    int rc = parlib_ctx_save_and_call(&u->sp, top, fs, cont, &h);
    if (!from_own) asan_switched();  // resumed, possibly on another vcore
    return rc;
}

// Returns 0 once the uthread runs again (save_state), from the switch itself
// when nothing follows it here (no ASan), so callers can tail-call it.
int yield_impl(bool save_state, void (*fn)(uthread *, void *), void *arg) {
    uthread *u = tls_self;
    PARLIB_CHECK(u, "uthread_yield: not called from a uthread");
    Vcore *v = tls_vcore;
    PARLIB_ASSERT(v && v->current == u);
    PARLIB_ASSERT(state_of(u).load(std::memory_order_relaxed) ==
                  UTH_ST_RUNNING);
    u->yield_fn = fn;
    u->yield_arg = arg;
    bool own_tls = u->flags & UTHREAD_F_OWN_TLS;
    uint64_t fs = own_tls ? v->fsbase : 0;
    if (!own_tls)
        asan_switch_to(v->stack_lo,
                       static_cast<size_t>(v->stack_top - v->stack_lo),
                       !save_state);
    if (!save_state) parlib_ctx_call_on(v->stack_top, fs, exit_on_vcore, u);
    int rc =
        parlib_ctx_save_and_call(&u->sp, v->stack_top, fs, yield_on_vcore, u);
    if (!own_tls) asan_switched();  // resumed, possibly on another vcore
    return rc;
}

}  // namespace

// Called by the notification handler (event.cpp) on an interruptible uthread.
void uthread_interrupt_yield() {
    (void)yield_impl(true, interrupted_marker, nullptr);
}

}  // namespace parlib

using namespace parlib;

extern "C" {

const struct schedule_ops *uthread_sched_ops(void) { return g_ops; }

int uthread_lib_init(struct uthread *main_thread,
                     const struct schedule_ops *ops) {
    PARLIB_CHECK(ops && ops->sched_entry && ops->thread_runnable &&
                     ops->thread_paused,
                 "uthread_lib_init: sched_entry, thread_runnable and "
                 "thread_paused are required");
    if (g_lib_inited.exchange(true)) return -EBUSY;
    if (tls_vcore) return -EINVAL;
    int rc = vcore_lib_init();
    if (rc) return rc;
    g_ops = ops;
    vcore_set_entry(uthread_vcore_entry);
    uthread *u = main_thread;
    void *owner = u->owner;  // the 2LS may have labelled it already
    memset(u, 0, sizeof *u);
    u->owner = owner;
    u->flags = UTHREAD_F_OWN_TLS | UTHREAD_F_MAIN;
    u->fsbase = read_fsbase();
    state_of(u).store(UTH_ST_RUNNING);
    tls_detach_rseq();  // the main TCB now travels between vcores
    char *top = g_main_park_stack + sizeof g_main_park_stack;
    parlib_ctx_save_and_call(&u->sp, top, 0, park_main, u);
    // Resumed on a vcore.
    tls_self = u;
    return 0;
}

int uthread_init(struct uthread *u, void (*entry)(void *), void *arg,
                 const struct uthread_attr *attr) {
    PARLIB_CHECK(g_ops, "uthread_init: uthread_lib_init has not been called");
    PARLIB_CHECK(entry, "uthread_init: entry is NULL");
    struct uthread_attr a = UTHREAD_ATTR_DEFAULT;
    if (attr) a = *attr;
    size_t size = stack_round(a.stack_size ? a.stack_size
                                           : config().stack_size);
    memset(u, 0, sizeof *u);
    u->entry = entry;
    u->arg = arg;
    u->vcoreid = -1;
    if (a.own_tls) {
        TlsSlot *s = tls_slot_acquire(size);
        if (!s) return -errno;
        u->tls_slot = s;
        u->flags = UTHREAD_F_OWN_TLS;
        u->fsbase = s->fsbase;
        u->stack_lo = s->stack_lo;
        u->stack_size = static_cast<size_t>(s->stack_hi - s->stack_lo);
        write_tls_of(u->fsbase, g_tls_self_off, u);
    } else {
        void *r = stack_alloc(size);
        if (!r) return -ENOMEM;
        u->stack_region = r;
        u->stack_lo = static_cast<char *>(r) + kPage;
        u->stack_size = size;
    }
    lsan_add_stack(u->stack_lo, u->stack_size);
    prepare_frame(u);
    state_of(u).store(UTH_ST_READY, std::memory_order_release);
    return 0;
}

int uthread_recycle(struct uthread *u, void (*entry)(void *), void *arg) {
    uint32_t s = state_of(u).load(std::memory_order_acquire);
    PARLIB_CHECK(s == UTH_ST_EXITED,
                 "uthread_recycle: uthread %p is %s, not exited", (void *)u,
                 state_name(s));
    PARLIB_CHECK(entry, "uthread_recycle: entry is NULL");
    u->entry = entry;
    u->arg = arg;
    u->switches = 0;
    prepare_frame(u);
    state_of(u).store(UTH_ST_READY, std::memory_order_release);
    return 0;
}

void uthread_cleanup(struct uthread *u) {
    uint32_t s = state_of(u).load(std::memory_order_acquire);
    PARLIB_CHECK(s == UTH_ST_EXITED || (s == UTH_ST_READY && u->switches == 0),
                 "uthread_cleanup: uthread %p is %s (only exited or never-run "
                 "uthreads can be cleaned up)",
                 (void *)u, state_name(s));
    PARLIB_CHECK(!(u->flags & UTHREAD_F_MAIN),
                 "uthread_cleanup: the main uthread cannot be cleaned up");
    if (u->tls_slot || u->stack_region) lsan_remove_stack(u->stack_lo, u->stack_size);
    if (u->tls_slot) {
        tls_slot_release(static_cast<TlsSlot *>(u->tls_slot));
    } else if (u->stack_region) {
        stack_free(u->stack_region, u->stack_size);
    }
    u->tls_slot = nullptr;
    u->stack_region = nullptr;
    state_of(u).store(UTH_ST_FREE, std::memory_order_release);
}

void run_uthread(struct uthread *u) {
    Vcore *v = tls_vcore;
    PARLIB_CHECK(v && !tls_self, "run_uthread: not called in vcore context");
    PARLIB_CHECK(!v->in_handoff,
                 "run_uthread: called from a uthread_yield_to callback (the "
                 "hand-off target runs next)");
    claim(u, "run_uthread");
    resume_claimed(v, u);
}

void run_current_uthread(void) {
    Vcore *v = tls_vcore;
    PARLIB_CHECK(v && !tls_self && v->current,
                 "run_current_uthread: no interrupted uthread on this vcore");
    run_uthread(v->current);
}

struct uthread *current_uthread(void) {
    Vcore *v = tls_vcore;
    return v && !tls_self ? v->current : nullptr;
}

void uthread_yield(bool save_state, void (*yield_fn)(struct uthread *, void *),
                   void *arg) {
    (void)yield_impl(save_state, yield_fn, arg);
}

int uthread_yield_status(void (*yield_fn)(struct uthread *, void *),
                         void *arg) {
    return yield_impl(true, yield_fn, arg);
}

void uthread_yield_to(struct uthread *next, bool save_state,
                      void (*yield_fn)(struct uthread *, void *), void *arg) {
    (void)yield_to_impl(save_state, next, yield_fn, arg);
}

int uthread_yield_to_status(struct uthread *next,
                            void (*yield_fn)(struct uthread *, void *),
                            void *arg) {
    return yield_to_impl(true, next, yield_fn, arg);
}

void uthread_exit(void) {
    (void)yield_impl(false, nullptr, nullptr);
    __builtin_unreachable();
}

struct uthread *uthread_self(void) { return tls_self; }

bool uthread_running_elsewhere(const struct uthread *u) {
    if (!u) return false;
    const Vcore *mine = tls_vcore;
    for (int i = 0; i < g_max_vcores; ++i)
        if (&g_vcores[i] != mine &&
            __atomic_load_n(&g_vcores[i].current, __ATOMIC_RELAXED) == u)
            return true;
    return false;
}

void uthread_has_blocked(struct uthread *u, int flags) {
    if (g_ops->thread_has_blocked) g_ops->thread_has_blocked(u, flags);
}

void uthread_paused(struct uthread *u) {
    Vcore *v = tls_vcore;
    if (v && !tls_self && v->current == u) v->current = nullptr;
    g_ops->thread_paused(u);
}

void uthread_runnable(struct uthread *u) { g_ops->thread_runnable(u); }

void uth_disable_notifs(void) {
    uthread *u = tls_self;
    if (!u) return;
    ++u->notif_disabled;
    std::atomic_signal_fence(std::memory_order_seq_cst);
}

void uth_enable_notifs(void) {
    uthread *u = tls_self;
    if (!u) return;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    PARLIB_CHECK(u->notif_disabled > 0,
                 "uth_enable_notifs: notifications are not disabled");
    if (--u->notif_disabled == 0 && (u->flags & UTHREAD_F_PREEMPTIBLE)) {
        Vcore *v = tls_vcore;
        // A notification arrived while disabled: take it now.
        if (v && v->notif_pending.load(std::memory_order_relaxed))
            uthread_interrupt_yield();
    }
}

void uthread_set_preemptible(struct uthread *u, bool on) {
    if (on)
        __atomic_fetch_or(&u->flags, UTHREAD_F_PREEMPTIBLE, __ATOMIC_RELAXED);
    else
        __atomic_fetch_and(&u->flags, ~UTHREAD_F_PREEMPTIBLE,
                           __ATOMIC_RELAXED);
}

void uthread_tls_flush(void) { tls_pool_flush(); }

}  // extern "C"
