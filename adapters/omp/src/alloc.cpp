// alloc.cpp: OpenMP memory allocators (omp_init_allocator ... omp_free),
// their GNU (GOMP_alloc/GOMP_free) and LLVM (__kmpc_alloc ...) entry
// points, and libomp's kmp_malloc family.
//
// Handles, the same in both ABIs: 0 is omp_null_allocator (use the
// caller's def-allocator-var); the predefined allocators are small
// integers (1..8, libomp's llvm_omp_target_{host,shared,device}_mem_alloc
// 100..102); any other value is an Allocator made by omp_init_allocator
// (checked by its magic word: a wrong handle aborts naming the call).
// Memory spaces: this is one host without NUMA or high-bandwidth memory, so
// every space is ordinary malloc memory, except omp_high_bw_mem_space,
// which has none: allocators on it are not created (omp_null_allocator),
// as libgomp and libomp without memkind do. `pinned` is not offered either
// (omp_null_allocator, as libgomp 12). Access, partition and sync_hint are
// accepted and have no effect.
// Every block carries a Header just below the returned pointer naming the
// allocator that made it, so omp_free/omp_realloc need not be told it.
// pool_size: an Allocator's `used` counts the bytes (headers and alignment
// padding included) its live blocks take; updated by CAS, no lock, any
// thread. The fallback trait applies when the pool or malloc cannot give
// the block: default_mem_fb retries with omp_default_mem_alloc,
// allocator_fb with fb_data, null_fb returns NULL, abort_fb aborts.
#include <errno.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "internal.hpp"

namespace lomp {
namespace {

// Trait keys and values (omp.h of both runtimes agree).
enum : int {
    kAtkSyncHint = 1, kAtkAlignment, kAtkAccess, kAtkPoolSize, kAtkFallback,
    kAtkFbData, kAtkPinned, kAtkPartition
};
enum : uintptr_t {
    kAtvFalse = 0, kAtvTrue = 1, kAtvContended = 3, kAtvPrivate = 6,
    kAtvAll = 7, kAtvCgroup = 10, kAtvDefaultMemFb = 11, kAtvNullFb = 12,
    kAtvAbortFb = 13, kAtvAllocatorFb = 14, kAtvEnvironment = 15,
    kAtvInterleaved = 18, kAtvDefault = ~uintptr_t{0}
};
constexpr uintptr_t kDefaultMemAlloc = 1;
constexpr uintptr_t kMemSpaceHighBw = 3;
constexpr uint64_t kMagic = 0x6c6f6d70616c6c63;  // "lompallc"
constexpr size_t kMinAlign = alignof(std::max_align_t);  // malloc's

struct Trait {  // omp_alloctrait_t: the key is an enum (int)
    int key;
    uintptr_t value;
};

struct Allocator {
    uint64_t magic = kMagic;
    size_t alignment = kMinAlign;
    size_t pool_size = SIZE_MAX;  // SIZE_MAX: no pool limit
    std::atomic<size_t> used{0};
    uintptr_t fallback = kAtvDefaultMemFb;
    uintptr_t fb_data = 0;
};

struct Header {
    void *base;         // what malloc returned
    size_t charged;     // bytes charged to the allocator's pool
    size_t size;        // bytes the caller asked for
    uintptr_t handle;   // allocator that made the block
};
static_assert(sizeof(Header) % kMinAlign == 0);

bool predefined(uintptr_t h) { return h <= 8 || (h >= 100 && h <= 102); }

Allocator *custom(uintptr_t h, const char *who) {
    if (predefined(h)) return nullptr;
    auto *a = reinterpret_cast<Allocator *>(h);
    if (h % alignof(Allocator) != 0 || a->magic != kMagic)
        fatal("%s: %#lx is not an allocator handle", who,
              static_cast<unsigned long>(h));
    return a;
}

uintptr_t resolve(uintptr_t h) {
    if (h != 0) return h;
    uintptr_t d = self()->icv.def_allocator;
    return d ? d : kDefaultMemAlloc;
}

// Takes `n` bytes from a's pool; false if they do not fit.
bool charge(Allocator *a, size_t n) {
    if (!a || a->pool_size == SIZE_MAX) return true;
    size_t u = a->used.load(std::memory_order_relaxed);
    do {
        if (n > a->pool_size || u > a->pool_size - n) return false;
    } while (!a->used.compare_exchange_weak(u, u + n,
                                            std::memory_order_relaxed));
    return true;
}
void refund(Allocator *a, size_t n) {
    if (a && a->pool_size != SIZE_MAX)
        a->used.fetch_sub(n, std::memory_order_relaxed);
}

// One attempt with allocator `h` (resolved): nullptr if the pool or malloc
// cannot give the block.
void *try_alloc(uintptr_t h, size_t align, size_t size, bool zero,
                const char *who) {
    Allocator *a = custom(h, who);
    if (a && a->alignment > align) align = a->alignment;
    if (align < kMinAlign) align = kMinAlign;
    size_t total;
    if (__builtin_add_overflow(size, sizeof(Header) + (align - kMinAlign),
                               &total))
        return nullptr;
    if (!charge(a, total)) return nullptr;
    void *base = zero ? calloc(1, total) : malloc(total);
    if (!base) {
        refund(a, total);
        return nullptr;
    }
    uintptr_t p = (reinterpret_cast<uintptr_t>(base) + sizeof(Header) +
                   align - 1) & ~(uintptr_t{align} - 1);
    auto *hd = reinterpret_cast<Header *>(p) - 1;
    *hd = Header{base, total, size, h};
    return reinterpret_cast<void *>(p);
}

// The allocation routines' common path: `size` bytes aligned to `align`
// (a power of two) from `h`, following fallbacks on failure.
void *allocate(uintptr_t h, size_t align, size_t size, bool zero,
               const char *who) {
    if (size == 0) return nullptr;
    if (align == 0 || (align & (align - 1)) != 0)
        fatal("%s: alignment %zu is not a power of two", who, align);
    h = resolve(h);
    for (int hops = 0;; ++hops) {
        if (void *p = try_alloc(h, align, size, zero, who)) return p;
        Allocator *a = custom(h, who);
        uintptr_t fb = a ? a->fallback : kAtvNullFb;
        if (hops > 64) fatal("%s: allocator_fb chain does not end", who);
        switch (fb) {
        case kAtvDefaultMemFb:
            h = kDefaultMemAlloc;
            break;
        case kAtvAllocatorFb:
            h = resolve(a->fb_data);
            break;
        case kAtvAbortFb:
            fatal("%s: out of memory allocating %zu bytes (abort_fb)", who,
                  size);
        default:
            return nullptr;
        }
    }
}

Header *header_of(void *p) { return static_cast<Header *>(p) - 1; }

void release(void *p, const char *who) {
    if (!p) return;
    Header *hd = header_of(p);
    refund(custom(hd->handle, who), hd->charged);
    free(hd->base);
}

// realloc() of the block itself, when that keeps the layout: no extra
// alignment before or after, and the pool, if any, is the block's own
// (then only the size difference is charged, as libgomp does: a block
// may grow to most of its pool). nullptr if not applicable or failed.
void *realloc_in_place(void *p, uintptr_t h, size_t size, const char *who) {
    Header *old = header_of(p);
    Allocator *a = custom(h, who);
    Allocator *oa = custom(old->handle, who);
    if (static_cast<char *>(p) - static_cast<char *>(old->base) !=
        sizeof(Header))
        return nullptr;
    if (a && a->alignment > kMinAlign) return nullptr;
    bool pooled = (a && a->pool_size != SIZE_MAX) ||
                  (oa && oa->pool_size != SIZE_MAX);
    if (pooled && a != oa) return nullptr;
    size_t total;
    if (__builtin_add_overflow(size, sizeof(Header), &total)) return nullptr;
    size_t was = old->charged;
    if (total > was && !charge(a, total - was)) return nullptr;
    void *base = realloc(old->base, total);
    if (!base) {
        if (total > was) refund(a, total - was);
        return nullptr;
    }
    if (total < was) refund(a, was - total);
    auto *hd = static_cast<Header *>(base);
    *hd = Header{base, total, size, h};
    return hd + 1;
}

void *reallocate(void *p, size_t size, uintptr_t h, uintptr_t free_h,
                 const char *who) {
    if (!p) return allocate(h, 1, size, false, who);
    (void)free_h;  // the block's header names its allocator
    if (size == 0) {
        release(p, who);
        return nullptr;
    }
    Header *old = header_of(p);
    if (void *q = realloc_in_place(p, h ? resolve(h) : old->handle, size, who))
        return q;
    void *q = allocate(h ? h : old->handle, 1, size, false, who);
    if (!q) return nullptr;  // the old block stays valid
    memcpy(q, p, size < old->size ? size : old->size);
    release(p, who);
    return q;
}

uintptr_t init_allocator(uintptr_t memspace, int ntraits,
                         const Trait *traits) {
    if (memspace > 4 && !(memspace >= 100 && memspace <= 102)) return 0;
    if (memspace == kMemSpaceHighBw) return 0;
    Allocator a;
    for (int i = 0; i < ntraits; ++i) {
        uintptr_t v = traits[i].value;
        switch (traits[i].key) {
        case kAtkSyncHint:
            if (v != kAtvDefault && (v < kAtvContended || v > kAtvPrivate))
                return 0;
            break;
        case kAtkAlignment:
            if (v == kAtvDefault) break;
            if (v == 0 || (v & (v - 1)) != 0) return 0;
            a.alignment = v > kMinAlign ? v : kMinAlign;
            break;
        case kAtkAccess:
            if (v != kAtvDefault && (v < kAtvAll || v > kAtvCgroup)) return 0;
            break;
        case kAtkPoolSize:
            a.pool_size = v == kAtvDefault ? SIZE_MAX : v;
            break;
        case kAtkFallback:
            if (v == kAtvDefault) v = kAtvDefaultMemFb;
            if (v < kAtvDefaultMemFb || v > kAtvAllocatorFb) return 0;
            a.fallback = v;
            break;
        case kAtkFbData:
            a.fb_data = v;
            break;
        case kAtkPinned:
            if (v == kAtvTrue) return 0;  // no pinned memory offered
            if (v != kAtvDefault && v != kAtvFalse) return 0;
            break;
        case kAtkPartition:
            if (v != kAtvDefault &&
                (v < kAtvEnvironment || v > kAtvInterleaved))
                return 0;
            break;
        default:
            return 0;
        }
    }
    auto *p = new Allocator;
    p->alignment = a.alignment;
    p->pool_size = a.pool_size;
    p->fallback = a.fallback;
    p->fb_data = a.fb_data;
    return reinterpret_cast<uintptr_t>(p);
}

void destroy_allocator(uintptr_t h, const char *who) {
    if (Allocator *a = custom(h, who)) {
        a->magic = 0;  // later uses of the handle are caught
        delete a;
    }
}

}  // namespace

// OMP_ALLOCATOR: a predefined allocator's name (or its number).
uintptr_t parse_allocator(const char *v) {
    static const char *names[] = {
        "omp_null_allocator", "omp_default_mem_alloc",
        "omp_large_cap_mem_alloc", "omp_const_mem_alloc",
        "omp_high_bw_mem_alloc", "omp_low_lat_mem_alloc",
        "omp_cgroup_mem_alloc", "omp_pteam_mem_alloc",
        "omp_thread_mem_alloc"};
    for (uintptr_t i = 1; i < sizeof names / sizeof *names; ++i)
        if (strcmp(v, names[i]) == 0) return i;
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (*end == 0 && n >= 1 && n <= 8) return n;
    fprintf(stderr, "lithe-omp: ignoring invalid OMP_ALLOCATOR=%s\n", v);
    return kDefaultMemAlloc;
}

}  // namespace lomp

using namespace lomp;

OMP_API uintptr_t omp_init_allocator(uintptr_t memspace, int ntraits,
                                     const Trait *traits) {
    return init_allocator(memspace, ntraits, traits);
}
OMP_API void omp_destroy_allocator(uintptr_t h) {
    destroy_allocator(h, "omp_destroy_allocator");
}
OMP_API void omp_set_default_allocator(uintptr_t h) {
    custom(h, "omp_set_default_allocator");
    self()->icv.def_allocator = h;
}
OMP_API uintptr_t omp_get_default_allocator(void) {
    return resolve(0);
}
OMP_API void *omp_alloc(size_t size, uintptr_t h) {
    return allocate(h, 1, size, false, "omp_alloc");
}
OMP_API void *omp_aligned_alloc(size_t align, size_t size, uintptr_t h) {
    return allocate(h, align, size, false, "omp_aligned_alloc");
}
OMP_API void *omp_calloc(size_t n, size_t size, uintptr_t h) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) return nullptr;
    return allocate(h, 1, total, true, "omp_calloc");
}
OMP_API void *omp_aligned_calloc(size_t align, size_t n, size_t size,
                                 uintptr_t h) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) return nullptr;
    return allocate(h, align, total, true, "omp_aligned_calloc");
}
OMP_API void *omp_realloc(void *p, size_t size, uintptr_t h,
                          uintptr_t free_h) {
    return reallocate(p, size, h, free_h, "omp_realloc");
}
OMP_API void omp_free(void *p, uintptr_t) { release(p, "omp_free"); }

// gcc's `allocate` clause and directive: as omp_aligned_alloc, except that
// a null_fb failure aborts (libgomp: "behaves as if abort_fb").
OMP_API void *GOMP_alloc(size_t align, size_t size, uintptr_t h) {
    void *p = allocate(h, align, size, false, "GOMP_alloc");
    if (!p && size)
        fatal("GOMP_alloc: out of memory allocating %zu bytes", size);
    return p;
}
OMP_API void GOMP_free(void *p, uintptr_t) { release(p, "GOMP_free"); }

// libomp's forms take the caller's gtid first.
OMP_API uintptr_t __kmpc_init_allocator(int, uintptr_t memspace, int ntraits,
                                        const Trait *traits) {
    return init_allocator(memspace, ntraits, traits);
}
OMP_API void __kmpc_destroy_allocator(int, uintptr_t h) {
    destroy_allocator(h, "__kmpc_destroy_allocator");
}
OMP_API void __kmpc_set_default_allocator(int, uintptr_t h) {
    omp_set_default_allocator(h);
}
OMP_API uintptr_t __kmpc_get_default_allocator(int) { return resolve(0); }
OMP_API void *__kmpc_alloc(int, size_t size, uintptr_t h) {
    return allocate(h, 1, size, false, "__kmpc_alloc");
}
OMP_API void *__kmpc_aligned_alloc(int, size_t align, size_t size,
                                   uintptr_t h) {
    return allocate(h, align, size, false, "__kmpc_aligned_alloc");
}
OMP_API void *__kmpc_calloc(int, size_t n, size_t size, uintptr_t h) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) return nullptr;
    return allocate(h, 1, total, true, "__kmpc_calloc");
}
OMP_API void *__kmpc_realloc(int, void *p, size_t size, uintptr_t h,
                             uintptr_t free_h) {
    return reallocate(p, size, h, free_h, "__kmpc_realloc");
}
OMP_API void __kmpc_free(int, void *p, uintptr_t) {
    release(p, "__kmpc_free");
}

// libomp's kmp_malloc family: plain C heap blocks (kmp_free and
// kmp_realloc accept any of them, aligned ones included, as glibc's free
// and realloc do).
OMP_API void *kmp_malloc(size_t size) { return malloc(size); }
OMP_API void *kmp_calloc(size_t n, size_t size) { return calloc(n, size); }
OMP_API void *kmp_realloc(void *p, size_t size) { return realloc(p, size); }
OMP_API void kmp_free(void *p) { free(p); }
// An alignment that is not a power of two gives NULL and EINVAL.
OMP_API void *kmp_aligned_malloc(size_t size, size_t align) {
    if (align == 0 || (align & (align - 1)) != 0) {
        errno = EINVAL;
        return nullptr;
    }
    void *p = nullptr;
    if (align < sizeof(void *)) align = sizeof(void *);
    int rc = posix_memalign(&p, align, size ? size : 1);
    if (rc != 0) {
        errno = rc;
        return nullptr;
    }
    return p;
}
OMP_API void *kmpc_malloc(size_t size) { return kmp_malloc(size); }
OMP_API void *kmpc_calloc(size_t n, size_t size) { return kmp_calloc(n, size); }
OMP_API void *kmpc_realloc(void *p, size_t size) { return kmp_realloc(p, size); }
OMP_API void kmpc_free(void *p) { kmp_free(p); }
OMP_API void *kmpc_aligned_malloc(size_t size, size_t align) {
    return kmp_aligned_malloc(size, align);
}
