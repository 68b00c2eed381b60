// lithe/fork_join.hpp: C++ helpers over the fork-join scheduler (header
// only): lithe::parallel_invoke(f1, f2, ...) and
// lithe::parallel_for(begin, end, grain, body).
//
// A call that forks creates a fork-join scheduler, enters it (SchedGuard) as
// a child of the caller's current scheduler, runs all pieces but one as
// contexts of it and the last one in the calling context (now the
// scheduler's main context), joins them all, exits and destroys the
// scheduler. A piece may call the helpers again (or enter any other lithe
// scheduler): each nested call becomes a child of the scheduler running
// that piece, so nesting composes to any depth. Nothing forks (the pieces
// run in the caller, no scheduler) for a single callable, or for a
// parallel_for with one chunk or on one hart.
//
// Exceptions: an exception escaping a piece is captured; after every piece
// has finished, the first one captured (in time) is rethrown in the caller
// and the others are dropped. parallel_invoke runs every piece regardless;
// parallel_for hands out no new chunk once an exception has been captured
// (chunks already running finish).
//
// Where they may be called: from any lithe context. On a thread that is not
// a lithe context (a foreign pthread) they cannot enter a scheduler: they
// run the pieces serially in the caller, with the same exception
// semantics. From hart context (a callback) they are fatal: a callback must
// never block, and joining blocks.
//
// Pieces are called by reference from several contexts: parallel_for's body
// runs concurrently and must be safe to call so. Pieces run with their own
// TLS (recycled fork-join contexts keep theirs), not the caller's.
#pragma once

#include <lithe/fork_join.h>
#include <lithe/lithe.hpp>
#include <parlib/vcore.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <concepts>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <type_traits>
#include <vector>

namespace lithe {
namespace detail {

// The first exception captured wins; later ones are dropped. capture() is
// called from any context; rethrow() by the caller after the join, which
// orders it after every capture.
class FirstException {
  public:
    // Inside a catch block.
    void capture() noexcept {
        if (!taken_.exchange(true, std::memory_order_acq_rel))
            ep_ = std::current_exception();
    }
    bool any() const noexcept { return taken_.load(std::memory_order_acquire); }
    void rethrow() const {
        if (ep_) std::rethrow_exception(ep_);
    }

  private:
    std::atomic<bool> taken_{false};
    std::exception_ptr ep_;
};

// A type-erased piece of work: call(fn) with exceptions captured into *ex.
struct Piece {
    void (*call)(void *fn);
    void *fn;
    FirstException *ex;
};

inline void run_piece(void *p) noexcept {
    auto *pc = static_cast<Piece *>(p);
    try {
        pc->call(pc->fn);
    } catch (...) {
        pc->ex->capture();
    }
}

template <class F>
void call_as(void *f) {
    std::invoke(*static_cast<std::remove_reference_t<F> *>(f));
}

template <class T>
void *erase(T &x) noexcept {
    return const_cast<void *>(static_cast<const volatile void *>(
        std::addressof(x)));
}

// Owns a fork-join scheduler for one call.
class FjOwner {
  public:
    FjOwner() : s_(lithe_fj_sched_create()) {
        if (!s_) throw Error(LITHE_ENOMEM, "lithe_fj_sched_create");
    }
    FjOwner(const FjOwner &) = delete;
    FjOwner &operator=(const FjOwner &) = delete;
    ~FjOwner() { lithe_fj_sched_destroy(s_); }
    lithe_fj_sched_t *get() const noexcept { return s_; }

  private:
    lithe_fj_sched_t *s_;
};

// Runs pieces[0..n): forks all but the last into a fork-join scheduler
// entered for the duration, runs the last here, joins. Serial when n == 1
// or when the caller is not a lithe context; fatal (with `hart_msg`) in
// hart context. Never throws from a piece (they capture); throws
// lithe::Error if the scheduler cannot be made or entered.
inline void run_pieces(Piece *pieces, size_t n, const char *hart_msg) {
    if (in_vcore_context()) fatal(hart_msg);
    if (n == 1 || !lithe_context_self()) {
        for (size_t i = 0; i < n; ++i) run_piece(&pieces[i]);
        return;
    }
    FjOwner fj;
    SchedGuard guard(&fj.get()->sched);
    for (size_t i = 0; i + 1 < n; ++i)
        if (!lithe_fj_context_create(fj.get(), 0, run_piece, &pieces[i]))
            run_piece(&pieces[i]);  // no memory for a context: run it here
    run_piece(&pieces[n - 1]);
    lithe_fj_sched_join_all(fj.get());
}

// parallel_for's shared loop state: chunks are claimed from an atomic
// cursor by every worker (the caller and the forked contexts).
template <class I, class Body>
struct ForLoop {
    using U = std::make_unsigned_t<I>;

    ForLoop(I b, I e, U g, U n, Body &f)
        : begin(b), end(e), grain(g), chunks(n), body(f) {}

    const I begin, end;
    const U grain, chunks;
    Body &body;
    FirstException ex;
    std::atomic<U> next{0};

    void run_chunk(U k) {
        I lo = static_cast<I>(static_cast<U>(begin) + k * grain);
        I hi = k + 1 == chunks ? end : static_cast<I>(static_cast<U>(lo) + grain);
        if constexpr (std::is_invocable_v<Body &, I, I>) {
            body(lo, hi);
        } else {
            for (I i = lo; i != hi; ++i) body(i);
        }
    }
    static void work(void *p) {
        auto *loop = static_cast<ForLoop *>(p);
        while (!loop->ex.any()) {
            U k = loop->next.fetch_add(1, std::memory_order_relaxed);
            if (k >= loop->chunks) return;
            loop->run_chunk(k);
        }
    }
};

}  // namespace detail

// Runs every callable once, in parallel, and returns when all have
// finished; rethrows the first exception captured.
template <class... F>
    requires(std::invocable<F &> && ...)
void parallel_invoke(F &&...fs) {
    if constexpr (sizeof...(F) > 0) {
        detail::FirstException ex;
        std::array<detail::Piece, sizeof...(F)> pieces{
            detail::Piece{&detail::call_as<F>, detail::erase(fs), &ex}...};
        detail::run_pieces(pieces.data(), pieces.size(),
                           "lithe::parallel_invoke called in hart context "
                           "(callbacks must not block)");
        ex.rethrow();
    }
}

// Calls body over [begin, end) in chunks of `grain` indices (grain <= 0:
// about four chunks per hart), as body(lo, hi) for each chunk if body
// accepts two indices, else as body(i) for each index. begin and end are
// converted to their common type. Up to lithe_num_harts() workers (the
// caller and forked contexts) claim chunks dynamically. Returns when every
// claimed chunk has finished; rethrows the first exception captured.
template <std::integral B, std::integral E, class Body>
void parallel_for(B begin, E end, std::common_type_t<B, E> grain,
                  Body &&body) {
    using I = std::common_type_t<B, E>;
    using U = std::make_unsigned_t<I>;
    static_assert(std::is_invocable_v<Body &, I, I> ||
                      std::is_invocable_v<Body &, I>,
                  "lithe::parallel_for: body must take (lo, hi) or (i)");
    I b = static_cast<I>(begin), e = static_cast<I>(end);
    if (!(b < e)) return;
    U n = static_cast<U>(e) - static_cast<U>(b);
    U harts = static_cast<U>(std::max(1, lithe_num_harts()));
    U g = grain > 0 ? static_cast<U>(grain) : std::max<U>(1, n / (4 * harts));
    U chunks = n / g + (n % g != 0);
    detail::ForLoop<I, std::remove_reference_t<Body>> loop(b, e, g, chunks,
                                                           body);
    size_t workers = static_cast<size_t>(std::min(chunks, harts));
    std::vector<detail::Piece> pieces(
        workers, detail::Piece{&decltype(loop)::work, &loop, &loop.ex});
    detail::run_pieces(pieces.data(), pieces.size(),
                       "lithe::parallel_for called in hart context "
                       "(callbacks must not block)");
    loop.ex.rethrow();
}

}  // namespace lithe
