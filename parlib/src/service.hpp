// service.hpp: parlib's service kernel thread, shared by alarms (alarm.cpp)
// and user-level blocking I/O (io.cpp).
//
// One lazily started pthread waits in epoll_wait on a timerfd (armed for the
// earliest alarm deadline) and on the fds that uthreads wait for. It never
// computes and never runs user code: it only moves expired alarms and ready
// fds into events sent to vcores, whose handlers (registered once by
// service_start) run the callbacks / wake the uthreads in vcore context.
//
// Contexts: service_start and service_arm_timer may be called from any
// context (uthread, vcore context, foreign thread). alarm_expire and io_ready
// run only on the service thread; the *_event_handler functions only in
// vcore context (handle_events).
#pragma once

#include <cstdint>

#include "parlib/event.h"

namespace parlib {

// Starts the service thread and registers the EV_ALARM / EV_IO handlers on
// first call; later calls return at once. Callers racing the first one
// spin until it is up rather than sleep (they may be in vcore context).
void service_start();

// The epoll instance the service thread waits on (after service_start).
int service_epoll_fd();

// Arms the service timer to expire at abs_us (µs of CLOCK_MONOTONIC).
// Called only with the alarm heap lock held, so the last arming wins in
// heap order (alarm.cpp).
void service_arm_timer(uint64_t abs_us);

// --- driven by the service thread ---
// Sends every alarm whose deadline has passed and re-arms the timer for the
// next one (alarm.cpp).
void alarm_expire();
// `record` (an fd record registered with data.ptr = record) reported
// `events` (io.cpp).
void io_ready(void *record, uint32_t events);

// --- event handlers registered by service_start ---
void alarm_event_handler(event_msg *msg, unsigned type, void *data);
void io_event_handler(event_msg *msg, unsigned type, void *data);

}  // namespace parlib
