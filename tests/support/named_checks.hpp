// named_checks.hpp: the frame of a self-checking test program whose command
// line names one check of a table ("all" runs every one), for programs that
// CTest runs once per check and per way of loading a runtime (tests/tbb,
// tests/compose). A check is a `bool fn()` that returns false through
// CHECK(cond), which prints the failed condition first.
//
// Exit statuses of run(): 0 every named check passed, 1 one failed (the
// later ones do not run; "FAIL name<note>" is printed), 2 no check has that
// name. Header-only, no state.
#pragma once

#include <cstdio>
#include <cstring>

#include "check_or_return.hpp"

#define CHECK(cond) CHECK_OR_RETURN(cond, false)

namespace named_checks {

struct Check {
    const char *name;
    bool (*fn)();
};

// Runs the checks of `table` that `which` names, in table order.
template <size_t N>
int run(const Check (&table)[N], const char *which, const char *note = "") {
    bool any = false;
    for (const Check &c : table) {
        if (std::strcmp(which, "all") != 0 && std::strcmp(which, c.name) != 0)
            continue;
        any = true;
        if (!c.fn()) {
            std::fprintf(stderr, "FAIL %s%s\n", c.name, note);
            return 1;
        }
    }
    if (!any) {
        std::fprintf(stderr, "no check named %s\n", which);
        return 2;
    }
    return 0;
}

// The usage check of main(argc, argv): true if there is exactly one
// argument; else prints the usage.
inline bool one_argument(int argc, char **argv) {
    if (argc == 2) return true;
    std::fprintf(stderr, "usage: %s CHECK|all\n", argv[0]);
    return false;
}

}  // namespace named_checks
