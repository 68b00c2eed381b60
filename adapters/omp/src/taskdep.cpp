// taskdep.cpp: depend(in/out/inout/mutexinoutset) between sibling tasks.
// Each task region keeps a map (Task::deps, created on first use) from
// address to the newest writer and the readers since it; a new sibling
// depends on:
//   in:   the last writer;
//   out / inout / mutexinoutset: the readers since the last writer, or,
//         if there are none, the last writer.
// mutexinoutset is treated as inout: its tasks run one after another in
// creation order, which is one of the orders the spec allows (they are
// mutually exclusive, and ordered against in/out siblings as required).
// Every map entry holds a ref on the task it names (task.hpp). All of this
// runs under the team pool's dep_lock (task.cpp), which also guards
// Task::npred and Task::succ of every task of the team.
#include "task.hpp"

namespace lomp {
namespace {

void hold(Task *t) { t->refs.fetch_add(1, std::memory_order_relaxed); }

// Adds the edge pred -> t unless pred already completed (or is t: the
// same address listed twice).
void edge(Task *pred, Task *t) {
    if (!pred || pred == t || pred->done.load(std::memory_order_relaxed))
        return;
    for (Task *s : pred->succ)
        if (s == t) return;
    pred->succ.push_back(t);
    ++t->npred;
}

}  // namespace

void dep_register(Task *t, const Dep *deps, int ndeps) {
    Task *parent = t->parent;
    t->in_dep_map = true;
    if (!parent->deps) parent->deps = new std::unordered_map<void *, DepEntry>;
    std::vector<Task *> released;
    for (int i = 0; i < ndeps; ++i) {
        DepEntry &e = (*parent->deps)[deps[i].addr];
        if (deps[i].kind == kDepIn) {
            edge(e.last_out, t);
            hold(t);
            e.readers.push_back(t);
            continue;
        }
        if (e.readers.empty()) {
            edge(e.last_out, t);
        } else {
            for (Task *r : e.readers) {
                edge(r, t);
                released.push_back(r);
            }
            e.readers.clear();
        }
        if (e.last_out) released.push_back(e.last_out);
        hold(t);
        e.last_out = t;
    }
    // Not task_release here: a final release may free a task, which is
    // fine under dep_lock (it touches no map of a live task).
    for (Task *r : released) task_release(r);
}

void dep_preds(Task *parent, const Dep *deps, int ndeps,
               std::vector<Task *> *out) {
    if (!parent->deps) return;
    auto add = [out](Task *t) {
        if (!t || t->done.load(std::memory_order_relaxed)) return;
        hold(t);
        out->push_back(t);
    };
    for (int i = 0; i < ndeps; ++i) {
        auto it = parent->deps->find(deps[i].addr);
        if (it == parent->deps->end()) continue;
        add(it->second.last_out);
        if (deps[i].kind != kDepIn)
            for (Task *r : it->second.readers) add(r);
    }
}

void dep_clear(Task *t) {
    if (!t->deps) return;
    std::vector<Task *> held;
    for (auto &kv : *t->deps) {
        if (kv.second.last_out) held.push_back(kv.second.last_out);
        for (Task *r : kv.second.readers) held.push_back(r);
    }
    delete t->deps;
    t->deps = nullptr;
    for (Task *r : held) task_release(r);
}

}  // namespace lomp
