/* switch_x86_64.S: the only assembly in parlib: saving a context, resuming
 * one, and calling a function on a fresh stack (vcore context entry).
 *
 * Saved context = the stack of the saved code. Below the return address we
 * push the six SysV callee-saved registers and one 8-byte slot holding MXCSR
 * (low 4 bytes) and the x87 control word (next 2 bytes); the saved stack
 * pointer points at that slot:
 *
 *     sp+56 return address      sp+24 r13
 *     sp+48 rbp                 sp+16 r14
 *     sp+40 rbx                 sp+8  r15
 *     sp+32 r12                 sp+0  mxcsr (4 bytes), x87 CW (2 bytes)
 *
 * parlib_ctx_make_frame (context.hpp) builds the same layout for a new
 * context, with parlib_ctx_trampoline as the return address.
 *
 * Invariants:
 *  - every function we call is entered with rsp = 8 (mod 16) (SysV);
 *    callers pass 16-byte aligned stack tops;
 *  - MXCSR / x87 CW are reloaded only when their control bits differ
 *    (a reload costs ~40 ns on some CPUs); the comparison is with a fresh
 *    stmxcsr / fnstcw in parlib_ctx_resume and with words the caller knows
 *    to be in effect (a context saved since) in parlib_ctx_resume_from (no
 *    stmxcsr + reload: ~4 ns each on the EPYC VM of docs/perf.md);
 *  - parlib_ctx_save_and_call stores the control words itself only when
 *    it does not write the FS base (fs == 0); otherwise it leaves the slot
 *    to `fn`, which fills it (ctx_ctl_after_save, context.hpp) before
 *    anything can resume the context: the words are still the saved
 *    context's there (nothing on the way changes them). Stored before the
 *    serializing wrfsbase, the stmxcsr was waited for (~2.5 ns per
 *    switch); after it, it overlaps with fn's work. Without a wrfsbase
 *    there is nothing to gain and fn would wait for its own store
 *    (docs/perf.md, session 7);
 *  - the FS base is written only when the target's is nonzero; wrfsbase when
 *    parlib_have_fsgsbase, arch_prctl(ARCH_SET_FS) otherwise;
 *  - resumption ends in pop+jmp rather than ret: the return-stack predictor
 *    never matches a context switch, and a mispredicted ret costs more;
 *  - a resumed parlib_ctx_save_and_call returns 0 (eax cleared), so a C
 *    function can end in `return parlib_ctx_save_and_call(...)`, a jump:
 *    the resumed context then continues in that function's caller, with
 *    one return fewer after the switch (each such return is mispredicted,
 *    ~6 ns on the EPYC VM of docs/perf.md).
 */
        .text

/* SET_FS(reg): load the FS base from `reg` (clobbers rax, rdi, rsi, rcx, r11
 * on the fallback path; `reg` must not be one of those). */
.macro SET_FS reg
        cmpb    $0, parlib_have_fsgsbase(%rip)
        je      91f
        wrfsbase \reg
        jmp     92f
91:     movq    \reg, %rsi
        movl    $0x1002, %edi          /* ARCH_SET_FS */
        movl    $158, %eax             /* SYS_arch_prctl */
        syscall
92:
.endm

/* void parlib_ctx_call_on(void *stack_top, uint64_t fs, void (*fn)(void *),
 *                         void *arg)  -- never returns.
 * Switches to `stack_top` (16-byte aligned), loads FS if `fs` != 0, calls
 * fn(arg). The unwinder stops here (fn's caller is "undefined"). */
        .globl  parlib_ctx_call_on
        .hidden parlib_ctx_call_on
        .type   parlib_ctx_call_on,@function
        .p2align 4
parlib_ctx_call_on:
        .cfi_startproc
        .cfi_undefined rip
        movq    %rdi, %rsp
        movq    %rdx, %r12
        movq    %rcx, %r13
        testq   %rsi, %rsi
        jz      1f
        movq    %rsi, %rbx
        SET_FS  %rbx
1:      movq    %r13, %rdi
        callq   *%r12
        ud2
        .cfi_endproc
        .size   parlib_ctx_call_on,.-parlib_ctx_call_on

/* int parlib_ctx_save_and_call(void **save_sp, void *stack_top, uint64_t fs,
 *                              void (*fn)(void *), void *arg)
 * Saves the caller's context (stored in *save_sp), then behaves like
 * parlib_ctx_call_on(stack_top, fs, fn, arg). "Returns" 0 when the saved
 * context is resumed with parlib_ctx_resume. With fs != 0 the control-word
 * slot at *save_sp is not written: fn must fill it (invariants above). */
        .globl  parlib_ctx_save_and_call
        .hidden parlib_ctx_save_and_call
        .type   parlib_ctx_save_and_call,@function
        .p2align 4
parlib_ctx_save_and_call:
        .cfi_startproc
        pushq   %rbp
        .cfi_adjust_cfa_offset 8
        pushq   %rbx
        .cfi_adjust_cfa_offset 8
        pushq   %r12
        .cfi_adjust_cfa_offset 8
        pushq   %r13
        .cfi_adjust_cfa_offset 8
        pushq   %r14
        .cfi_adjust_cfa_offset 8
        pushq   %r15
        .cfi_adjust_cfa_offset 8
        subq    $8, %rsp               /* the control-word slot */
        .cfi_adjust_cfa_offset 8
        testq   %rdx, %rdx             /* a wrfsbase follows: fn's to fill */
        jnz     1f
        stmxcsr (%rsp)
        fnstcw  4(%rsp)
1:      movq    %rsp, (%rdi)
        movq    %rsi, %rdi
        movq    %rdx, %rsi
        movq    %rcx, %rdx
        movq    %r8, %rcx
        jmp     parlib_ctx_call_on
        .cfi_endproc
        .size   parlib_ctx_save_and_call,.-parlib_ctx_save_and_call

/* void parlib_ctx_resume(void *sp, uint64_t fs) -- never returns.
 * Resumes a context saved by parlib_ctx_save_and_call (or built by
 * parlib_ctx_make_frame). */
        .globl  parlib_ctx_resume
        .hidden parlib_ctx_resume
        .type   parlib_ctx_resume,@function
        .p2align 4
parlib_ctx_resume:
        .cfi_startproc
        movq    %rdi, %rsp
        testq   %rsi, %rsi
        jz      1f
        movq    %rsi, %rbx
        SET_FS  %rbx
1:      stmxcsr -8(%rsp)               /* red zone: nothing else uses it */
        movl    (%rsp), %eax
        xorl    -8(%rsp), %eax
        testl   $0xffc0, %eax          /* control bits only, not flags */
        jz      2f
        ldmxcsr (%rsp)
2:      fnstcw  -8(%rsp)
        movw    4(%rsp), %ax
        cmpw    -8(%rsp), %ax
        je      3f
        fldcw   4(%rsp)
3:      addq    $8, %rsp
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbx
        popq    %rbp
        popq    %rcx
        xorl    %eax, %eax             /* parlib_ctx_save_and_call's result */
        jmpq    *%rcx
        .cfi_endproc
        .size   parlib_ctx_resume,.-parlib_ctx_resume

/* void parlib_ctx_resume_from(void *sp, uint64_t cur, uint64_t fs)
 * -- never returns.
 * Like parlib_ctx_resume(sp, fs), for a caller that knows the MXCSR / x87
 * CW in effect: `cur` holds them in the saved-slot layout (a context saved
 * since, whose control words nothing has changed; bits 48-63 are ignored).
 * Comparing with it instead of storing them again saves the stmxcsr +
 * reload, the dearest part of a resume on some CPUs (docs/perf.md). */
        .globl  parlib_ctx_resume_from
        .hidden parlib_ctx_resume_from
        .type   parlib_ctx_resume_from,@function
        .p2align 4
parlib_ctx_resume_from:
        .cfi_startproc
        movq    %rdi, %rsp
        testq   %rdx, %rdx
        jz      1f
        movq    %rsi, %r8              /* SET_FS may clobber rsi, not r8 */
        movq    %rdx, %rbx
        SET_FS  %rbx
        movq    %r8, %rsi
1:      movq    (%rsp), %rax
        xorq    %rsi, %rax
        testl   $0xffc0, %eax          /* MXCSR control bits, not flags */
        jz      2f
        ldmxcsr (%rsp)
2:      shrq    $32, %rax
        testw   %ax, %ax               /* x87 control word */
        jz      3f
        fldcw   4(%rsp)
3:      addq    $8, %rsp
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbx
        popq    %rbp
        popq    %rcx
        xorl    %eax, %eax             /* parlib_ctx_save_and_call's result */
        jmpq    *%rcx
        .cfi_endproc
        .size   parlib_ctx_resume_from,.-parlib_ctx_resume_from

/* First instructions of a new context (see parlib_ctx_make_frame): r12 holds
 * the entry function, r13 its argument; rsp is 16-byte aligned here. */
        .globl  parlib_ctx_trampoline
        .hidden parlib_ctx_trampoline
        .type   parlib_ctx_trampoline,@function
        .p2align 4
parlib_ctx_trampoline:
        .cfi_startproc
        .cfi_undefined rip
        movq    %r13, %rdi
        callq   *%r12
        ud2
        .cfi_endproc
        .size   parlib_ctx_trampoline,.-parlib_ctx_trampoline

        .section .note.GNU-stack,"",@progbits
