// fd_turn.cpp: see fd_turn.hpp.
#include "fd_turn.hpp"

#include <atomic>
#include <new>

namespace lithe_pthread {
namespace {

constexpr int kChunkBits = 12;
constexpr unsigned kChunkSize = 1u << kChunkBits;
constexpr unsigned kChunks = 1024;  // fds below 4 Mi, as parlib's fd table
std::atomic<uint32_t *> g_chunks[kChunks];

}  // namespace

uint32_t *fd_turn(int fd) {
    unsigned c = static_cast<unsigned>(fd) >> kChunkBits;
    if (c >= kChunks) return nullptr;
    uint32_t *chunk = g_chunks[c].load(std::memory_order_acquire);
    if (!chunk) {
        auto *fresh = new (std::nothrow) uint32_t[kChunkSize]();
        if (!fresh) return nullptr;
        if (g_chunks[c].compare_exchange_strong(chunk, fresh, std::memory_order_acq_rel))
            chunk = fresh;
        else
            delete[] fresh;
    }
    return &chunk[static_cast<unsigned>(fd) & (kChunkSize - 1)];
}

}  // namespace lithe_pthread
