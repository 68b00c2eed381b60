// error_directive.cpp: OpenMP 5.1's `error` directive at run time
// (at(execution)): gcc's GOMP_warning / GOMP_error, clang's __kmpc_error.
// A warning prints and continues; a fatal error prints and ends the
// program as the stock runtime does (libgomp: exit(EXIT_FAILURE); libomp:
// abort through its fatal-error path, here fatal()).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "internal.hpp"

namespace {

// gcc passes msglen == (size_t)-1 for a NUL-terminated message.
std::string gomp_message(const char *msg, size_t len) {
    if (!msg) return {};
    return len == static_cast<size_t>(-1) ? std::string(msg)
                                          : std::string(msg, len);
}

// "file:line:col" from an ident_t's psource ";file;func;line;col;;".
std::string source_of(const void *loc) {
    struct Ident {
        int32_t reserved_1, flags, reserved_2, reserved_3;
        const char *psource;
    };
    const char *ps = loc ? static_cast<const Ident *>(loc)->psource : nullptr;
    if (!ps || *ps != ';') return "unknown";
    std::string f[4];
    const char *p = ps + 1;
    for (int i = 0; i < 4 && *p; ++i) {
        const char *e = strchr(p, ';');
        if (!e) e = p + strlen(p);
        f[i].assign(p, e);
        p = *e ? e + 1 : e;
    }
    return f[0] + ":" + f[2] + ":" + f[3];
}

}  // namespace

OMP_API void GOMP_warning(const char *msg, size_t len) {
    if (msg)
        fprintf(stderr, "lithe-omp: error directive encountered: %s\n",
                gomp_message(msg, len).c_str());
    else
        fprintf(stderr, "lithe-omp: error directive encountered\n");
}

OMP_API void GOMP_error(const char *msg, size_t len) {
    if (msg)
        fprintf(stderr,
                "lithe-omp: fatal error: error directive encountered: %s\n",
                gomp_message(msg, len).c_str());
    else
        fprintf(stderr, "lithe-omp: fatal error: error directive encountered\n");
    exit(EXIT_FAILURE);
}

// severity: 1 warning, 2 fatal (kmp.h's severity_warning/_fatal).
OMP_API void __kmpc_error(void *loc, int severity, const char *message) {
    std::string where = source_of(loc);
    if (!message) message = "";
    if (severity == 1) {
        fprintf(stderr,
                "lithe-omp: %s: Encountered user-directed warning: %s.\n",
                where.c_str(), message);
        return;
    }
    if (severity != 2)
        lomp::fatal("__kmpc_error: unknown severity %d", severity);
    lomp::fatal("%s: Encountered user-directed error: %s.", where.c_str(),
                message);
}
