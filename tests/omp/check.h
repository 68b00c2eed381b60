/* check.h: the OpenMP tests' failure reporting and lithe-only probes.
 * LITHE_OMP_EXPECT=1 (set by CTest for the lithe runs) enables checks of
 * properties only liblithe_omp has (thread counts, harts). */
#ifndef OMP_TEST_CHECK_H
#define OMP_TEST_CHECK_H
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                         \
    do {                                                                 \
        if (!(c)) {                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,       \
                    __LINE__, #c);                                       \
            exit(1);                                                     \
        }                                                                \
    } while (0)

static inline int under_lithe(void) {
    const char *v = getenv("LITHE_OMP_EXPECT");
    return v && *v == '1';
}

/* Kernel threads of this process; with `running_only`, those in state R. */
static inline int count_tasks(int running_only) {
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;
    if (!d) return -1;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (!running_only) {
            ++n;
            continue;
        }
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = 0;
        const char *p = strrchr(buf, ')');
        if (p && p[1] == ' ' && p[2] == 'R') ++n;
    }
    closedir(d);
    return n;
}
#endif
