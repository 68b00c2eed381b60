/* omp_task_steal.c: randomized task trees created by every member at
 * once, so members pop their own newest tasks while idle or waiting
 * members steal the others' (docs/omp.md "Tasks"). Each tree mixes
 * deferred, if(0), final, mergeable, untied and priority tasks, depend
 * chains between siblings, and ends a node with taskwait, a taskgroup or
 * nothing. Checks: every task created runs exactly once; after taskwait
 * every child has finished, after a taskgroup every descendant has; a
 * depend(inout) chain runs in creation order; and the tied-task
 * scheduling constraint: a member suspended in a taskwait or taskgroup of
 * task W only starts descendants of W (checked on lithe-omp, whose
 * documented policy it is). Several rounds with different seeds and team
 * sizes, each bounded in size. */
#include <omp.h>

#include "check.h"

#define T 8
#define MAX_NODES 40000
#define MAX_KIDS 4

static int parent_of[MAX_NODES];
static int kids[MAX_NODES][MAX_KIDS];
static int nkids[MAX_NODES];
static int ran[MAX_NODES];
static int finished[MAX_NODES];
static int next_id;
static int constraint_bad, wait_bad, chain_bad;
static unsigned round_seed;

/* The task this thread is suspended in (taskwait / taskgroup end), -1 at
 * none: a task started while it is set must descend from it. Tied tasks
 * resume on the thread that suspended them, so a save/restore around each
 * wait keeps it right; untied tasks never wait here. */
static int waiting = -1;
#pragma omp threadprivate(waiting)

static unsigned rnd(unsigned *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static int new_id(int parent) {
    int id;
#pragma omp atomic capture
    id = next_id++;
    if (id >= MAX_NODES) return -1;
    parent_of[id] = parent;
    return id;
}

static int descends(int id, int from) {
    for (int p = parent_of[id]; p >= 0; p = parent_of[p])
        if (p == from) return 1;
    return 0;
}

static int subtree_finished(int id) {
    for (int k = 0; k < nkids[id]; ++k) {
        int c = kids[id][k];
        int f;
#pragma omp atomic read
        f = finished[c];
        if (!f || !subtree_finished(c)) return 0;
    }
    return 1;
}

static void node(int id, int depth, int untied);

static void start(int id, int depth, int untied) {
    int w = waiting;
    if (w >= 0 && !descends(id, w)) {
#pragma omp atomic
        constraint_bad++;
    }
#pragma omp atomic
    ran[id]++;
    node(id, depth, untied);
#pragma omp atomic write
    finished[id] = 1;
}

/* Creates node id's children (deterministic for the round's seed), then
 * waits as its seed says. */
static void node(int id, int depth, int untied) {
    unsigned s = round_seed ^ (unsigned)(id * 2654435761u) ^ 1u;
    rnd(&s);
    int n = depth >= 7 ? 0 : (int)(rnd(&s) % (MAX_KIDS + 1));
    int how = untied ? 0 : (int)(rnd(&s) % 3); /* 0 none, 1 wait, 2 group */
    int chain = 0, chain_len = 0;
    if (how == 2) {
        int saved = waiting;
#pragma omp taskgroup
        {
            for (int k = 0; k < n; ++k) {
                int c = new_id(id);
                if (c < 0) break;
                kids[id][nkids[id]++] = c;
                int kind = (int)(rnd(&s) % 6);
                if (kind == 0) {
#pragma omp task if (0) firstprivate(c, depth)
                    start(c, depth + 1, 0);
                } else if (kind == 1) {
#pragma omp task final(1) firstprivate(c, depth)
                    start(c, depth + 1, 0);
                } else if (kind == 2) {
#pragma omp task priority(3) firstprivate(c, depth)
                    start(c, depth + 1, 0);
                } else {
#pragma omp task firstprivate(c, depth)
                    start(c, depth + 1, 0);
                }
            }
            waiting = id;
        }
        waiting = saved;
        if (!subtree_finished(id)) {
#pragma omp atomic
            wait_bad++;
        }
        return;
    }
    for (int k = 0; k < n; ++k) {
        int c = new_id(id);
        if (c < 0) break;
        kids[id][nkids[id]++] = c;
        int kind = (int)(rnd(&s) % 6);
        if (how == 1 && kind == 5) {
            /* Siblings in a depend chain on a variable of this frame
             * (safe: the node waits before returning). */
            int pos = chain_len++;
#pragma omp task depend(inout : chain) firstprivate(c, depth, pos) \
    shared(chain)
            {
                if (chain != pos) {
#pragma omp atomic
                    chain_bad++;
                }
                chain = pos + 1;
                start(c, depth + 1, 0);
            }
        } else if (kind == 0) {
#pragma omp task if (0) firstprivate(c, depth)
            start(c, depth + 1, 0);
        } else if (kind == 1) {
#pragma omp task untied firstprivate(c, depth)
            start(c, depth + 1, 1);
        } else if (kind == 2) {
#pragma omp task mergeable firstprivate(c, depth)
            start(c, depth + 1, 0);
        } else if (kind == 3) {
#pragma omp task priority(2) firstprivate(c, depth)
            start(c, depth + 1, 0);
        } else {
#pragma omp task firstprivate(c, depth)
            start(c, depth + 1, 0);
        }
    }
    if (how == 1) {
        int saved = waiting;
        waiting = id;
#pragma omp taskwait
        waiting = saved;
        for (int k = 0; k < nkids[id]; ++k) {
            int f;
#pragma omp atomic read
            f = finished[kids[id][k]];
            if (!f) {
#pragma omp atomic
                wait_bad++;
            }
        }
        if (chain != chain_len) {
#pragma omp atomic
            chain_bad++;
        }
    }
}

int main(void) {
    static const int sizes[] = {8, 3, 5, 8};
    for (int r = 0; r < 4; ++r) {
        int team = sizes[r];
        round_seed = 0x9e3779b9u * (unsigned)(r + 1);
        next_id = team;
        for (int i = 0; i < MAX_NODES; ++i) {
            ran[i] = finished[i] = nkids[i] = 0;
            parent_of[i] = -1;
        }
#pragma omp parallel num_threads(team)
        {
            /* Root i stands for member i's implicit task; every member
             * grows trees under it, several per member. */
            int me = omp_get_thread_num();
            for (int t = 0; t < 6; ++t) {
                int root = new_id(me);
                if (root < 0) break;
#pragma omp task firstprivate(root)
                start(root, 0, 0);
            }
            int saved = waiting;
            waiting = me;
#pragma omp taskwait
            waiting = saved;
        }
        int made = next_id < MAX_NODES ? next_id : MAX_NODES;
        CHECK(made > 1000);
        for (int i = team; i < made; ++i) CHECK(ran[i] == 1);
        CHECK(wait_bad == 0 && chain_bad == 0);
        if (under_lithe()) CHECK(constraint_bad == 0);
    }
    return 0;
}
