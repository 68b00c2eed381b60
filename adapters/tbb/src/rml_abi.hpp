// rml_abi.hpp: our declarations of oneTBB's "Resource Management Layer"
// server interface (rml_base.h + rml_tbb.h of oneTBB 2021.x), written from
// the layout TBB expects, not copied. Only the vtable order, the class
// nesting and the factory's field order matter: TBB calls through these
// vtables and writes these fields. See docs/tbb.md and
// /work/shared/docs/facts-tbb-rml.md.
//
// Invariants: no data members in the interface classes (TBB's have none),
// declaration order of virtual functions = TBB's, Itanium C++ ABI. The
// static_asserts below pin the factory layout TBB writes into.
#pragma once

#include <cstddef>

namespace rml {

class versioned_object {
  public:
    using version_type = unsigned;
    virtual ~versioned_object() = default;  // two vtable slots (D1, D0)
    virtual version_type version() const = 0;
};

// A job is TBB's per-worker state; opaque to the server.
class job {};

// Implemented by TBB (the "market").
class client : public versioned_object {
  public:
    using size_type = unsigned;
    virtual size_type max_job_count() const = 0;
    virtual std::size_t min_stack_size() const = 0;
    virtual job *create_one_job() = 0;
    virtual void acknowledge_close_connection() = 0;
    virtual void cleanup(job &) = 0;
};

// Implemented by us.
class server : public versioned_object {
  public:
    virtual void request_close_connection(bool exiting = false) = 0;
    virtual void yield() = 0;
    virtual void independent_thread_number_changed(int delta) = 0;
    virtual unsigned default_concurrency() const = 0;
};

class factory {
  public:
    enum status_type {
        st_success = 0,
        st_connection_exists,
        st_not_found,
        st_incompatible
    };
    status_type (*wait_to_close_routine)(factory &);
    // TBB dlclose()s this handle when closing unless it is c_dont_unload.
    void *library_handle;
    static constexpr std::size_t c_dont_unload = 1;
};

}  // namespace rml

// TBB declares these in tbb::detail::r1::rml. We use the same qualified
// names so that run-time type information agrees with TBB's objects (a
// sanitizer's dynamic type check compares the names of TBB's classes and
// of ours when we call TBB's client through these declarations).
namespace tbb::detail::r1::rml {

class tbb_server : public ::rml::server {
  public:
    virtual void adjust_job_count_estimate(int delta) = 0;
};

class tbb_client : public ::rml::client {
  public:
    // Runs TBB work on the calling thread until no arena needs a worker.
    virtual void process(::rml::job &) = 0;
};

struct tbb_factory : ::rml::factory {
    status_type (*make_server_routine)(tbb_factory &, tbb_server *&,
                                       tbb_client &);
    void (*call_with_server_info_routine)(void (*cb)(void *, const char *),
                                          void *arg);
};

static_assert(sizeof(::rml::factory) == 2 * sizeof(void *));
static_assert(sizeof(tbb_factory) == 4 * sizeof(void *));

}  // namespace tbb::detail::r1::rml

namespace lithe_tbb {
namespace rml = ::tbb::detail::r1::rml;
}
