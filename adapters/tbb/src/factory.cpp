// factory.cpp: the four C symbols through which oneTBB finds an RML server
// (__RML_open_factory, __TBB_make_rml_server, __RML_close_factory,
// __TBB_call_with_my_server_info), and the TBB version check.
//
// TBB resolves these at its first scheduler initialisation, as weak
// undefined symbols of libtbb (so this library must be loaded by then:
// linked with --no-as-needed, or LD_PRELOADed). TBB calls make_server and
// close_factory one at a time (under its market mutex / at its teardown).
//
// Version check: the interface has no usable handshake (TBB ignores the
// version we return), so we read TBB_runtime_interface_version() from the
// libtbb that calls us and refuse any major version but 12 (oneTBB 2021.x,
// whose rml::tbb_server layout rml_abi.hpp reproduces). Refusing makes
// open_factory fail, and TBB then silently uses its private thread pool;
// we print why. LITHE_TBB_INTERFACE_VERSION=<n> pretends TBB reported n
// (to test the refusal).
#include "rml_abi.hpp"
#include "server.hpp"
#include "stats.hpp"
#include "tbb_scheduler.hpp"
#include "tbb_version.hpp"

#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>

namespace {

using lithe_tbb::counters;
using Status = ::rml::factory::status_type;

constexpr int kMinInterface = 12000;  // oneTBB 2021.1
constexpr int kMaxInterface = 12999;  // last of the 2021.x series

int tbb_interface_version() {
    if (const char *v = std::getenv("LITHE_TBB_INTERFACE_VERSION"))
        return std::atoi(v);
    auto fn = reinterpret_cast<int (*)()>(
        dlsym(RTLD_DEFAULT, "TBB_runtime_interface_version"));
    return fn ? fn() : 0;
}

}  // namespace

bool lithe_tbb::tbb_compatible() {
    static const int version = tbb_interface_version();
    if (version >= kMinInterface && version <= kMaxInterface) return true;
    if (counters.refused.exchange(version ? version : -1) == 0)
        std::fprintf(stderr,
                     "lithe_tbb: TBB runtime interface version %d is not "
                     "supported (need %d..%d, oneTBB 2021.x); TBB will use "
                     "its private thread pool, not lithe\n",
                     version, kMinInterface, kMaxInterface);
    return false;
}

extern "C" {

__attribute__((visibility("default"))) Status
__RML_open_factory(::rml::factory &f, ::rml::versioned_object::version_type &server_version,
                   ::rml::versioned_object::version_type /*client_version*/) {
    server_version = 2;
    // We are linked or preloaded: TBB must never dlclose us.
    f.library_handle = reinterpret_cast<void *>(::rml::factory::c_dont_unload);
    return lithe_tbb::tbb_compatible() ? ::rml::factory::st_success
                        : ::rml::factory::st_incompatible;
}

__attribute__((visibility("default"))) Status
__TBB_make_rml_server(tbb::detail::r1::rml::tbb_factory &, tbb::detail::r1::rml::tbb_server *&server,
                      tbb::detail::r1::rml::tbb_client &client) {
    if (!lithe_tbb::tbb_compatible()) return ::rml::factory::st_incompatible;
    lithe_tbb::TbbScheduler *sched = lithe_tbb::TbbScheduler::instance();
    if (!sched) {
        counters.foreign_start.store(1, std::memory_order_relaxed);
        std::fprintf(stderr,
                     "lithe_tbb: TBB started on a thread that is not a lithe "
                     "context; TBB will use its private thread pool\n");
        return ::rml::factory::st_incompatible;
    }
    server = lithe_tbb::Server::create(client, *sched);
    counters.servers.fetch_add(1, std::memory_order_relaxed);
    return ::rml::factory::st_success;
}

// TBB's "wait to close", called when libtbb releases its resources (often
// from its static destructor, inside exit() with the loader's lock held:
// it must not block). Nothing is left to wait for then: TBB releases its
// resources only after the last market is destroyed, which happens in
// acknowledge_close_connection, after every worker's cleanup(job).
__attribute__((visibility("default"))) Status
__RML_close_factory(::rml::factory &) {
    return ::rml::factory::st_success;
}

__attribute__((visibility("default"))) void
__TBB_call_with_my_server_info(void (*cb)(void *, const char *), void *arg) {
    cb(arg, "lithe_tbb: oneTBB workers run as lithe contexts");
}

}  // extern "C"
