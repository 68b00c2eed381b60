/* parlib/env.h: reading a numeric environment variable the way parlib
 * reads its own (PARLIB_VCORES, PARLIB_SPIN_US, ...), for the layers above
 * it, so that every variable of the project is parsed alike.
 *
 * Unset or empty: the default. Otherwise a decimal number, optionally
 * followed by k, m or g (times 2^10, 2^20, 2^30), within [lo, hi]; anything
 * else (not a number, trailing characters, out of range) is a fatal error
 * naming the variable and its value, never a silent default. Reads the
 * environment each call (callers cache the value); any context.
 */
#ifndef PARLIB_ENV_H
#define PARLIB_ENV_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

uint64_t parlib_env_u64(const char *name, uint64_t dflt, uint64_t lo,
                        uint64_t hi);

#ifdef __cplusplus
}
#endif

#endif /* PARLIB_ENV_H */
