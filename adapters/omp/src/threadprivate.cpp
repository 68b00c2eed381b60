// threadprivate.cpp: libomp's threadprivate API without native TLS
// (clang -fnoopenmp-use-tls, and threadprivate C++ objects compiled that
// way): __kmpc_threadprivate_register(_vec) records an object's
// constructor / destructor, __kmpc_threadprivate(_cached) returns the
// calling OpenMP thread's copy.
//
// Whose copy: the initial thread (main()'s context) uses
// the original object; every other context (team workers, foreign
// pthreads) gets its own copy, made on its first access: by the
// registered constructor, else by copying the original's bytes as they
// were when the object was first accessed (libomp's pod_init snapshot).
// Copies are found through a map in the calling context's TLS. A team
// worker serves the same member number in every region of its master
// (team.cpp's hot-team pools), so a member's copy persists across regions
// exactly as native TLS threadprivate data does.
//
// Registry (`g_reg`, guarded by `g_lock`, a Spin: short sections, no
// blocking): per original address, its ctor/dtor and snapshot. Every copy
// is also listed in `g_copies` (same lock) and destroyed (registered
// destructor) at process exit, before the originals' static destructors
// (the atexit handler is installed on the first registration or copy,
// after the original was constructed). The compiler's `cache` argument is
// not used: the TLS map is the cache.
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "internal.hpp"

namespace lomp {
namespace {

using Ctor = void *(*)(void *);
using Cctor = void *(*)(void *, void *);
using Dtor = void (*)(void *);
using CtorVec = void *(*)(void *, size_t);
using CctorVec = void *(*)(void *, void *, size_t);
using DtorVec = void (*)(void *, size_t);

struct Shared {
    size_t size = 0;
    bool is_vec = false;
    size_t vec_len = 0;
    Ctor ctor = nullptr;
    Cctor cctor = nullptr;
    Dtor dtor = nullptr;
    CtorVec ctorv = nullptr;
    CctorVec cctorv = nullptr;
    DtorVec dtorv = nullptr;
    std::unique_ptr<char[]> pod;  // the original's bytes at first access
};

struct Copy {
    void *addr;
    Shared *shared;
};

Spin g_lock;
std::unordered_map<void *, Shared *> *g_reg;  // immortal (exit handlers)
std::vector<Copy> *g_copies;
bool g_atexit = false;

thread_local std::unordered_map<void *, void *> *tls_copies;
thread_local void *tls_last_orig, *tls_last_copy;

void destroy_copies() {
    g_lock.lock();
    std::vector<Copy> all;
    all.swap(*g_copies);
    g_lock.unlock();
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
        Shared *s = it->shared;
        if (s->is_vec && s->dtorv)
            s->dtorv(it->addr, s->vec_len);
        else if (!s->is_vec && s->dtor)
            s->dtor(it->addr);
        free(it->addr);
    }
}

// Under g_lock. The record for `data`, made on first sight.
Shared *shared_locked(void *data) {
    if (!g_reg) {
        g_reg = new std::unordered_map<void *, Shared *>;
        g_copies = new std::vector<Copy>;
    }
    if (!g_atexit) {
        g_atexit = true;
        atexit(destroy_copies);
    }
    Shared *&s = (*g_reg)[data];
    if (!s) s = new Shared;
    return s;
}

// Set in main()'s TLS when this library is initialised (after liblithe,
// a dependency, made main() a lithe context). A TLS flag, not a context
// pointer: a master entering a region scheduler is promoted to a new
// lithe_context_t but keeps its uthread and TLS.
thread_local bool tls_initial;
__attribute__((constructor)) void mark_initial_thread() { tls_initial = true; }

void *lookup(void *data, size_t size) {
    if (tls_last_orig == data) return tls_last_copy;
    if (!tls_copies) tls_copies = new std::unordered_map<void *, void *>;
    void *&mine = (*tls_copies)[data];
    if (!mine) {
        g_lock.lock();
        Shared *s = shared_locked(data);
        // First access by anyone: snapshot the original for copies made
        // without a constructor (libomp's pod_init).
        if (s->size == 0) {
            s->size = size;
            s->pod.reset(new char[size]);
            memcpy(s->pod.get(), data, size);
        }
        g_lock.unlock();
        if (tls_initial) {
            mine = data;
        } else {
            if (size > s->size)
                fatal("__kmpc_threadprivate: %p accessed with size %zu, "
                      "first with %zu",
                      data, size, s->size);
            void *p = calloc(1, s->size);
            if (!p) fatal("__kmpc_threadprivate: out of memory");
            if (s->is_vec) {
                if (s->ctorv)
                    s->ctorv(p, s->vec_len);
                else if (s->cctorv)
                    s->cctorv(p, data, s->vec_len);
                else
                    memcpy(p, s->pod.get(), s->size);
            } else {
                if (s->ctor)
                    s->ctor(p);
                else if (s->cctor)
                    s->cctor(p, data);
                else
                    memcpy(p, s->pod.get(), s->size);
            }
            g_lock.lock();
            g_copies->push_back(Copy{p, s});
            g_lock.unlock();
            mine = p;
        }
    }
    tls_last_orig = data;
    tls_last_copy = mine;
    return mine;
}

void do_register(void *data, Shared init) {
    g_lock.lock();
    Shared *s = shared_locked(data);
    s->is_vec = init.is_vec;
    s->vec_len = init.vec_len;
    s->ctor = init.ctor;
    s->cctor = init.cctor;
    s->dtor = init.dtor;
    s->ctorv = init.ctorv;
    s->cctorv = init.cctorv;
    s->dtorv = init.dtorv;
    g_lock.unlock();
}

}  // namespace
}  // namespace lomp

using namespace lomp;

OMP_API void __kmpc_threadprivate_register(void *, void *data, Ctor ctor,
                                           Cctor cctor, Dtor dtor) {
    Shared s;
    s.ctor = ctor;
    s.cctor = cctor;
    s.dtor = dtor;
    do_register(data, std::move(s));
}

OMP_API void __kmpc_threadprivate_register_vec(void *, void *data,
                                               CtorVec ctor, CctorVec cctor,
                                               DtorVec dtor, size_t len) {
    Shared s;
    s.is_vec = true;
    s.vec_len = len;
    s.ctorv = ctor;
    s.cctorv = cctor;
    s.dtorv = dtor;
    do_register(data, std::move(s));
}

OMP_API void *__kmpc_threadprivate(void *, int, void *data, size_t size) {
    return lookup(data, size);
}

OMP_API void *__kmpc_threadprivate_cached(void *, int, void *data,
                                          size_t size, void ***) {
    return lookup(data, size);
}
