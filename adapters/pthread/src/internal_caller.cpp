// internal_caller.cpp: see internal_caller.hpp.
#include "internal_caller.hpp"

#include <lithe/lithe.hpp>

#include <link.h>
#include <unwind.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace lithe_pthread {
namespace {

enum class Kind { kUser, kLithe, kPassThrough, kSanitizer };

struct Range {
    uintptr_t lo, hi;
    Kind kind;
};

lithe::SpinLock g_lock;
std::vector<Range> *g_ranges = nullptr;  // leaked: used until exit

Kind kind_of_name(const char *path) {
    const char *base = std::strrchr(path, '/');
    base = base ? base + 1 : path;
    if (std::strncmp(base, "liblithe_pthread", 16) == 0)
        return Kind::kPassThrough;
    if (std::strncmp(base, "libparlib", 9) == 0 ||
        std::strncmp(base, "liblithe", 8) == 0)
        return Kind::kLithe;
    if (std::strncmp(base, "libasan", 7) == 0 ||
        std::strncmp(base, "libtsan", 7) == 0 ||
        std::strncmp(base, "libubsan", 8) == 0)
        return Kind::kSanitizer;
    if (std::strncmp(base, "libstdc++", 9) == 0) return Kind::kPassThrough;
    return Kind::kUser;
}

int add_object(struct dl_phdr_info *info, size_t, void *p) {
    auto *v = static_cast<std::vector<Range> *>(p);
    Kind k = kind_of_name(info->dlpi_name ? info->dlpi_name : "");
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr) &ph = info->dlpi_phdr[i];
        if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
        uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
        v->push_back({lo, lo + ph.p_memsz, k});
    }
    return 0;
}

// Kind of the object containing `pc` (kUser if none is known).
Kind kind_of(uintptr_t pc) {
    for (int attempt = 0; attempt < 2; ++attempt) {
        g_lock.lock();
        if (attempt == 1 || !g_ranges) {
            auto *v = new std::vector<Range>;
            dl_iterate_phdr(add_object, v);
            delete g_ranges;
            g_ranges = v;
        }
        for (const Range &r : *g_ranges)
            if (pc >= r.lo && pc < r.hi) {
                Kind k = r.kind;
                g_lock.unlock();
                return k;
            }
        g_lock.unlock();
    }
    return Kind::kUser;
}

struct Walk {
    int frames = 0;
    Kind verdict = Kind::kUser;
};

_Unwind_Reason_Code step(struct _Unwind_Context *ctx, void *p) {
    auto *w = static_cast<Walk *>(p);
    if (++w->frames > 16) return _URC_END_OF_STACK;
    Kind k = kind_of(_Unwind_GetIP(ctx));
    if (k == Kind::kPassThrough || k == Kind::kSanitizer) return _URC_NO_REASON;
    w->verdict = k;
    return _URC_END_OF_STACK;
}

}  // namespace

bool called_by_sanitizer(const void *caller) {
    return kind_of(reinterpret_cast<uintptr_t>(caller)) == Kind::kSanitizer;
}

bool called_by_lithe(const void *caller) {
    Kind k = kind_of(reinterpret_cast<uintptr_t>(caller));
    if (k == Kind::kUser || k == Kind::kLithe) return k == Kind::kLithe;
    Walk w;
    _Unwind_Backtrace(step, &w);
    return w.verdict == Kind::kLithe;
}

}  // namespace lithe_pthread
