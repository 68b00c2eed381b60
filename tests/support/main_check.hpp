// main_check.hpp: CHECK(cond) for a self-checking test program whose checks
// sit in main(): a failed condition is printed and main returns 1. (For a
// table of named checks returning bool, see named_checks.hpp.)
#pragma once

#include <cstdio>

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,    \
                         __LINE__, #cond);                                 \
            return 1;                                                      \
        }                                                                  \
    } while (0)
