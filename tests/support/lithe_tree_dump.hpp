// lithe_tree_dump.hpp: prints, for a watchdog that found a test hung, where
// each hart is in lithe's scheduler tree: the scheduler current on it and
// that scheduler's ancestors up to the base, each with its accounting
// (lithe_sched_stats). Runs on a plain kernel thread while the harts may be
// stuck: it only reads racy snapshots (lithe_hart_owner, lithe_sched_stats,
// the `parent` field of entered schedulers), takes no lock and never
// blocks. A scheduler that exits meanwhile may be read after its exit
// (schedulers of this repository are never freed while the process lives:
// fork-join's and the adapters' are kept on free lists), so the dump is a
// diagnosis aid, not an assertion.
//
// The lithe calls are weak references: programs built by custom commands
// (tests/compose) link liblithe only in their lithe build; elsewhere the
// dump says lithe is not loaded.
#pragma once

#include <cstdio>

#include <lithe/lithe.h>

extern "C" {
int lithe_num_harts(void) __attribute__((weak));
lithe_sched_t *lithe_hart_owner(int) __attribute__((weak));
lithe_sched_t *lithe_sched_base(void) __attribute__((weak));
int lithe_sched_stats(lithe_sched_t *, struct lithe_sched_stats *) __attribute__((weak));
}

namespace testwd {

inline void dump_lithe_tree(FILE *out = stderr) {
    if (!lithe_num_harts || !lithe_hart_owner || !lithe_sched_stats) {
        std::fprintf(out, "lithe tree: lithe is not loaded\n");
        return;
    }
    lithe_sched_t *base = lithe_sched_base();
    std::fprintf(out, "lithe tree (base %p), per hart: current scheduler, "
                      "then its ancestors\n", static_cast<void *>(base));
    for (int h = 0; h < lithe_num_harts(); ++h) {
        std::fprintf(out, "  hart %d:", h);
        lithe_sched_t *s = lithe_hart_owner(h);
        if (!s) std::fprintf(out, " with the system (no scheduler)");
        for (int depth = 0; s && depth < 16; ++depth) {
            struct lithe_sched_stats st{};
            lithe_sched_stats(s, &st);
            std::fprintf(out,
                         "%s %p%s{harts %d, subtree %d, requested %lld, "
                         "contexts %llu, children %d, grants in %llu, "
                         "yields %llu}",
                         depth ? " <-" : "", static_cast<void *>(s),
                         s == base ? " (base) " : " ", st.harts,
                         st.subtree_harts, static_cast<long long>(st.requested),
                         static_cast<unsigned long long>(st.contexts),
                         st.children,
                         static_cast<unsigned long long>(st.grants_received),
                         static_cast<unsigned long long>(st.yields));
            s = s == base ? nullptr : __atomic_load_n(&s->parent, __ATOMIC_RELAXED);
        }
        std::fprintf(out, "\n");
    }
}

}  // namespace testwd
