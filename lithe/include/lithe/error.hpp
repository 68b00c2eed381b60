// lithe/error.hpp: how the C++ API reports failures.
//
// Two channels, by where the code runs:
// - In a context (SchedGuard's constructor, the fork-join helpers), a
//   failing lithe call throws lithe::Error carrying the LITHE_E* code.
//   Under the default misuse policy (LITHE_MISUSE_ABORT) lithe has already
//   aborted on misuse, so what is left to throw is LITHE_ENOMEM and, under
//   LITHE_MISUSE_RETURN, the misuse codes.
// - In hart context (callbacks) nothing may throw: the C++ wrappers used
//   there return the int code, and the callback dispatchers are noexcept
//   (an escaping exception is std::terminate).
// detail::fatal is for what cannot be reported (a destructor that would
// leave lithe pointing at freed memory): message to stderr, then abort.
// It writes with write(2), not stdio, so it is safe in hart context.
#pragma once

#include <lithe/lithe.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace lithe {

class Error : public std::runtime_error {
  public:
    Error(int code, const char *call)
        : std::runtime_error(std::string(call) + ": " + lithe_strerror(code)),
          code_(code) {}
    // The LITHE_E* code the call returned.
    int code() const noexcept { return code_; }

  private:
    int code_;
};

namespace detail {

// Throws lithe::Error unless rc is LITHE_OK.
inline void check(int rc, const char *call) {
    if (rc != LITHE_OK) throw Error(rc, call);
}

[[noreturn]] inline void fatal(const char *what, int rc = LITHE_OK) noexcept {
    auto put = [](const char *s) {
        ssize_t w = ::write(2, s, std::strlen(s));
        (void)w;
    };
    put("lithe: ");
    put(what);
    if (rc != LITHE_OK) {
        put(": ");
        put(lithe_strerror(rc));
    }
    put("\n");
    std::abort();
}

}  // namespace detail
}  // namespace lithe
