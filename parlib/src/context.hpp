// context.hpp: C++ view of the assembly primitives in arch/switch_x86_64.S.
//
// A saved context is just a stack pointer (the registers are on its stack)
// plus the FS base it runs with. Nothing here knows about vcores or uthreads.
#pragma once

#include <cstdint>

extern "C" {
// Set once at start-up (HWCAP2_FSGSBASE); read by the assembly.
extern __attribute__((visibility("hidden"))) bool parlib_have_fsgsbase;

__attribute__((visibility("hidden"), noreturn)) void parlib_ctx_call_on(
    void *stack_top, uint64_t fs, void (*fn)(void *), void *arg);
// Returns 0 when the saved context is resumed (see switch_x86_64.S).
__attribute__((visibility("hidden"))) int parlib_ctx_save_and_call(
    void **save_sp, void *stack_top, uint64_t fs, void (*fn)(void *),
    void *arg);
__attribute__((visibility("hidden"), noreturn)) void parlib_ctx_resume(
    void *sp, uint64_t fs);
__attribute__((visibility("hidden"), noreturn)) void parlib_ctx_resume_from(
    void *sp, uint64_t cur_ctl, uint64_t fs);
__attribute__((visibility("hidden"))) void parlib_ctx_trampoline();
}

namespace parlib {

// Builds, below `stack_top`, a frame that parlib_ctx_resume turns into a call
// of entry(arg) with a SysV-aligned stack. Returns the saved stack pointer.
inline void *ctx_make_frame(void *stack_top, void (*entry)(void *),
                            void *arg) {
    auto top = reinterpret_cast<uintptr_t>(stack_top) & ~uintptr_t{15};
    auto *f = reinterpret_cast<uint64_t *>(top) - 8;  // 64-byte frame
    f[0] = 0x1F80 | (uint64_t{0x037F} << 32);         // default MXCSR, x87 CW
    f[1] = 0;                                          // r15
    f[2] = 0;                                          // r14
    f[3] = reinterpret_cast<uint64_t>(arg);            // r13
    f[4] = reinterpret_cast<uint64_t>(entry);          // r12
    f[5] = 0;                                          // rbx
    f[6] = 0;                                          // rbp
    f[7] = reinterpret_cast<uint64_t>(&parlib_ctx_trampoline);
    return f;
}

// The MXCSR / x87 CW slot of a saved context (the word at its sp), in the
// layout parlib_ctx_resume_from compares. Read as the two stores that wrote
// it (stmxcsr: 4 bytes, fnstcw: 2): the hand-off reads it right after the
// save, and one 8-byte load spanning two narrower pending stores cannot be
// store-forwarded - it waits until both reach the cache (that stall, twice
// per round trip, was most of why a lightweight hand-off was slower than
// two switches through vcore context; docs/perf.md).
inline uint64_t ctx_saved_ctl(const void *sp) {
    const auto *p = static_cast<const unsigned char *>(sp);
    uint32_t mxcsr;
    uint16_t cw;
    __builtin_memcpy(&mxcsr, p, 4);
    __builtin_memcpy(&cw, p + 4, 2);
    return mxcsr | (uint64_t{cw} << 32);
}

// In the function parlib_ctx_save_and_call called, before the saved
// context (sp) can be resumed (published): completes its control-word slot
// and returns it as ctx_saved_ctl reads it. When the switch wrote the FS
// base (`fs_written`: its fs argument was nonzero) the slot is still empty
// and is filled here with the MXCSR / x87 CW in effect, which are still the
// saved code's; otherwise the save filled it. Inline assembly: no sanitizer
// instrumentation of the stores.
inline uint64_t ctx_ctl_after_save(void *sp, bool fs_written) {
    if (fs_written)
        asm volatile("stmxcsr (%0)\n\tfnstcw 4(%0)" : : "r"(sp) : "memory");
    return ctx_saved_ctl(sp);
}

inline uint64_t read_fsbase() {
    uint64_t v;
    asm volatile("mov %%fs:0, %0" : "=r"(v));  // x86-64 TCB self-pointer
    return v;
}

inline void *stack_pointer() {
    void *sp;
    asm volatile("mov %%rsp, %0" : "=r"(sp));
    return sp;
}

inline void cpu_relax() { __builtin_ia32_pause(); }

}  // namespace parlib
