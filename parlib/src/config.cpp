// config.cpp: parlib's environment variables, parsed once (first use) into an
// immutable Config. A malformed value is a fatal error naming the variable,
// never a silent default. The same parser serves the layers above
// (parlib_env_u64, parlib/env.h).
#include <stdlib.h>
#include <string.h>

#include <cerrno>
#include <cstdint>

#include "check.hpp"
#include "parlib/env.h"
#include "vcore_internal.hpp"

namespace parlib {
namespace {

uint64_t parse_size(const char *name, const char *s, uint64_t lo,
                    uint64_t hi) {
    char *end = nullptr;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s) fatal("%s=%s: not a number", name, s);
    if (*end == 'k' || *end == 'K') v <<= 10, ++end;
    else if (*end == 'm' || *end == 'M') v <<= 20, ++end;
    else if (*end == 'g' || *end == 'G') v <<= 30, ++end;
    if (*end) fatal("%s=%s: trailing characters", name, s);
    if (v < lo || v > hi)
        fatal("%s=%s: must be in [%llu, %llu]", name, s,
              (unsigned long long)lo, (unsigned long long)hi);
    return v;
}

uint64_t env_or(const char *name, uint64_t dflt, uint64_t lo, uint64_t hi) {
    const char *s = getenv(name);
    if (!s || !*s) return dflt;
    return parse_size(name, s, lo, hi);
}

Config load() {
    Config c{};
    c.vcores = static_cast<int>(env_or("PARLIB_VCORES", 0, 1, 1024));
    c.spin_us = env_or("PARLIB_SPIN_US", 50, 0, 10'000'000);
    c.spin_us_set = getenv("PARLIB_SPIN_US") && *getenv("PARLIB_SPIN_US");
    c.stack_size = env_or("PARLIB_STACK_SIZE", 1 << 20, 16 << 10, 1ull << 32);
    c.tls_pool = static_cast<int>(env_or("PARLIB_TLS_POOL", 16, 0, 4096));
    c.pin = env_or("PARLIB_PIN", 1, 0, 1) != 0;
    c.fsgsbase = env_or("PARLIB_FSGSBASE", 1, 0, 1) != 0;
    return c;
}

}  // namespace

const Config &config() {
    static const Config c = load();
    return c;
}

}  // namespace parlib

uint64_t parlib_env_u64(const char *name, uint64_t dflt, uint64_t lo,
                        uint64_t hi) {
    return parlib::env_or(name, dflt, lo, hi);
}
