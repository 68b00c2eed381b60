/* invoke_x86_64.S: calls a clang outlined region body with any number of
 * shared-variable pointers, as libomp's __kmp_invoke_microtask does:
 *
 *   void lithe_omp_invoke(void (*fn)(), int *gtid, int *btid,
 *                         int argc, void **argv)
 *   -> fn(gtid, btid, argv[0], ..., argv[argc-1])
 *
 * argv[0..3] go in rdx, rcx, r8, r9; the rest on the stack, which is
 * 16-byte aligned at the call (SysV). rbp restores rsp afterwards.
 */
    .text
    .globl lithe_omp_invoke
    .hidden lithe_omp_invoke
    .type lithe_omp_invoke,@function
lithe_omp_invoke:
    .cfi_startproc
    pushq %rbp
    .cfi_def_cfa_offset 16
    .cfi_offset %rbp, -16
    movq %rsp, %rbp
    .cfi_def_cfa_register %rbp
    movq %rdi, %rax          /* fn */
    movq %rsi, %rdi          /* gtid */
    movq %rdx, %rsi          /* btid */
    movslq %ecx, %r10        /* argc */
    movq %r8, %r11           /* argv */
    movq %r10, %rcx
    subq $4, %rcx            /* stack arguments */
    jle 2f
    leaq 0(,%rcx,8), %rdx
    subq %rdx, %rsp
    andq $-16, %rsp
    xorl %edx, %edx
1:  movq 32(%r11,%rdx,8), %r8
    movq %r8, (%rsp,%rdx,8)
    incq %rdx
    cmpq %rcx, %rdx
    jl 1b
2:  cmpq $0, %r10
    jle 3f
    movq 0(%r11), %rdx
    cmpq $1, %r10
    jle 3f
    movq 8(%r11), %rcx
    cmpq $2, %r10
    jle 3f
    movq 16(%r11), %r8
    cmpq $3, %r10
    jle 3f
    movq 24(%r11), %r9
3:  callq *%rax
    movq %rbp, %rsp
    popq %rbp
    .cfi_def_cfa %rsp, 8
    ret
    .cfi_endproc
    .size lithe_omp_invoke, .-lithe_omp_invoke
    .section .note.GNU-stack,"",@progbits
