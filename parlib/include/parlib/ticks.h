/* parlib/ticks.h: a monotonic clock cheap enough for every hart transfer.
 *
 * parlib_ticks() reads the CPU's time-stamp counter when the kernel itself
 * keeps time with it (clocksource "tsc": the kernel has checked that it is
 * invariant and synchronised across CPUs), else CLOCK_MONOTONIC in ns. On
 * the VMs measured a TSC read costs ~15 ns against ~50 ns for
 * clock_gettime, which lithe paid twice per hart transfer for its hart-time
 * accounting. The choice is made once per process, so any two readings,
 * on any threads, are comparable; parlib_ticks_to_ns() converts a
 * difference of two readings to ns. Both may be called from any context.
 *
 * A reading is not ordered against the memory operations around it (the
 * TSC read is not serialising): a reading taken just after seeing another
 * thread's store may come out earlier than a reading that thread took
 * just before the store, by up to the CPU's reorder window (~100 ns); on
 * a VM whose host moves the vCPUs, by more (1.3 µs seen once in CI,
 * session 8). A thread's own readings never go backwards. Clamp differences of
 * readings from different threads, or from a context that may have moved
 * between kernel threads in between, at 0.
 */
#ifndef PARLIB_TICKS_H
#define PARLIB_TICKS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

uint64_t parlib_ticks(void);

/* ns in `ticks` (a difference of two parlib_ticks() readings). The TSC's
 * rate is measured against CLOCK_MONOTONIC over the process's life so far
 * (fixed once 50 ms have passed; earlier conversions are approximate, to
 * ~50 ns over the time elapsed since the first reading). */
uint64_t parlib_ticks_to_ns(uint64_t ticks);

#ifdef __cplusplus
}
#endif

#endif /* PARLIB_TICKS_H */
