/* parlib/event.h: events and notifications (thesis §2.3).
 *
 * Each vcore has one multi-producer queue of intrusive messages. Any thread
 * may send_event(); only the target vcore, in vcore context, consumes them in
 * handle_events(), which runs the handler registered for each message type.
 * Messages are owned by the sender: they are linked in place (no allocation)
 * and must not be re-sent before their handler has started (checked).
 *
 * Notification: sending with EVENT_WAKEUP brings a yielded vcore online to
 * handle it; EVENT_INTERRUPT also interrupts a uthread running on the target
 * vcore (a signal), if that uthread is preemptible and has notifications
 * enabled; otherwise the event waits for the next time the vcore enters
 * vcore context.
 */
#ifndef PARLIB_EVENT_H
#define PARLIB_EVENT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    EV_NULL = 0,     /* (EV_NONE is taken by <elf.h>) */
    EV_ALARM = 1,    /* alarm expired (alarm.h) */
    EV_IO = 2,       /* fd readiness / I/O completion (io.h) */
    EV_WAKEUP = 3,   /* no payload: only makes the vcore run its entry */
    EV_OFFLOAD = 4,  /* an offloaded call returned (offload.h) */
    EV_USER = 16,    /* first type free for schedulers and applications */
    EV_MAX_TYPES = 64,
};

enum {
    EVENT_WAKEUP = 1u << 0,    /* bring the target vcore online if yielded */
    EVENT_INTERRUPT = 1u << 1, /* and interrupt its running uthread */
};

struct event_msg {
    struct event_msg *next; /* parlib's while queued */
    uint32_t type;          /* set by send_event */
    uint32_t queued;        /* parlib's: 1 from send to handler start */
    void *arg;              /* payload, the sender's */
    uint64_t data;          /* payload, the sender's */
};

/* Runs in vcore context on the consuming vcore; must not block. The message
 * may be re-sent or freed by the handler. */
typedef void (*event_handler_fn)(struct event_msg *msg, unsigned type,
                                 void *handler_data);

/* Installs the handler for `type` (< EV_MAX_TYPES); replaces any previous.
 * Returns 0 or -EINVAL. */
int register_ev_handler(unsigned type, event_handler_fn fn, void *data);

/* Queues `msg` (type `type`) to vcore `vcoreid` (-1 = any online vcore, or
 * vcore 0 if none is). Callable from any thread. Aborts if msg is already
 * queued. */
void send_event(struct event_msg *msg, unsigned type, int vcoreid,
                unsigned flags);

/* Vcore context: runs the handlers of every message queued to this vcore.
 * Returns the number handled. */
int handle_events(void);

#ifdef __cplusplus
}
#endif
#endif
