#!/usr/bin/env bash
# bench_pthread.sh BUILD_DIR [ROUNDS]: pthread call costs
# (benchmarks/bench_pthread.c) on glibc's NPTL and on lithe's pthreads
# adapter; prints a markdown section (stdout).
#
# One binary, BUILD_DIR/benchmarks/bench_pthread, linked against nothing
# of lithe, run in five variants:
#   NPTL, 2 CPUs           plain (all the machine's CPUs)
#   NPTL, 1 CPU            taskset -c 0: every wake-up a local switch
#   lithe, 1 hart          LD_PRELOAD=liblithe_pthread.so PARLIB_VCORES=1
#                          (the vcore pinned, as ./run.sh test does; parlib's
#                          I/O service thread is not)
#   lithe, 2 / 4 harts     PARLIB_VCORES=2 / 4 (4: more harts than CPUs),
#                          PARLIB_PIN=0 (this VM kind starves pinned
#                          threads: ./run.sh, cmd_test)
# (the CPU counts are the machine's: nproc). Every (variant, mode) is a
# separate process: each round runs all of them once, in an order rotated
# per round (interleaved, as benchmarks/bench_epcc.sh does; each process
# warms up before it measures); tables show medians over rounds (ROUNDS,
# default BENCH_ROUNDS or 11) with the min and max round, and ratios of
# medians: lithe at 1 hart against NPTL on 1 CPU, lithe at more harts
# against NPTL on all CPUs. No targets (none is set). A process that fails
# or runs longer than BENCH_PTHREAD_TIMEOUT seconds (default 60) is left
# out of the medians and counted in the header line. The header line also
# gives the CPU time other processes took during the run (the machine's
# busy time from /proc/stat minus this script's children): NPTL's
# cross-CPU ping-pongs are bimodal on this VM (tens of µs when the other
# CPU is idle, a few µs when it is busy and the wake-up becomes a local
# switch), so their medians depend on it.
set -euo pipefail
build=${1:?usage: bench_pthread.sh BUILD_DIR [ROUNDS]}
rounds=${2:-${BENCH_ROUNDS:-11}}
limit=${BENCH_PTHREAD_TIMEOUT:-60}
exe=$build/benchmarks/bench_pthread
lib=$(cd "$build/adapters/pthread" 2>/dev/null && pwd)/liblithe_pthread.so
[ -x "$exe" ] && [ -f "$lib" ] ||
    { echo "bench_pthread.sh: $exe or $lib missing (build bench_pthread first)" >&2; exit 1; }
cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
modes="pipe condvar sem mutex create yield"
variants=(nptl nptl1 lithe1)
[ "$cpus" -gt 1 ] && variants+=(lithe$cpus)
[ "$cpus" -lt 4 ] && variants+=(lithe4)
raw=$(mktemp)
trap 'rm -f "$raw" "$raw.times"' EXIT
runs=()
for v in "${variants[@]}"; do for m in $modes; do runs+=("$v $m"); done; done
busy() {  # CPU time (clock ticks) the machine has been busy since boot
    awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}
load_before=$(cut -d' ' -f1-3 /proc/loadavg) busy_before=$(busy) t0=$(date +%s.%N)
for ((r = 0; r < rounds; ++r)); do
    for ((k = 0; k < ${#runs[@]}; ++k)); do
        read -r v m <<<"${runs[$(( (k + r) % ${#runs[@]} ))]}"
        case "$v" in
            nptl) cmd=("$exe") ;;
            nptl1) cmd=(taskset -c 0 "$exe") ;;
            lithe1) cmd=(env LD_PRELOAD="$lib" PARLIB_VCORES=1 "$exe") ;;
            lithe*) cmd=(env LD_PRELOAD="$lib" PARLIB_VCORES=${v#lithe} PARLIB_PIN=0 "$exe") ;;
        esac
        rc=0
        out=$(timeout -s KILL "$limit" "${cmd[@]}" "$m") || rc=$?
        if [ "$rc" -eq 137 ]; then echo "$v $m timeout" >>"$raw"
        elif [ "$rc" -ne 0 ]; then echo "$v $m failed" >>"$raw"
        else echo "$v $out" >>"$raw"  # variant mode ns iters
        fi
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg) busy_after=$(busy) t1=$(date +%s.%N)
times >"$raw.times"  # not in a pipe: a subshell's children are not ours
own=$(sed -n 2p "$raw.times")  # children's user and system time, e.g. "0m30.2s 0m27.4s"
python3 - "$raw" "$rounds" "$cpus" "$load_before" "$load_after" "$limit" "$modes" \
    "$(( busy_after - busy_before ))" "$(getconf CLK_TCK)" "$t0" "$t1" "$own" "${variants[@]}" <<'PY'
import re, statistics as st, sys
raw, rounds, cpus, lb, la, limit, modes, busy, hz, t0, t1, own = sys.argv[1:13]
variants = sys.argv[13:]
own_s = sum(int(m) * 60 + float(s) for m, s in re.findall(r"(\d+)m([\d.]+)s", own))
others = max(0.0, int(busy) / int(hz) - own_s) / ((float(t1) - float(t0)) * int(cpus))
vals, iters, bad = {}, {}, {}
for line in open(raw):
    f = line.split()
    if f[2] in ("timeout", "failed"):
        bad[(f[0], f[1], f[2])] = bad.get((f[0], f[1], f[2]), 0) + 1
    else:
        vals.setdefault((f[0], f[1]), []).append(float(f[2]))
        iters[f[1]] = int(f[3])
def label(v):
    if v == "nptl":
        return f"NPTL, {cpus} CPUs"
    if v == "nptl1":
        return "NPTL, 1 CPU (taskset -c 0)"
    n = int(v[5:])
    return f"lithe, {n} hart{'s' if n > 1 else ''}" + (f" ({cpus} CPUs)" if n > int(cpus) else "")
bench = {"pipe": "pipe ping-pong, round trip", "condvar": "condvar ping-pong, round trip",
         "sem": "semaphore ping-pong, round trip", "mutex": "mutex lock + unlock, 4 threads contended",
         "create": "pthread_create + pthread_join", "yield": "sched_yield, 2 threads"}
fails = ", ".join(f"{label(v)} {m}: {n} {what}" for (v, m, what), n in sorted(bad.items())) or "none"
print(f"{rounds} rounds, medians of per-process times (ns per operation); {cpus} CPUs; "
      f"load average before {lb}, after {la}; other processes kept {others:.0%} of the CPUs busy; "
      f"failed runs or runs killed after {limit} s: {fails}.")
print()
print("| benchmark | variant | median ns | min | max | ratio vs reference | target | met? |")
print("|---|---|---:|---:|---:|---|---|---|")
def fmt(x):
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 1000 else f"{x:.0f}"
json = []
for m in modes.split():
    for v in variants:
        x = vals.get((v, m))
        if not x:
            print(f"| {bench[m]} | {label(v)} | no run | — | — | — | — | — |")
            continue
        med = st.median(x)
        ratio = "—"
        ref = None if v.startswith("nptl") else "nptl1" if v == "lithe1" else "nptl"
        if ref and vals.get((ref, m)) and med > 0:
            s = st.median(vals[(ref, m)]) / med
            ratio = (f"{s:.2f}x faster" if s >= 1 else f"{1 / s:.2f}x slower") + f" than {label(ref)}"
        print(f"| {bench[m]} | {label(v)} | {fmt(med)} | {fmt(min(x))} | {fmt(max(x))} | {ratio} | — | — |")
        json.append(f'<!-- bench-json {{"suite":"pthread {bench[m]}","variant":"{label(v)}","unit":"ns",'
                    f'"median":{med:.4g},"min":{min(x):.4g},"max":{max(x):.4g},"rounds":{len(x)},'
                    f'"iters_per_round":{iters[m]}}} -->')
print()
print("\n".join(json))
PY
