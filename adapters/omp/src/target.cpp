// target.cpp: target constructs and the device memory routines on a
// machine without offload devices (omp_get_num_devices() == 0; the host,
// the initial device, is device number 0 = omp_get_initial_device()).
//
// gcc: GOMP_target_ext runs the region on the host as libgomp's host
// fallback does: firstprivate map entries (GOMP_MAP_FIRSTPRIVATE) are
// copied into a private, suitably aligned block before the body runs; the
// body runs as a new initial thread (run_as_initial_thread, icv.cpp: level
// 0, a one-member team, the initial ICVs, with thread-limit-var from the
// `args` THREAD_LIMIT entry); `nowait` makes it a deferred task and
// `depend` gives the task (deferred or not) its dependences, both through
// GOMP_task, so they follow the tasking rules of task.cpp. Data
// constructs (target data / enter data / exit data / update) move nothing:
// host and "device" memory are the same; with `depend` they still wait
// for (or, with nowait, become a task ordered by) their dependences.
// clang-14 without -fopenmp-targets emits no __tgt_* (libomptarget) call:
// it calls the outlined target region directly on the host, and `target
// nowait` allocates the region's task with __kmpc_omp_target_task_alloc,
// which libomp (and this file) treat as __kmpc_omp_task_alloc.
// OMP_TARGET_OFFLOAD=mandatory makes a target construct stop with a
// message when it names a device other than the host (libgomp's rule:
// the initial device, the default device when that is the host, and
// if(false)'s host-fallback id are allowed).
#include <errno.h>
#include <strings.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "internal.hpp"

extern "C" void GOMP_task(void (*fn)(void *), void *data,
                          void (*cpyfn)(void *, void *), long arg_size,
                          long arg_align, bool if_clause, unsigned flags,
                          void **depend, int priority, void *detach);
extern "C" int omp_get_default_device(void);
extern "C" void *__kmpc_omp_task_alloc(void *loc, int gtid, int flags,
                                       size_t task_size, size_t shareds_size,
                                       int (*routine)(int, void *));

namespace lomp {
namespace {

// gomp-constants.h
constexpr unsigned kMapFirstprivate = 12;  // GOMP_MAP_FIRSTPRIVATE
constexpr unsigned kTargetNowait = 1;      // GOMP_TARGET_FLAG_NOWAIT
constexpr unsigned kTaskDepend = 8;        // GOMP_task's depend flag
constexpr intptr_t kArgDeviceMask = (1 << 7) - 1;
constexpr intptr_t kArgSubsequent = 1 << 7;
constexpr intptr_t kArgIdMask = ((1 << 8) - 1) << 8;
constexpr intptr_t kArgThreadLimit = 2 << 8;
constexpr int kArgValueShift = 16;
enum Offload { kOffloadDisabled, kOffloadDefault, kOffloadMandatory };

int parse_offload(const char *v) {
    if (v && strcasecmp(v, "mandatory") == 0) return kOffloadMandatory;
    if (v && strcasecmp(v, "disabled") == 0) return kOffloadDisabled;
    return kOffloadDefault;  // unset or not a valid value, as libomp
}
// target-offload-var: OMP_TARGET_OFFLOAD, or kmp_set_defaults later.
std::atomic<int> &offload_var() {
    static std::atomic<int> v{parse_offload(getenv("OMP_TARGET_OFFLOAD"))};
    return v;
}
int offload_policy() { return offload_var().load(std::memory_order_relaxed); }

constexpr int kDeviceIcv = -1;           // GOMP_DEVICE_ICV: default device
constexpr int kDeviceHostFallback = -2;  // GOMP_DEVICE_HOST_FALLBACK

void check_offload(const char *who, int device) {
    if (device == kDeviceIcv) device = omp_get_default_device();
    if (offload_policy() == kOffloadMandatory && device != 0 &&
        device != kDeviceHostFallback)
        fatal("%s: OMP_TARGET_OFFLOAD=mandatory, but device %d does not "
              "exist (the host is the only device)", who, device);
}

bool host_device(int d) { return d == 0; }

// The thread_limit a GOMP_target_ext `args` vector asks for (0: none).
int args_thread_limit(void **args) {
    if (!args) return 0;
    while (*args) {
        intptr_t id = reinterpret_cast<intptr_t>(*args++), val;
        if (id & kArgSubsequent)
            val = reinterpret_cast<intptr_t>(*args++);
        else
            val = id >> kArgValueShift;
        if ((id & kArgDeviceMask) != 0) continue;  // not for all devices
        if ((id & kArgIdMask) != kArgThreadLimit) continue;
        return val > INT_MAX ? INT_MAX : static_cast<int>(val);
    }
    return 0;
}

// A target region packed into one block: the header, then per map entry
// either its host address or (firstprivate) the offset of its private
// copy within the block, then the copies. Offsets rather than pointers, so
// that GOMP_task may copy the block (nowait) without fixing it up.
struct Region {
    void (*fn)(void *);
    size_t mapnum;
    int thread_limit;
    size_t align;  // of the block
};
struct Entry {
    void *addr;
    intptr_t off;  // >= 0: firstprivate copy at block + off
};

size_t round_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }

// Lays the region out: returns the block's size; fills the block if `b`.
size_t pack(Region r, void **hostaddrs, const size_t *sizes,
            const unsigned short *kinds, char *b) {
    size_t off = round_up(sizeof(Region) + r.mapnum * sizeof(Entry),
                          alignof(std::max_align_t));
    auto *e = b ? reinterpret_cast<Entry *>(b + sizeof(Region)) : nullptr;
    for (size_t i = 0; i < r.mapnum; ++i) {
        bool fp = (kinds[i] & 0xff) == kMapFirstprivate && hostaddrs[i];
        if (!fp) {
            if (e) e[i] = Entry{hostaddrs[i], -1};
            continue;
        }
        off = round_up(off, size_t{1} << (kinds[i] >> 8));
        if (e) {
            e[i] = Entry{nullptr, static_cast<intptr_t>(off)};
            memcpy(b + off, hostaddrs[i], sizes[i]);
        }
        off += sizes[i];
    }
    if (b) memcpy(b, &r, sizeof r);
    return off;
}

size_t block_align(size_t mapnum, const unsigned short *kinds) {
    size_t a = alignof(std::max_align_t);
    for (size_t i = 0; i < mapnum; ++i)
        if ((kinds[i] & 0xff) == kMapFirstprivate)
            a = std::max(a, size_t{1} << (kinds[i] >> 8));
    return a;
}

void run_region(void *block) {
    char *b = static_cast<char *>(block);
    Region r;
    memcpy(&r, b, sizeof r);
    auto *e = reinterpret_cast<Entry *>(b + sizeof(Region));
    std::vector<void *> addrs(r.mapnum);
    for (size_t i = 0; i < r.mapnum; ++i)
        addrs[i] = e[i].off >= 0 ? b + e[i].off : e[i].addr;
    run_as_initial_thread(r.fn, addrs.data(), r.thread_limit);
}

void noop(void *) {}

// A data construct with `depend` (and maybe nowait): an empty task with
// those dependences, deferred only with nowait.
void data_task(unsigned flags, void **depend) {
    if (!depend) return;
    GOMP_task(noop, nullptr, nullptr, 0, 1, (flags & kTargetNowait) != 0,
              kTaskDepend, depend, 0, nullptr);
}

// n-dimensional sub-array copy of omp_target_memcpy_rect; false on
// overflow.
bool copy_rect(char *dst, const char *src, size_t esz, int dims,
               const size_t *vol, const size_t *doff, const size_t *soff,
               const size_t *ddim, const size_t *sdim) {
    if (dims == 1) {
        size_t n, d, s;
        if (__builtin_mul_overflow(esz, vol[0], &n) ||
            __builtin_mul_overflow(esz, doff[0], &d) ||
            __builtin_mul_overflow(esz, soff[0], &s))
            return false;
        memcpy(dst + d, src + s, n);
        return true;
    }
    size_t dslice = esz, sslice = esz;
    for (int i = 1; i < dims; ++i)
        if (__builtin_mul_overflow(dslice, ddim[i], &dslice) ||
            __builtin_mul_overflow(sslice, sdim[i], &sslice))
            return false;
    for (size_t j = 0; j < vol[0]; ++j) {
        size_t d, s;
        if (__builtin_mul_overflow(dslice, doff[0] + j, &d) ||
            __builtin_mul_overflow(sslice, soff[0] + j, &s))
            return false;
        if (!copy_rect(dst + d, src + s, esz, dims - 1, vol + 1, doff + 1,
                       soff + 1, ddim + 1, sdim + 1))
            return false;
    }
    return true;
}

}  // namespace

void set_target_offload(const char *v) {
    offload_var().store(parse_offload(v), std::memory_order_relaxed);
}

}  // namespace lomp

using namespace lomp;

OMP_API void GOMP_target_ext(int device, void (*fn)(void *), size_t mapnum,
                             void **hostaddrs, size_t *sizes,
                             unsigned short *kinds, unsigned flags,
                             void **depend, void **args) {
    check_offload("GOMP_target_ext", device);
    Region r{fn, mapnum, args_thread_limit(args),
             block_align(mapnum, kinds)};
    size_t size = pack(r, hostaddrs, sizes, kinds, nullptr);
    if ((flags & kTargetNowait) || depend) {
        // GOMP_task copies the block (aligned to r.align) when it defers.
        std::vector<char> tmp(size + r.align);
        char *b = reinterpret_cast<char *>(
            round_up(reinterpret_cast<uintptr_t>(tmp.data()), r.align));
        pack(r, hostaddrs, sizes, kinds, b);
        GOMP_task(run_region, b, nullptr, static_cast<long>(size),
                  static_cast<long>(r.align), (flags & kTargetNowait) != 0,
                  depend ? kTaskDepend : 0, depend, 0, nullptr);
        return;
    }
    void *b = ::operator new(size, std::align_val_t{r.align});
    pack(r, hostaddrs, sizes, kinds, static_cast<char *>(b));
    run_region(b);
    ::operator delete(b, std::align_val_t{r.align});
}

// GOMP 4.0 forms (no firstprivate map kinds, no depend).
OMP_API void GOMP_target(int device, void (*fn)(void *), const void *,
                         size_t, void **hostaddrs, size_t *,
                         unsigned char *) {
    check_offload("GOMP_target", device);
    run_as_initial_thread(fn, hostaddrs, 0);
}
OMP_API void GOMP_target_data(int device, const void *, size_t, void **, size_t *,
                              unsigned char *) {
    check_offload("GOMP_target_data", device);
}
OMP_API void GOMP_target_update(int device, const void *, size_t, void **,
                                size_t *, unsigned char *) {
    check_offload("GOMP_target_update", device);
}

OMP_API void GOMP_target_data_ext(int device, size_t, void **, size_t *,
                                  unsigned short *) {
    check_offload("GOMP_target_data_ext", device);
}
OMP_API void GOMP_target_end_data(void) {}
OMP_API void GOMP_target_update_ext(int device, size_t, void **, size_t *,
                                    unsigned short *, unsigned flags,
                                    void **depend) {
    check_offload("GOMP_target_update_ext", device);
    data_task(flags, depend);
}
OMP_API void GOMP_target_enter_exit_data(int device, size_t, void **, size_t *,
                                         unsigned short *, unsigned flags,
                                         void **depend) {
    check_offload("GOMP_target_enter_exit_data", device);
    data_task(flags, depend);
}

// clang: the task of a `target nowait` region (libomp's device_id is
// only used by libomptarget).
OMP_API void *__kmpc_omp_target_task_alloc(void *loc, int gtid, int flags,
                                           size_t task_size,
                                           size_t shareds_size,
                                           int (*routine)(int, void *),
                                           int64_t) {
    return __kmpc_omp_task_alloc(loc, gtid, flags, task_size, shareds_size,
                                 routine);
}
// libomp: 0 disabled, 1 default, 2 mandatory.
OMP_API int __kmpc_get_target_offload(void) { return offload_policy(); }

// Device memory routines: only the host device (0) exists.
OMP_API void *omp_target_alloc(size_t size, int device) {
    return host_device(device) ? malloc(size) : nullptr;
}
OMP_API void omp_target_free(void *p, int device) {
    if (host_device(device)) free(p);
}
OMP_API int omp_target_is_present(const void *p, int device) {
    return p == nullptr || host_device(device);
}
OMP_API int omp_target_memcpy(void *dst, const void *src, size_t len,
                              size_t dst_off, size_t src_off, int dst_dev,
                              int src_dev) {
    if (!host_device(dst_dev) || !host_device(src_dev)) return EINVAL;
    memmove(static_cast<char *>(dst) + dst_off,
            static_cast<const char *>(src) + src_off, len);
    return 0;
}
// With dst and src both NULL: the number of dimensions supported.
OMP_API int omp_target_memcpy_rect(void *dst, const void *src, size_t esz,
                                   int dims, const size_t *volume,
                                   const size_t *dst_off,
                                   const size_t *src_off,
                                   const size_t *dst_dims,
                                   const size_t *src_dims, int dst_dev,
                                   int src_dev) {
    if (!dst && !src) return INT_MAX;
    if (!dst || !src || dims < 1) return EINVAL;
    if (!host_device(dst_dev) || !host_device(src_dev)) return EINVAL;
    return copy_rect(static_cast<char *>(dst), static_cast<const char *>(src),
                     esz, dims, volume, dst_off, src_off, dst_dims, src_dims)
               ? 0
               : EINVAL;
}
// Associating host memory with the host device is meaningless: EINVAL, as
// libgomp returns for the initial device.
OMP_API int omp_target_associate_ptr(const void *, const void *, size_t,
                                     size_t, int) {
    return EINVAL;
}
OMP_API int omp_target_disassociate_ptr(const void *, int) { return EINVAL; }
