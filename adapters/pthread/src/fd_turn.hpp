// fd_turn.hpp: one lock word per fd number, so that contexts making a
// poll-then-call wait on the same fd (accept: io.cpp) take turns.
//
// Why: parlib wakes every context waiting on an fd when it becomes ready;
// with accept, which has no non-blocking form per call, each woken context
// would poll ("ready"), then call the plain accept, and all but the one
// that got the connection would block their harts in the kernel until the
// next one: N acceptors on one listener would soon hold every hart. With
// turns, one context at a time polls, waits and calls; the others wait for
// the turn (their contexts block, no hart is held). Kernel threads and
// other processes accepting on the same socket do not take turns (their
// race is documented, docs/pthread.md).
//
// The words live in a two-level table: chunks allocated on first use and
// never freed (a waiter may still be queued on a word while the fd is
// closed and reused: harmless, the next holder just waits its turn). Any
// context; lock-free table.
#pragma once

#include <cstdint>

#include "wait.hpp"

namespace lithe_pthread {

// The fd's turn word; nullptr for fds past the table (< 4 Mi) or when
// memory is short (no turns are taken then).
uint32_t *fd_turn(int fd);

// Holds an fd's turn for its lifetime, once take() succeeded.
class FdTurn {
  public:
    explicit FdTurn(int fd) : word_(fd_turn(fd)) {}
    ~FdTurn() {
        if (held_) unlock_word(word_);
    }
    FdTurn(const FdTurn &) = delete;
    FdTurn &operator=(const FdTurn &) = delete;
    // Waits for the turn until `d`; false if it passed.
    bool take(const Deadline &d) {
        if (!word_) return true;
        held_ = try_lock_word(word_) || lock_word_contended(word_, d) == 0;
        return held_;
    }

  private:
    uint32_t *word_;
    bool held_ = false;
};

}  // namespace lithe_pthread
