// event.cpp: per-vcore event queues, handlers by type, and notifications
// (event.h).
//
// Queue: an intrusive Treiber stack per vcore (any thread pushes with a CAS;
// the owning vcore takes the whole list with one exchange and reverses it),
// so sending never allocates and never blocks.
//
// Notification = a real-time signal sent with tgkill to the vcore's kernel
// thread. The handler runs on the interrupted code's stack and TLS. It only
// sets notif_pending unless the interrupted code is a uthread that is
// preemptible, has notifications enabled, and is not executing inside
// libparlib, libc, the dynamic loader, the C++ runtime (libstdc++,
// libgcc_s: libparlib calls them with its locks held) or the library that
// provides the malloc in use (libasan, a preloaded allocator): their
// internal locks, and libparlib's, must never be held by a paused uthread. In that case the handler yields the uthread
// into vcore context (uthread_interrupt_yield), leaving it "current"; when
// it is resumed - possibly on another vcore - the handler returns and
// sigreturn restores the full interrupted register state there.
//
// One piece of libc is not excluded: sched_yield itself, when user code
// called it (its return address, at the top of the stack in that leaf
// function, is outside the excluded objects). It takes no lock, and a
// uthread that spins with sched_yield spends nearly all its time there, so
// excluding it would defer nearly every notification (OpenBLAS's waits
// reach libc's sched_yield directly when lithe's interposer is not first
// in lookup order).
//
// Deferred notifications are re-delivered. A notification deferred because
// notifications are disabled is taken by uth_enable_notifs; one that lands
// in vcore context is for handle_events. But one that lands in excluded code,
// or in the window where the vcore switches to a uthread (after its last
// handle_events), would be lost if the uthread then ran user code for ever
// (a busy-wait). So those deferrals arm the vcore's re-delivery timer (a
// POSIX timer that signals the vcore's own thread, SI_TIMER), first after
// kRetryFirstNs, doubling up to kRetryMaxNs; the counter resets when a
// notification is taken or handle_events runs. A timer signal that finds
// notif_pending clear (taken meanwhile) does nothing, so a stale timer never
// interrupts anything. A timer signal landing in vcore context re-arms as
// well: that vcore may be past its last handle_events, about to run a
// uthread (omp_busywait hung so under ASan: all the slicer's alarm events
// queued, notif_pending set, no timer armed, the member spinning).
//
// Each vcore's alarm timer (alarm.cpp) signals its thread with the same
// signal, SI_TIMER with sigev value kAlarmTimerTag: the handler first lets
// alarm.cpp queue the due alarms to this vcore (those that only wake to a
// stand-in vcore if this one's uthread sleeps in a system call, which
// cannot be paused, below), then goes on as a fresh
// notification only if one of them asked for EVENT_INTERRUPT. A
// notification nested in that expiry (SA_NODEFER) is deferred like one in
// excluded code: the expiry holds the vcore's alarm lock and calls the
// vDSO, which is not excluded.
//
// A uthread asleep in a system call cannot be paused anyway, and every
// signal makes its call return EINTR (nanosleep, poll: SA_RESTART does not
// restart those), which programs that sleep in a loop without checking the
// time see as time passing (LLVM's tasking/taskdep_if0_2.c: 30 one-second
// sleeps ended in 60 ms). So a deferral that found the uthread in a
// blocking call (the signal interrupted a `syscall` instruction, which the
// kernel either restarts or ends with -EINTR) retries only after
// kRetryBlockedNs: a sleeper sees at most ten early returns a second, and
// a uthread that leaves the call to spin is still interrupted.
#include <dlfcn.h>
#include <link.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "check.hpp"
#include "parlib/event.h"
#include "parlib/uthread.h"
#include "vcore_internal.hpp"

namespace parlib {

void uthread_interrupt_yield();
int g_notif_signal = 0;

namespace {

struct Handler {
    std::atomic<event_handler_fn> fn{nullptr};
    void *data = nullptr;
};
Handler g_handlers[EV_MAX_TYPES];

struct Range {
    uintptr_t lo, hi;
};
Range g_excluded[32];
int g_nexcluded = 0;

// Code addresses whose objects are excluded besides libc, ld.so and the
// C++ runtime: ours, and the malloc in use.
struct Anchors {
    uintptr_t self, malloc_fn;
};

int collect_ranges(struct dl_phdr_info *info, size_t, void *arg) {
    const auto *a = static_cast<const Anchors *>(arg);
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    bool mine = false;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr) &ph = info->dlpi_phdr[i];
        if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
        uintptr_t lo = info->dlpi_addr + ph.p_vaddr, hi = lo + ph.p_memsz;
        for (uintptr_t x : {a->self, a->malloc_fn})
            if (x >= lo && x < hi) mine = true;
    }
    // libstdc++ and libgcc_s: libparlib calls into them (operator new,
    // std::map rebalancing, the unwinder) while it holds its own locks.
    bool want = mine || strstr(name, "/libc.so") || strstr(name, "/ld-linux") ||
                strstr(name, "libc.so.6") || strstr(name, "ld-linux-x86-64") ||
                strstr(name, "/libstdc++.so") || strstr(name, "/libgcc_s.so");
    if (!want) return 0;
    for (int i = 0; i < info->dlpi_phnum && g_nexcluded < 32; ++i) {
        const ElfW(Phdr) &ph = info->dlpi_phdr[i];
        if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
        uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
        g_excluded[g_nexcluded++] = {lo, lo + ph.p_memsz};
    }
    return 0;
}

constexpr uint64_t kRetryFirstNs = 20000;   // 20 µs
constexpr uint64_t kRetryMaxNs = 2000000;   // 2 ms
constexpr uint64_t kRetryBlockedNs = 100000000;  // 100 ms

// libc's sched_yield: [lo, hi) (see the file comment).
Range g_sched_yield{0, 0};

void find_sched_yield() {
    void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    if (!libc) return;
    void *f = dlsym(libc, "sched_yield");
    Dl_info info;
    void *extra = nullptr;  // the symbol's ElfW(Sym)
    if (!f || !dladdr1(f, &info, &extra, RTLD_DL_SYMENT) || !extra) {
        dlclose(libc);
        return;
    }
    const auto *sym = static_cast<const ElfW(Sym) *>(extra);
    if (sym->st_size) {
        auto lo = reinterpret_cast<uintptr_t>(f);
        g_sched_yield = {lo, lo + sym->st_size};
    }
    dlclose(libc);
}

// The interrupted code is libc's sched_yield called from code that is not
// excluded.
bool in_user_sched_yield(uintptr_t rip, uintptr_t rsp) {
    if (rip < g_sched_yield.lo || rip >= g_sched_yield.hi) return false;
    uintptr_t ret = *reinterpret_cast<const uintptr_t *>(rsp);
    return !notif_rip_excluded(ret);
}

// The signal interrupted a blocking system call: the code is at a
// `syscall` instruction (the kernel rewound it to restart the call) or just
// after one with -EINTR as its result.
bool in_blocking_syscall(const ucontext_t *uc) {
    auto rip = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
    auto rax = static_cast<long>(uc->uc_mcontext.gregs[REG_RAX]);
    constexpr uint16_t kSyscall = 0x050f;  // 0f 05, little-endian
    uint16_t at, before = 0;
    memcpy(&at, reinterpret_cast<const void *>(rip), sizeof at);
    if ((rip & 4095) >= 2)  // rip - 2 on the same (mapped) page
        memcpy(&before, reinterpret_cast<const void *>(rip - 2), sizeof before);
    return at == kSyscall || (before == kSyscall && rax == -EINTR);
}

// Signal handler context, on v's own thread.
void arm_retry(Vcore *v, bool blocked = false) {
    if (!v->has_notif_timer) return;
    uint32_t n = v->notif_retries.load(std::memory_order_relaxed);
    v->notif_retries.store(n + 1, std::memory_order_relaxed);
    uint64_t ns = n < 7 ? kRetryFirstNs << n : kRetryMaxNs;
    if (ns > kRetryMaxNs) ns = kRetryMaxNs;
    if (blocked) ns = kRetryBlockedNs;
    struct itimerspec its {};
    its.it_value.tv_sec = static_cast<time_t>(ns / 1000000000u);
    its.it_value.tv_nsec = static_cast<long>(ns % 1000000000u);
    timer_settime(static_cast<timer_t>(v->notif_timer), 0, &its, nullptr);
}

void notif_handler(int, siginfo_t *si, void *ucv) {
    int saved_errno = errno;
    Vcore *v = tls_vcore;
    if (!v) return;  // not a vcore thread (cannot normally happen)
    auto *uc = static_cast<ucontext_t *>(ucv);
    auto rsp = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]);
    auto rip = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
    bool on_vcore_stack =
        rsp >= reinterpret_cast<uintptr_t>(v->stack_lo) &&
        rsp <= reinterpret_cast<uintptr_t>(v->stack_top) + 4096;
    bool timer = si->si_code == SI_TIMER;
    if (timer && si->si_value.sival_int == kAlarmTimerTag) {
        // Alarms due on this vcore are now queued (to it, or elsewhere if
        // its uthread sleeps in the kernel); go on as a fresh notification
        // only if one of them asked to interrupt.
        bool nested = v->in_alarm_expiry;
        v->in_alarm_expiry = true;
        std::atomic_signal_fence(std::memory_order_seq_cst);
        Holdup holdup = Holdup::kNone;
        if (!on_vcore_stack && tls_self && v->current == tls_self)
            holdup = in_blocking_syscall(uc) ? Holdup::kKernelBlocked
                     : !(tls_self->flags & UTHREAD_F_PREEMPTIBLE) ? Holdup::kBusy
                                                                   : Holdup::kNone;
        bool interrupt = alarm_timer_fired(v, holdup);
        std::atomic_signal_fence(std::memory_order_seq_cst);
        v->in_alarm_expiry = nested;
        if (!interrupt) {
            errno = saved_errno;
            return;
        }
        timer = false;
    }
    bool redelivery = timer;
    if (redelivery && !v->notif_pending.load(std::memory_order_relaxed))
        return;  // taken since it was deferred
    v->notif_pending.store(1, std::memory_order_relaxed);
    // Nested in this thread's alarm expiry, which holds the vcore's alarm
    // lock and may be in code that is not excluded (the vDSO's
    // clock_gettime): switching away here would leave the lock held by a
    // uthread that may resume elsewhere (a deadlock, or a handler finishing
    // on the wrong vcore).
    if (v->in_alarm_expiry) {
        arm_retry(v);
        errno = saved_errno;
        return;
    }
    // Vcore context is never interrupted: it handles events before leaving,
    // but it may be past its last handle_events (in the 2LS's sched_entry,
    // lithe's callbacks), about to run a uthread that then spins in user
    // code for ever. So a re-delivery that lands here re-arms too; the
    // chain ends once handle_events clears notif_pending.
    if (on_vcore_stack) {
        arm_retry(v);
        errno = saved_errno;
        return;
    }
    uthread *u = tls_self;
    if (!u || v->current != u) {  // a hand-off in progress
        arm_retry(v);
        errno = saved_errno;
        return;
    }
    // Not preemptible: the notification is only for vcore context. Disabled:
    // uth_enable_notifs takes it.
    if (!(u->flags & UTHREAD_F_PREEMPTIBLE) || u->notif_disabled > 0) return;
    if (notif_rip_excluded(rip) && !in_user_sched_yield(rip, rsp)) {
        arm_retry(v, in_blocking_syscall(uc));
        errno = saved_errno;
        return;
    }
    v->notif_retries.store(0, std::memory_order_relaxed);
    uthread_interrupt_yield();
    errno = saved_errno;
}

}  // namespace

bool notif_rip_excluded(uintptr_t rip) {
    for (int i = 0; i < g_nexcluded; ++i)
        if (rip >= g_excluded[i].lo && rip < g_excluded[i].hi) return true;
    return false;
}

void notif_init() {
    g_notif_signal = SIGRTMIN + 4;
    Anchors a{reinterpret_cast<uintptr_t>(&notif_handler),
              reinterpret_cast<uintptr_t>(dlsym(RTLD_DEFAULT, "malloc"))};
    dl_iterate_phdr(collect_ranges, &a);
    find_sched_yield();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = notif_handler;
    // NODEFER: the handler may leave (switch away) without returning, and
    // the kernel thread must stay interruptible meanwhile. No SA_ONSTACK:
    // the interrupted uthread's own stack must hold the signal frame.
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    PARLIB_CHECK(sigaction(g_notif_signal, &sa, nullptr) == 0,
                 "vcore_lib_init: cannot install the notification handler");
}

void notif_thread_init(Vcore *v) {
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = g_notif_signal;
    sev._sigev_un._tid = v->tid;
    timer_t t;
    // Without it deferred notifications wait for the next one (as before
    // re-delivery existed); nothing else depends on it.
    if (timer_create(CLOCK_MONOTONIC, &sev, &t) == 0) {
        v->notif_timer = t;
        v->has_notif_timer = true;
    }
}


// Pushes msg on v's stack (any thread; lock-free, async-signal-safe).
static void push_event(Vcore *v, event_msg *msg) {
    event_msg *head = v->events.load(std::memory_order_relaxed);
    do {
        msg->next = head;
    } while (!v->events.compare_exchange_weak(head, msg,
                                              std::memory_order_release,
                                              std::memory_order_relaxed));
}

bool event_queued(Vcore *v, EventPick pick) {
    // Only v's thread takes messages off v's stack, and producers only
    // push: every node reached from the head stays put while we look.
    for (event_msg *m = v->events.load(std::memory_order_acquire); m;
         m = m->next)
        if (pick(m)) return true;
    return false;
}

int move_events(Vcore *v, int to, EventPick pick) {
    event_msg *list = v->events.exchange(nullptr, std::memory_order_acquire);
    event_msg *keep = nullptr, **keep_end = &keep;  // newest first, as queued
    event_msg *moved = nullptr;                     // oldest first
    int n = 0;
    for (event_msg *m = list, *next; m; m = next) {
        next = m->next;
        if (pick(m)) {
            m->next = moved;
            moved = m;
            ++n;
        } else {
            *keep_end = m;
            keep_end = &m->next;
        }
    }
    *keep_end = nullptr;
    if (keep) {
        // Producers may have pushed meanwhile; they only touch the head, so
        // the kept (older) messages go below theirs.
        event_msg *head = nullptr;
        if (!v->events.compare_exchange_strong(head, keep,
                                               std::memory_order_release,
                                               std::memory_order_acquire)) {
            while (head->next) head = head->next;
            head->next = keep;
        }
    }
    if (!moved) return 0;
    Vcore *d = &g_vcores[to];
    for (event_msg *m = moved, *next; m; m = next) {  // oldest first
        next = m->next;
        push_event(d, m);
    }
    vcore_wake(d);
    return n;
}

int handle_vcore_events(Vcore *v) {
    int n = 0;
    for (;;) {
        if (v->notif_pending.load(std::memory_order_relaxed)) {
            v->notif_pending.store(0, std::memory_order_relaxed);
            v->notif_retries.store(0, std::memory_order_relaxed);
        }
        // Plain load first: the common case (nothing queued) must not pay
        // for a locked exchange on every vcore entry.
        if (!v->events.load(std::memory_order_acquire)) return n;
        event_msg *list = v->events.exchange(nullptr, std::memory_order_acquire);
        event_msg *fifo = nullptr;  // reverse: oldest first
        while (list) {
            event_msg *next = list->next;
            list->next = fifo;
            fifo = list;
            list = next;
        }
        while (fifo) {
            event_msg *m = fifo;
            fifo = m->next;
            unsigned type = m->type;
            __atomic_store_n(&m->queued, 0, __ATOMIC_RELEASE);
            event_handler_fn fn =
                g_handlers[type].fn.load(std::memory_order_acquire);
            if (fn) fn(m, type, g_handlers[type].data);
            ++n;
        }
    }
}


}  // namespace parlib

using namespace parlib;

extern "C" {

int register_ev_handler(unsigned type, event_handler_fn fn, void *data) {
    if (type >= EV_MAX_TYPES) return -EINVAL;
    g_handlers[type].data = data;
    g_handlers[type].fn.store(fn, std::memory_order_release);
    return 0;
}

void send_event(struct event_msg *msg, unsigned type, int vcoreid,
                unsigned flags) {
    PARLIB_CHECK(type < EV_MAX_TYPES, "send_event: type %u out of range",
                 type);
    PARLIB_CHECK(vcoreid >= -1 && vcoreid < g_max_vcores,
                 "send_event: no vcore %d", vcoreid);
    uint32_t was = __atomic_exchange_n(&msg->queued, 1, __ATOMIC_ACQ_REL);
    PARLIB_CHECK(was == 0, "send_event: message %p is already queued",
                 (void *)msg);
    if (vcoreid < 0) {
        vcoreid = 0;
        for (int i = 0; i < g_max_vcores; ++i)
            if (g_vcores[i].state.load(std::memory_order_relaxed) == kOnline) {
                vcoreid = i;
                break;
            }
    }
    Vcore *v = &g_vcores[vcoreid];
    msg->type = type;
    push_event(v, msg);
    if (flags & (EVENT_WAKEUP | EVENT_INTERRUPT)) {
        if (!vcore_wake(v) && (flags & EVENT_INTERRUPT) && v->tid &&
            !(tls_vcore == v))
            syscall(SYS_tgkill, getpid(), v->tid, g_notif_signal);
    }
}

int handle_events(void) {
    Vcore *v = tls_vcore;
    PARLIB_CHECK(v && !tls_self, "handle_events: not called in vcore context");
    return handle_vcore_events(v);
}

}  // extern "C"
