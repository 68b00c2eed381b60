// service.hpp: parlib's service kernel thread, for user-level blocking I/O
// (io.cpp). (Alarms do not use it: each vcore has its own timer, alarm.cpp.)
//
// One lazily started pthread waits in epoll_wait on the fds that uthreads
// wait for. It never computes and never runs user code: it only moves ready
// fds into events sent to vcores, whose handler (registered once by
// service_start) wakes the uthreads in vcore context.
//
// Idle vcores poll too (io_poll_idle, from vcore_yield's spin): a readiness
// report taken by a vcore that is spinning anyway reaches the waiter without
// the service thread's wake-up, which on a VM costs tens of microseconds
// and, with every CPU held by a spinning vcore, waits for the kernel to
// preempt one. The service thread stays the poller of record for when no
// vcore spins (all parked or all busy). EPOLLONESHOT makes each report go
// to exactly one of the pollers.
//
// Contexts: service_start may be called from any context (uthread, vcore
// context, foreign thread). io_ready runs on the service thread and in
// vcore context (io_poll_idle); io_event_handler only in vcore context
// (handle_events).
#pragma once

#include <cstdint>

#include "parlib/event.h"

namespace parlib {

// Starts the service thread and registers the EV_IO handler on
// first call; later calls return at once. Callers racing the first one
// spin until it is up rather than sleep (they may be in vcore context).
void service_start();

// The epoll instance the service thread waits on (after service_start).
int service_epoll_fd();

// From an idle vcore in vcore context (vcore_yield): if the service is up
// and some uthread waits on an fd, takes the ready reports no poller has
// taken yet (epoll_wait, timeout 0) and hands each to io_ready. Returns
// whether it took any.
bool io_poll_idle();

// --- driven by the pollers (service thread, io_poll_idle) ---
// `record` (an fd record registered with data.ptr = record) reported
// `events` (io.cpp).
void io_ready(void *record, uint32_t events);

// Uthreads currently waiting on an fd (io.cpp keeps it; a hint: read
// without the record locks).
int io_waiters();

// --- the event handler registered by service_start ---
void io_event_handler(event_msg *msg, unsigned type, void *data);

}  // namespace parlib
