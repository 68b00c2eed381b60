/* parlib/alarm.h: alarms (thesis §2.4.2).
 *
 * An alarm_waiter is owned by its caller. Every alarm is bound to a vcore,
 * and each vcore has one timer (a POSIX timer signalling that vcore's own
 * kernel thread) for all its alarms, never a thread per alarm; an expired
 * alarm is delivered as an EV_ALARM event to the waiter's vcore, where its
 * callback runs in vcore context (it must not block). No other kernel
 * thread is woken, with one exception: if the expiry finds that vcore's
 * uthread asleep in a system call (a raw futex wait), an alarm without
 * EVENT_INTERRUPT is delivered to another vcore (an idle one if any) and
 * its callback runs there, since the sleeper may be waiting for what the
 * callback does. Times are microseconds of CLOCK_MONOTONIC ("since boot")
 * unless stated otherwise.
 *
 * Exactly-once: stop_alarm() returns true iff the callback will never run
 * for this start; false iff it has run, is running, or will run very soon.
 * reset_alarm_abs() returns true iff the alarm will fire at the new time,
 * false iff it fires (or fired) at the old one (and the new time is not
 * applied). Either way exactly one code path owns the alarm's completion.
 */
#ifndef PARLIB_ALARM_H
#define PARLIB_ALARM_H

#include <stdbool.h>
#include <stdint.h>

#include "event.h"

#ifdef __cplusplus
extern "C" {
#endif

struct alarm_waiter;
typedef void (*alarm_fn)(struct alarm_waiter *);

struct alarm_waiter {
    uint64_t wake_up_time; /* absolute, µs of CLOCK_MONOTONIC */
    alarm_fn func;
    void *data;            /* the caller's */
    int vcoreid;           /* where func runs (but see above); -1 = the
                              vcore that starts it */
    unsigned ev_flags;     /* EVENT_WAKEUP is implied; EVENT_INTERRUPT to
                              interrupt a preemptible uthread there */
    /* parlib's: */
    uint32_t state;
    int64_t heap_index;
    struct event_msg ev;
};

void init_waiter(struct alarm_waiter *w, alarm_fn func);
void set_waiter_abs(struct alarm_waiter *w, uint64_t abs_us);
void set_waiter_abs_unix(struct alarm_waiter *w, uint64_t abs_unix_us);
void set_waiter_rel(struct alarm_waiter *w, uint64_t usleep);
void set_waiter_inc(struct alarm_waiter *w, int64_t usleep);
void start_alarm(struct alarm_waiter *w);
bool stop_alarm(struct alarm_waiter *w);
bool reset_alarm_abs(struct alarm_waiter *w, uint64_t abs_us);

/* From a uthread: block (in user space) for `usec` microseconds; the vcore
 * runs other uthreads meanwhile. From any other thread: nanosleep. */
void uth_sleep_us(uint64_t usec);

#ifdef __cplusplus
}
#endif
#endif
