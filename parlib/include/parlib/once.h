/* parlib/once.h: one-time initialisation (like pthread_once) that blocks
 * concurrent callers in user space when they are uthreads.
 *
 * The first caller runs `fn`; every concurrent caller returns only after
 * `fn` has returned, and later callers return at once. Built on the
 * user-space futex (futex.h), so uthreads and other threads may race on the
 * same uth_once_t. `fn` must not call uth_once on the same object.
 */
#ifndef PARLIB_ONCE_H
#define PARLIB_ONCE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct uth_once {
    uint32_t state; /* parlib's: not run / running / done */
} uth_once_t;
#define UTH_ONCE_INIT {0}

void uth_once(uth_once_t *once, void (*fn)(void));

#ifdef __cplusplus
}
#endif
#endif
