// internal_caller.hpp: is a pthread_create call made by lithe itself?
//
// libparlib makes kernel threads with pthread_create (vcores, the backing
// threads of contexts' TLS, its keeper and service threads) and lets the
// call go through the global symbol lookup on purpose (so that ASan's
// interceptor sees it: parlib/src/libc_interposers.list). Those calls
// reach the adapter's pthread_create first, sometimes from a lithe context
// (a context's first TLS slot starts parlib's keeper through std::thread);
// they must make real kernel threads.
//
// So the adapter walks the caller's stack: the first frame that is not in
// the adapter itself, the sanitizer runtime (whose interceptor calls us) or
// libstdc++ (std::thread) decides; it is internal if it lies in libparlib
// or a liblithe* library. Objects are recognised by file name once per
// load address range (dl_iterate_phdr), refreshed when an address is not
// in any known range (a library dlopened later). Any context; a spinlock
// guards the range table.
#pragma once

namespace lithe_pthread {

// `caller` is the return address of the interposed call.
bool called_by_lithe(const void *caller);

// Is `caller` a sanitizer runtime's interceptor? ASan's pthread_create
// wraps the start routine in its own thread registration, which fails in
// a context (its TLS is a backing thread's, already registered with ASan),
// so such calls make kernel threads (docs/pthread.md, limits).
bool called_by_sanitizer(const void *caller);

}  // namespace lithe_pthread
