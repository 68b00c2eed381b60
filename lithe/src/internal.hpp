// internal.hpp: lithe's shared internals: per-hart state, scheduler states,
// the misuse reporter, and the "current scheduler" override.
//
// Per-hart state (Hart) is touched only by code running on that hart in hart
// context, except `current`, which tools read racily (lithe_hart_owner).
// Scheduler bookkeeping fields in struct lithe_sched are atomics accessed
// with __atomic builtins; `lock` (a spinlock word) orders a grant's
// state check against lithe_sched_exit marking the scheduler EXITING. The
// struct's first cache line is read on every callback and context yield,
// the second is written on every hart transfer (lithe.h): a new field goes
// to the line of the paths that touch it.
// Lock order: a scheduler's own lock may be held while taking a child's
// `lock`, never the reverse.
#pragma once

#include <lithe/lithe.h>
#include <parlib/vcore.h>

#include <cstddef>
#include <cstdint>

// Internal to liblithe: hidden, so that calls between its files (here(),
// the misuse reporter, ...) are direct rather than through the PLT.
#pragma GCC visibility push(hidden)

namespace lithe {

static_assert(offsetof(lithe_sched, lock) == 64 && sizeof(lithe_sched) == 128,
              "struct lithe_sched: one line read per callback, one written "
              "per hart transfer");

enum SchedState : uint32_t { kInit = 0, kEntered = 1, kExiting = 2, kExited = 3 };

struct alignas(64) Hart {
    lithe_sched_t *current = nullptr;  // nullptr = with the system (vcore)
    uint64_t since_ticks = 0;  // parlib_ticks() when `current` became current
    void (*unlock)(void *) = nullptr;  // pending grant callback
    void *unlock_arg = nullptr;
};

extern Hart *g_harts;
extern int g_nharts;
// Constant-initialised and initial-exec: a plain %fs-relative access, with
// no TLS wrapper call through the PLT, on every callback.
extern constinit thread_local lithe_sched_t *tls_override
    __attribute__((tls_model("initial-exec")));

// This vcore's hart, cached in the vcore thread's own TLS by the hart-context
// entries (sched_entry, hart_enter_current), which always run there. Null in
// every other TCB, e.g. a full-TLS context's, which is loaded while a
// uthread_yield_to hand-off runs context_yield in hart context: here() then
// asks parlib (a call through the PLT, which the cache saves twice per
// context yield).
extern constinit __thread Hart *tls_hart
    __attribute__((tls_model("initial-exec")));

inline Hart *here() {  // hart context only
    Hart *h = tls_hart;
    return h ? h : &g_harts[vcore_id()];
}

// here(), from an entry on the vcore's own TLS: fills the cache.
inline Hart *here_on_vcore_tls() {
    Hart *h = tls_hart;
    if (!h) h = tls_hart = &g_harts[vcore_id()];
    return h;
}
void set_current(Hart *h, lithe_sched_t *to);

// Reports API misuse: aborts naming the call under LITHE_MISUSE_ABORT,
// otherwise returns `code`.
int misuse(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
[[noreturn]] void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// Runs a callback with lithe_sched_current() == s.
template <class F>
inline void with_current(lithe_sched_t *s, F &&f) {
    lithe_sched_t *saved = tls_override;
    tls_override = s;
    f();
    tls_override = saved;
}

// Test-and-test-and-set acquire of a lock word (lithe's and the base
// scheduler's locks). In hart context a long wait yields the kernel thread
// (a raw system call: the adapters interpose libc's sched_yield to yield
// the context), because every vcore takes these locks on each hart
// transfer and, with more vcores than CPUs or a loaded host, the holder
// can be a descheduled vcore: spinning on would burn the waiter's whole
// time slice. A context keeps spinning: it may be inside a callback under
// with_current's override, where no switch is safe.
void spin_acquire(uint32_t *word);

// Spinlock on a scheduler's `lock` word.
void sched_lock(lithe_sched_t *s);
void sched_unlock(lithe_sched_t *s);

inline uint32_t sched_state(lithe_sched_t *s) {
    return __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
}

// Hart-context entry points reached through vcore_reenter.
[[noreturn]] void hart_enter_current();

// Hart context, the hart already handed to c's parent: drops c's hart
// count; if that was the last hart of an exiting c, finishes the exit here
// and runs the parked main context (does not return). sched.cpp.
void leave_child(Hart *h, lithe_sched_t *c);

// The base scheduler (root of every tree).
extern lithe_sched_t *g_base;
void base_init();

}  // namespace lithe

#pragma GCC visibility pop
