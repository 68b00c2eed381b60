/* setxid_main.c: setgid/setuid in a program whose OpenMP runtime is only a
 * dependency of one of its libraries (omp_user.c), run with liblithe_omp's
 * drop-in libgomp.so.1 through LD_LIBRARY_PATH. libc then precedes every
 * lithe library in symbol lookup, so the calls reach libc directly and not
 * parlib's setuid-family guards; glibc's SIGSETXID broadcast then needs
 * parlib's handler trampoline installed when the vcores start
 * (parlib/src/setxid_guards.cpp). Without it the process hung here.
 * Prints "setxid ok" (the test's pass pattern). */
#include <stdio.h>
#include <unistd.h>

int omp_user_team(void);

int main(void) {
    if (omp_user_team() < 1) return 1;
    if (setgid(getgid()) != 0 || setuid(getuid()) != 0) return 2;
    if (omp_user_team() < 1) return 3;  /* the vcores survived it */
    puts("setxid ok");
    return 0;
}
