// vcore_internal.hpp: the per-vcore record and the thread-local pointers that
// tell any code where it runs. Shared by vcore.cpp, uthread.cpp, event.cpp.
//
// Where am I? (all reads are single %fs-relative loads, so they are atomic
// with respect to preemption and migration):
//   tls_vcore: the vcore whose kernel thread runs this code, or nullptr on a
//              foreign thread. In a full-TLS uthread's TLS it is written by
//              the vcore before every run_uthread.
//   tls_self:  the running uthread, or nullptr in vcore context / foreign
//              threads. A full-TLS uthread's TLS holds itself forever; a
//              lightweight uthread runs on the vcore's TLS, which the vcore
//              sets before the switch and clears on re-entry.
// Both are initial-exec so their offset from the thread pointer is the same
// in every TCB, which is how a vcore writes them into a uthread's TLS.
//
// Vcore::state transitions: ONLINE -> SPINNING -> PARKED by the vcore itself;
// SPINNING|PARKED -> ONLINE by any thread (vcore_request, send_event) or by
// the vcore itself. Whoever moves PARKED -> ONLINE must futex-wake `state`.
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "parlib/event.h"
#include "parlib/uthread.h"

// Everything here is internal to libparlib: hidden, so that calls between
// its files are direct (no PLT, no interposition) on the switch paths.
#pragma GCC visibility push(hidden)

namespace parlib {

enum VcoreState : uint32_t { kOnline = 0, kSpinning = 1, kParked = 2 };

struct alignas(64) Vcore {
    int id = 0;
    int cpu = -1;                  // CPU it is pinned to
    pid_t tid = 0;                 // kernel thread id (for notifications)
    pthread_t thread{};
    uint64_t fsbase = 0;           // its own TCB
    char *stack_top = nullptr;     // vcore context restarts here
    char *stack_lo = nullptr;      // lowest usable vcore-context address
    std::atomic<uint32_t> state{kParked};
    // The uthread running here, or interrupted here and still current.
    // Written only by this vcore; other threads only compare it with a
    // pointer (uthread_running_elsewhere, an atomic load).
    uthread *current = nullptr;
    // MXCSR / x87 CW in effect on this vcore's thread, in the saved-slot
    // layout (context.hpp) with kCtlKnown set, or 0 if unknown: set when a
    // uthread saves itself into vcore context, cleared when one is resumed
    // (vcore-context code never changes them). Lets the resume compare
    // without a stmxcsr. Written and read only by this vcore (uthread.cpp).
    uint64_t ctl = 0;
    // A uthread_yield_to callback is running here: run_uthread from it would
    // abandon the claimed target, so it is refused. This vcore only.
    bool in_handoff = false;
    std::atomic<uint32_t> notif_pending{0};
    // Re-delivery of a deferred notification (event.cpp): a POSIX timer
    // that signals this vcore's thread, and the number of re-deliveries since
    // the last one was taken (backoff). Touched only by this vcore's thread
    // (its notification handler and handle_events).
    void *notif_timer = nullptr;  // a timer_t (0 is a valid id)
    bool has_notif_timer = false;
    std::atomic<uint32_t> notif_retries{0};
    // Set while this vcore's notification handler expires its alarms
    // (holding its alarm lock): a notification nested there must not
    // switch the interrupted uthread away (event.cpp). This thread only.
    bool in_alarm_expiry = false;
    // Intrusive multi-producer stack of events; consumer takes all at once.
    alignas(64) std::atomic<event_msg *> events{nullptr};
    // Statistics (this vcore writes; anyone may read).
    std::atomic<uint64_t> parks{0}, wakeups{0}, entries{0};
};

extern Vcore *g_vcores;
extern int g_max_vcores;

// __thread, not thread_local: an extern thread_local is reached through a
// wrapper that tests for a dynamic initialiser on every access (a GOT load,
// a compare and a branch each time, several per switch); __thread variables
// have constant initialisation by definition.
extern __thread Vcore *tls_vcore __attribute__((tls_model("initial-exec")));
extern __thread uthread *tls_self __attribute__((tls_model("initial-exec")));

// Offsets of tls_vcore / tls_self from the thread pointer (same in all TCBs).
extern intptr_t g_tls_vcore_off, g_tls_self_off;

inline void write_tls_of(uint64_t fsbase, intptr_t off, void *value) {
    *reinterpret_cast<void **>(static_cast<intptr_t>(fsbase) + off) = value;
}

// The vcore entry installed by the uthread layer.
extern vcore_entry_fn g_vcore_entry;
void vcore_set_entry(vcore_entry_fn fn);

// Brings vcore `v` online if it is yielded; true if this call did it.
bool vcore_wake(Vcore *v);

// Notification signal (a real-time signal; see event.cpp).
extern int g_notif_signal;
void notif_init();
// On vcore `v`'s own thread, before it runs anything: its re-delivery timer.
void notif_thread_init(Vcore *v);
bool notif_rip_excluded(uintptr_t rip);

// Alarms (alarm.cpp). Each vcore's alarm timer signals its thread with the
// notification signal and this sigev value (the re-delivery timer's is 0).
constexpr int kAlarmTimerTag = 1;
// Once, in vcore_lib_init, before the vcore threads start.
void alarm_init();
// On vcore `v`'s own thread, before it runs anything: its alarm timer.
void alarm_thread_init(Vcore *v);
// What keeps v from handling its events soon, as its notification handler
// sees it.
enum class Holdup {
    kNone,
    kKernelBlocked,  // v's uthread sleeps in a system call
    kBusy,           // v's uthread runs user code and is not preemptible
};
// v's notification handler, for its alarm timer: expires v's due alarms
// into v's event queue, or, when v's uthread sleeps in a system call,
// those that only wake into another vcore's (and, after a while, when a
// busy uthread keeps v: alarm.cpp). True if one of them asked for
// EVENT_INTERRUPT.
bool alarm_timer_fired(Vcore *v, Holdup holdup);
// From another thread that has just queued a wake-only event (EV_IO) to
// vcore `vcoreid`: if that vcore is running, its alarm timer checks within
// about a millisecond whether its uthread sleeps in the kernel, and if so
// hands the event to a stand-in vcore. Takes the vcore's alarm lock.
void watch_for_stand_in(int vcoreid);
// For alarm.cpp's stand-in delivery, on v's own thread (its notification
// handler), async-signal-safe. event_queued: is a message with pick(msg)
// queued to v? move_events: while v's vcore context is not draining its
// queue (v's thread interrupted a uthread), moves the queued messages with
// pick(msg) to vcore `to` and wakes it, keeping the others queued in order;
// returns how many moved.
using EventPick = bool (*)(const event_msg *);
bool event_queued(Vcore *v, EventPick pick);
int move_events(Vcore *v, int to, EventPick pick);
inline bool vcore_has_events(Vcore *v) {
    return v->events.load(std::memory_order_acquire) != nullptr;
}
// handle_events (event.h) on this vcore (the caller is in its vcore context).
int handle_vcore_events(Vcore *v);

// Static configuration read from the environment at init.
struct Config {
    int vcores;         // PARLIB_VCORES
    uint64_t spin_us;   // PARLIB_SPIN_US
    bool spin_us_set;   // ... given in the environment
    size_t stack_size;  // PARLIB_STACK_SIZE
    int tls_pool;       // PARLIB_TLS_POOL
    bool pin;           // PARLIB_PIN: pin each vcore to one CPU (default 1)
    bool fsgsbase;      // PARLIB_FSGSBASE=0 forces arch_prctl (tests)
};
const Config &config();

}  // namespace parlib

#pragma GCC visibility pop
