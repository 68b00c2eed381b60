// check_or_return.hpp: CHECK_OR_RETURN(cond, value) for self-checking test
// programs: a failed condition is printed (file, line, text) and the
// enclosing function returns `value`. named_checks.hpp builds its
// bool-returning CHECK on it; a program whose checks sit in main() uses
// CHECK_IN_MAIN (returns 1).
#pragma once

#include <cstdio>

#define CHECK_OR_RETURN(cond, value)                                       \
    do {                                                                   \
        if (!(cond)) {                                                     \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,    \
                         __LINE__, #cond);                                 \
            return value;                                                  \
        }                                                                  \
    } while (0)

#define CHECK_IN_MAIN(cond) CHECK_OR_RETURN(cond, 1)
