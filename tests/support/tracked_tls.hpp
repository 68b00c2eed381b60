// tracked_tls.hpp: a thread_local whose destructor tallies itself, for
// tests that check that each full-TLS uthread's thread_local destructors
// run once, with its TLS (on its backing thread, after its release).
#pragma once

#include <atomic>

namespace tracked_tls {

// Destructors run of Tracked objects with an id set, and the sum of their ids.
inline std::atomic<long> g_dtor_count{0}, g_dtor_sum{0};

struct Tracked {
    long id = -1;  // -1: never set by the thread, not tallied
    ~Tracked() {
        if (id >= 0) {
            g_dtor_count.fetch_add(1);
            g_dtor_sum.fetch_add(id);
        }
    }
};

inline thread_local Tracked tl_tracked;

}  // namespace tracked_tls
