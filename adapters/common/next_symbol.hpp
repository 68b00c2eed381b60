// next_symbol.hpp: the libc definition an adapter's interposition forwards
// to (dlsym(RTLD_NEXT), i.e. the next definition after the adapter library
// in symbol lookup, at its default version), looked up on first use and
// cached. Shared by the guards that forward (join_guard.cpp,
// sleep_guard.cpp). Any context; lock-free (a racing first lookup stores
// the same pointer twice).
#ifndef LITHE_ADAPTERS_NEXT_SYMBOL_HPP
#define LITHE_ADAPTERS_NEXT_SYMBOL_HPP

#include <dlfcn.h>

#include <atomic>

namespace lithe_adapters {

template <class Fn>
Fn next_symbol(std::atomic<void *> &cache, const char *name) {
    void *p = cache.load(std::memory_order_acquire);
    if (!p) {
        p = dlsym(RTLD_NEXT, name);
        cache.store(p, std::memory_order_release);
    }
    return reinterpret_cast<Fn>(p);
}

}  // namespace lithe_adapters

#endif
