// parlib_definition.hpp: libparlib's own definition of a libc function it
// guards (libc_guard_forwards.cpp), for an adapter's interposition to
// forward to instead of libc's. Looked up on first use and cached; aborts
// with a message naming the function if libparlib does not define it.
// Any context.
#ifndef LITHE_ADAPTERS_PARLIB_DEFINITION_HPP
#define LITHE_ADAPTERS_PARLIB_DEFINITION_HPP

#include <atomic>

namespace lithe_adapters {

void *parlib_definition(std::atomic<void *> &cache, const char *name);

}  // namespace lithe_adapters

#endif
