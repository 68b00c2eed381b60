// misuse.cpp: how lithe reports API misuse and fatal internal errors.
// The policy is process-wide; it is read on every report, so tests can flip
// it to LITHE_MISUSE_RETURN to check the documented error codes.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>

#include "internal.hpp"

namespace lithe {
namespace {

#if defined(LITHE_ASSERTS) && LITHE_ASSERTS
std::atomic<int> g_policy{LITHE_MISUSE_ABORT};
#else
std::atomic<int> g_policy{LITHE_MISUSE_RETURN};
#endif

void vreport(const char *fmt, va_list ap) {
    char buf[512];
    int n = snprintf(buf, sizeof buf, "lithe: ");
    n += vsnprintf(buf + n, sizeof buf - n - 1, fmt, ap);
    if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
    buf[n++] = '\n';
    ssize_t w = write(2, buf, n);
    (void)w;
}

}  // namespace

int misuse(int code, const char *fmt, ...) {
    if (g_policy.load(std::memory_order_relaxed) == LITHE_MISUSE_RETURN)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
    abort();
}

void fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
    abort();
}

}  // namespace lithe

extern "C" {

void lithe_set_misuse_policy(enum lithe_misuse_policy p) {
    lithe::g_policy.store(p);
}

const char *lithe_strerror(int err) {
    switch (err) {
    case LITHE_OK: return "success";
    case LITHE_EINVAL: return "invalid argument";
    case LITHE_EWRONGCONTEXT: return "call not allowed from this context";
    case LITHE_ENOTCURRENT: return "not the current scheduler or context";
    case LITHE_ENOTCHILD: return "not a child of the current scheduler";
    case LITHE_ERUNNING: return "context is running";
    case LITHE_ELIVE: return "context has not exited";
    case LITHE_EBUSY: return "scheduler still owns contexts or children";
    case LITHE_EEXITING: return "scheduler is exiting";
    case LITHE_ESTATE: return "object is in the wrong state for this call";
    case LITHE_ENOMEM: return "out of memory";
    }
    return "unknown lithe error";
}

}  // extern "C"
