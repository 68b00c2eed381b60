// check.cpp: parlib::fatal, async-signal-safe formatting to stderr + abort.
#include "check.hpp"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

namespace parlib {

void fatal(const char *fmt, ...) {
    char buf[512];
    int n = snprintf(buf, sizeof buf, "parlib: ");
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(buf + n, sizeof buf - n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
    buf[n++] = '\n';
    ssize_t w = write(2, buf, n);
    (void)w;
    abort();
}

}  // namespace parlib
