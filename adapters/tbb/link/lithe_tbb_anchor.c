/* lithe_tbb_anchor.c: compiled into every program that links the CMake
 * target lithe_tbb (an INTERFACE source). TBB finds our server only if
 * liblithe_tbb is loaded, but a program normally calls none of its
 * functions, so a linker running with --as-needed (Debian's default) would
 * drop the library. This reference from the program keeps it DT_NEEDED. */
#include <lithe/tbb.h>

__attribute__((used)) int (*const lithe_tbb_anchor)(void) = lithe_tbb_active;
