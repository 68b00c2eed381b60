/* omp_teams.c: teams on the host. num_teams(3) makes teams 0..n-1, each
 * seeing omp_get_num_teams() == n, n == 3 under lithe (the spec allows
 * fewer: libomp caps the league at the CPUs); distribute (and dist_schedule(static,
 * 7), and teams distribute parallel for) runs every iteration exactly
 * once; a parallel region inside a team has at most thread_limit members
 * and they see their team's number; tasks inside a team's parallel region
 * work; outside, one team again. */
#include <omp.h>

#include "check.h"

#define N 1000

int main(void) {
    static int a[N], b[N], c[N];
    /* Per-team slots: teams regions may not contain atomics directly. */
    int seen[3] = {0}, nteams[3] = {0}, bad = 0, members[3] = {0}, task_runs = 0;
#pragma omp teams num_teams(3) thread_limit(2)
    {
        int k = omp_get_team_num();
        if (k >= 0 && k < 3) {
            seen[k]++;
            nteams[k] = omp_get_num_teams();
        }
#pragma omp distribute
        for (int i = 0; i < N; ++i) a[i]++;
#pragma omp parallel
        {
            if (omp_get_num_threads() > 2 || omp_get_team_num() != k) {
#pragma omp atomic
                bad++;
            }
            if (k >= 0 && k < 3) {
#pragma omp atomic
                members[k]++;
            }
#pragma omp single
            for (int t = 0; t < 10; ++t) {
#pragma omp task shared(task_runs)
                {
#pragma omp atomic
                    task_runs++;
                }
            }
        }
    }
    CHECK(bad == 0);
    int n = nteams[0];
    CHECK(n >= 1 && n <= 3 && (!under_lithe() || n == 3));
    for (int k = 0; k < n; ++k)
        CHECK(seen[k] == 1 && nteams[k] == n && members[k] >= 1 && members[k] <= 2);
    CHECK(task_runs == 10 * n);
    for (int i = 0; i < N; ++i) CHECK(a[i] == 1);

#pragma omp teams distribute parallel for num_teams(2)
    for (int i = 0; i < N; ++i) {
#pragma omp atomic
        b[i]++;
    }
#pragma omp teams distribute dist_schedule(static, 7) num_teams(4)
    for (int i = 0; i < N; ++i) c[i]++;
    for (int i = 0; i < N; ++i) CHECK(b[i] == 1 && c[i] == 1);
    CHECK(omp_get_num_teams() == 1 && omp_get_team_num() == 0);
    return 0;
}
