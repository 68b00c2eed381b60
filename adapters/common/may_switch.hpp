// may_switch.hpp: may the calling code give up its hart by blocking or
// yielding its lithe context, instead of making a kernel call that keeps
// the hart? Shared by the interpositions every adapter compiles in
// (sched_yield_guard.cpp, join_guard.cpp, sleep_guard.cpp).
//
// Only a lithe context (not a foreign pthread), not in hart/vcore context,
// with notifications enabled: a context holding a lithe::SpinLock or a
// parlib pdr lock, or inside the OpenMP runtime's region start/end, has
// them disabled and must not switch. Never in the child of a fork: it has
// no vcores (vcore_forked_child()), so a context that switched away there
// would never run again.
#ifndef LITHE_ADAPTERS_MAY_SWITCH_HPP
#define LITHE_ADAPTERS_MAY_SWITCH_HPP

#include <lithe/lithe.h>
#include <parlib/uthread.h>
#include <parlib/vcore.h>

namespace lithe_adapters {

inline bool may_switch_context() {
    if (vcore_forked_child() || in_vcore_context() || !lithe_context_self()) return false;
    const struct uthread *u = uthread_self();
    return u && u->notif_disabled == 0;
}

}  // namespace lithe_adapters

#endif
