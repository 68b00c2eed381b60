#!/usr/bin/env bash
# bench_compose_preempt.sh BIN_DIR [PROGRAM [SCENARIO [GRAIN [RUNS]]]]:
# who preempts a bench_compose program's threads. Runs
# BIN_DIR/bench_compose_PROGRAM (default lithe; gomp, libomp, lithe_clang)
# SCENARIO GRAIN (default b fine) RUNS times (default 3) under
# `perf record -e sched:sched_switch` with the program's phase timestamps
# (BENCH_COMPOSE_PHASES=1, CLOCK_MONOTONIC, the clock perf records with
# here), and prints per run the program's line and its involuntary
# switches (a thread switched out while still runnable: what getrusage's
# ru_nivcsw counts) in the timed run, by the thread the CPU went to: other
# processes by name, the program's own threads by name and thread id
# ("busy" if that thread was itself preempted in the timed run: a vcore or a
# stock runtime's worker, as opposed to a helper thread such as
# parlib-keeper or a backing thread waking up), and by the program's thread
# that was switched out. Start-up and warm-up switches are counted on one
# line, not attributed.
#
# The thread switched to is the one the kernel chose next, normally the
# one whose wake-up or turn preempted ours (a woken thread's wake-up
# preemption, a time slice's end); it need not be the cause when several
# were runnable. Tracing costs the program a little (a few microseconds per
# switch); the counts are perf's, not the program's own (those are on its
# line: nvcsw nivcsw, the fourth and fifth numbers).
#
# Environment as bench_compose.sh: lithe programs run with PARLIB_PIN=0;
# BENCH_COMPOSE_VCORES=N sets PARLIB_VCORES and OMP_NUM_THREADS. Needs
# `perf` (Debian: linux-perf) and root or kernel.perf_event_paranoid <= -1
# for tracepoints; without them it says so and exits 0 (nothing measured),
# so it can sit in a sweep. Not part of ./run.sh bench (docs/perf.md).
set -euo pipefail
bin_dir=${1:?usage: bench_compose_preempt.sh BIN_DIR [PROGRAM [SCENARIO [GRAIN [RUNS]]]]}
prog=${2:-lithe} scen=${3:-b} grain=${4:-fine} runs=${5:-3}
exe="$bin_dir/bench_compose_$prog"
[ -x "$exe" ] || { echo "bench_compose_preempt.sh: no program $exe" >&2; exit 2; }
if ! command -v perf >/dev/null; then
    echo "bench_compose_preempt.sh: perf not installed (Debian: apt-get install linux-perf); nothing measured"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! perf record -q -k CLOCK_MONOTONIC -e sched:sched_switch -o "$tmp/probe" -- true >/dev/null 2>&1; then
    echo "bench_compose_preempt.sh: perf cannot record sched:sched_switch here (needs root or kernel.perf_event_paranoid <= -1, and tracefs); nothing measured"
    exit 0
fi
e=()
case "$prog" in lithe*) e+=(PARLIB_PIN=0) ;; esac
if [ -n "${BENCH_COMPOSE_VCORES:-}" ]; then
    e+=(OMP_NUM_THREADS="$BENCH_COMPOSE_VCORES")
    case "$prog" in lithe*) e+=(PARLIB_VCORES="$BENCH_COMPOSE_VCORES") ;; esac
fi
echo "bench_compose_$prog $scen $grain, $runs runs; load average before $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= runs; ++r)); do
    env "${e[@]}" BENCH_COMPOSE_PHASES=1 perf record -q -k CLOCK_MONOTONIC -e sched:sched_switch \
        -o "$tmp/run.data" -- "$exe" "$scen" "$grain" >"$tmp/out" 2>"$tmp/err"
    perf script -i "$tmp/run.data" -F tid,time,trace >"$tmp/script" 2>/dev/null
    python3 - "$r" "$tmp/out" "$tmp/err" "$tmp/script" <<'EOF'
import collections, re, sys
run, out, err, script = sys.argv[1:5]
line = open(out).read().strip()
ph = next((l.split() for l in open(err) if l.startswith("phases:")), None)
if ph is None:
    sys.exit(f"bench_compose_preempt.sh: the program printed no phases line ({open(err).read().strip()})")
timed, end = float(ph[6]), float(ph[8])
sw = re.compile(r"\s*(\d+)\s+([\d.]+):\s+prev_comm=(.*) prev_pid=(\d+) prev_prio=\d+ "
                r"prev_state=(\S+) ==> next_comm=(.*) next_pid=(\d+) next_prio=\d+")
events, own = [], {}
for l in open(script):
    m = sw.match(l)
    if not m:
        continue
    _, t, pcomm, ppid, state, ncomm, npid = m.groups()
    own[int(ppid)] = pcomm  # a switch event is recorded in the switched-out thread
    events.append((float(t), int(ppid), state, ncomm, int(npid)))
# Involuntary: switched out while still runnable (a blocked thread's
# switch is voluntary).
invol = [e for e in events if e[2].startswith("R")]
before = sum(1 for e in invol if e[0] < timed)
timed_invol = [e for e in invol if timed <= e[0] <= end]
total = len(timed_invol)
victims = collections.Counter(e[1] for e in timed_invol)
by = collections.Counter()
for t, ppid, state, ncomm, npid in timed_invol:
    # "busy": one of ours that was itself preempted in the timed run (a
    # vcore, or a stock runtime's worker), not a helper thread waking up.
    by[f"own thread {npid} ({ncomm}{', busy' if npid in victims else ''})" if npid in own else
       "idle" if npid == 0 else ncomm] += 1
print(f"run {run}: {line}  (wall cpu threads nvcsw nivcsw checksum)")
print(f"  involuntary switches seen by perf: timed run {total}, start-up and warm-up {before}")
print("  timed run, by the thread switched to: " +
      (", ".join(f"{k} {n}" for k, n in by.most_common()) or "none"))
print("  timed run, by our thread switched out: " +
      (", ".join(f"{tid} ({own[tid]}) {n}" for tid, n in victims.most_common()) or "none"))
EOF
done
echo "load average after $(cut -d' ' -f1-3 /proc/loadavg)"
