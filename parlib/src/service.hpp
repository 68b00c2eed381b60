// service.hpp: parlib's service kernel thread, for user-level blocking I/O
// (io.cpp). (Alarms do not use it: each vcore has its own timer, alarm.cpp.)
//
// One lazily started pthread waits in epoll_wait on the fds that uthreads
// wait for. It never computes and never runs user code: it only moves ready
// fds into events sent to vcores, whose handler (registered once by
// service_start) wakes the uthreads in vcore context.
//
// Contexts: service_start may be called from any context (uthread, vcore
// context, foreign thread). io_ready runs only on the service thread;
// io_event_handler only in vcore context (handle_events).
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

// --- driven by the service thread ---
// `record` (an fd record registered with data.ptr = record) reported
// `events` (io.cpp).
void io_ready(void *record, uint32_t events);

// --- the event handler registered by service_start ---
void io_event_handler(event_msg *msg, unsigned type, void *data);

}  // namespace parlib
