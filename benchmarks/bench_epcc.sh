#!/usr/bin/env bash
# bench_epcc.sh BIN_DIR [ROUNDS]: EPCC-style OpenMP construct overheads
# (benchmarks/bench_epcc.c) on libgomp, libomp and liblithe_omp at 2 and 4
# threads; prints a markdown section (stdout).
#
# Programs (benchmarks/omp_programs.cmake), compared in pairs built from
# the same object:
#   bench_epcc_libomp vs bench_epcc_lithe_clang  (clang-14; libomp's ABI)
#   bench_epcc_gomp   vs bench_epcc_lithe        (gcc; libgomp's ABI)
# The clang pair is skipped (with a note) if it was not built. Every
# variant (program, thread count) is a separate process: each round runs
# all of them once, in an order rotated per round (interleaved, as
# benchmarks/harness.hpp does in process; each process warms up before it
# measures); tables show medians over rounds (ROUNDS, default BENCH_ROUNDS
# or 7) with the min and max round, and ratios of medians. Every run has
# OMP_NUM_THREADS=2 or 4 and OMP_MAX_ACTIVE_LEVELS=2 (for NESTED); lithe
# runs PARLIB_PIN=0 (this VM kind starves pinned threads) with the default
# harts (one per CPU), so at 4 threads a team is 4 contexts on 2 harts
# while the stock runtimes run 4 kernel threads. Targets (issue 4), for
# lithe vs libomp on the same clang object: <= 1.0x for PARALLEL, BARRIER,
# REDUCTION, < 1.0x for NESTED, <= 1.5x for the others; lithe vs libgomp
# is shown without a target. A process that fails or exceeds 120 s is
# left out of the medians and counted in the header line.
#
# Machine phases: the VM's cross-CPU cache-line round trip has phases
# (~80-130 ns, then for a minute or so 3-5x that), and every construct
# that hands off between CPUs slows down with it (docs/perf.md, "Machine
# phases"). xcpu_probe measures it before each process; a process whose
# probe read more than 2.5x the run's fastest probe ran in a slow phase
# and is left out of the medians (the header line counts them), unless
# that would leave a variant fewer than 3 processes.
set -euo pipefail
bin_dir=${1:?usage: bench_epcc.sh BIN_DIR [ROUNDS]}
rounds=${2:-${BENCH_ROUNDS:-7}}
# CPUs (GNU nproc would report OMP_NUM_THREADS instead if it were set).
cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
progs=()
for p in libomp lithe_clang gomp lithe; do
    [ -x "$bin_dir/bench_epcc_$p" ] && progs+=("$p")
done
built() { case " ${progs[*]-} " in *" $1 "*) ;; *) return 1 ;; esac; }
built gomp && built lithe || { echo "bench_epcc.sh: no bench_epcc programs in $bin_dir" >&2; exit 1; }
if ! built libomp || ! built lithe_clang; then
    echo "clang-14 or libomp missing: the libomp comparison (clang pair) was skipped."
    echo
fi
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
runs=()
for p in "${progs[@]}"; do for t in 2 4; do runs+=("$p $t"); done; done
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 0; r < rounds; ++r)); do
    for ((k = 0; k < ${#runs[@]}; ++k)); do
        read -r prog t <<<"${runs[$(( (k + r) % ${#runs[@]} ))]}"
        e=(OMP_NUM_THREADS=$t OMP_MAX_ACTIVE_LEVELS=2)
        case "$prog" in lithe*) e+=(PARLIB_PIN=0) ;; esac
        probe=0
        [ -x "$bin_dir/xcpu_probe" ] && probe=$("$bin_dir/xcpu_probe" 2>/dev/null || echo 0)
        if out=$(env "${e[@]}" timeout 120 "$bin_dir/bench_epcc_$prog"); then
            awk -v p="$prog" -v t="$t" -v q="$probe" '{print p, t, $1, $2, q}' <<<"$out" >>"$raw"
        else
            echo "$prog $t FAILED 0 $probe" >>"$raw"
        fi
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
python3 - "$raw" "$rounds" "$cpus" "$load_before" "$load_after" <<'PY'
import statistics as st, sys
raw, rounds, cpus, lb, la = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
samples, failed, probes = {}, {}, []
for line in open(raw):
    prog, t, name, v, probe = line.split()
    if name == "FAILED":
        failed[(prog, t)] = failed.get((prog, t), 0) + 1
    else:
        samples.setdefault((prog, t, name), []).append((float(v), float(probe)))
        if name == "threads":
            probes.append(float(probe))
# Slow phase: a probe above 2.5x the run's fastest (0: no probe, kept).
fastest = min((q for q in probes if q > 0), default=0)
slow = lambda q: fastest > 0 and q > 2.5 * fastest
vals = {}
for k, s in samples.items():
    kept = [v for v, q in s if not slow(q)]
    vals[k] = kept if len(kept) >= 3 else [v for v, _ in s]
progs = {k[0] for k in vals}
label = {"libomp": "libomp (clang-14)", "lithe_clang": "lithe-omp (clang-14 object)",
         "gomp": "libgomp (gcc)", "lithe": "lithe-omp (gcc object)"}
fails = ", ".join(f"{label[p]} at {t} threads: {n}" for (p, t), n in sorted(failed.items())) or "none"
print(f"{rounds} rounds, medians of per-process overheads (µs per construct, delay ~0.1 µs "
      f"subtracted); {cpus} CPUs; load average before {lb}, after {la}; failed or timed-out runs: {fails}.")
if fastest > 0:
    nslow = sum(1 for q in probes if slow(q))
    print()
    print(f"Cross-CPU cache-line round trip before each process (`xcpu_probe`): median "
          f"{st.median(probes):.0f} ns, min {fastest:.0f}, max {max(probes):.0f}; {nslow} of "
          f"{len(probes)} processes ran in a slow phase (> {2.5 * fastest:.0f} ns) and are left "
          f"out of the medians (kept where a variant would have fewer than 3).")
print()
print("| benchmark | variant | median µs | min | max | ratio vs reference | target | met? |")
print("|---|---|---:|---:|---:|---|---|---|")
def fmt(v):
    return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.3g}"
limits = {"PARALLEL": 1.0, "BARRIER": 1.0, "REDUCTION": 1.0, "NESTED": 1.0}
names = ["PARALLEL", "FOR", "BARRIER", "SINGLE", "CRITICAL", "REDUCTION", "TASK", "TASKWAIT", "NESTED"]
for t in ("2", "4"):
    for n in names:
        bench = f"EPCC {n}, {t} threads" if n != "NESTED" else f"EPCC NESTED (2 x 2), OMP_NUM_THREADS={t}"
        med = {}
        for p in ("libomp", "lithe_clang", "gomp", "lithe"):
            v = vals.get((p, t, n))
            if not v:
                continue
            med[p] = m = st.median(v)
            ratio = target = met = "—"
            ref = {"lithe_clang": "libomp", "lithe": "gomp"}.get(p)
            if ref in med:
                r = med[ref]
                ratio = f"{m / r:.3g}x {label[ref]}" if r > 0 else f"n/a ({label[ref]} overhead <= 0)"
                if p == "lithe_clang":
                    lim = limits.get(n, 1.5)
                    strict = n == "NESTED"
                    target = f"{'<' if strict else '≤'} {lim:.1f}x libomp"
                    def within(a, b):
                        return (a < lim * b if strict else a <= lim * b) if b > 0 else a <= b
                    # The fastest processes must meet it too: libomp's 2-thread
                    # PARALLEL is bimodal per process (a hot team whose worker
                    # spins on the other CPU, or one that keeps being
                    # descheduled), and a median of slow-mode processes would
                    # read as met against a fast mode lithe does not reach.
                    best = min(vals[(ref, t, n)])
                    if not within(m, r):
                        met = "**no**"
                    elif not within(min(v), best):
                        met = f"**no** (fastest processes: {min(v) / best:.3g}x)" if best > 0 else "**no**"
                    else:
                        met = "yes"
            print(f"| {bench} | {label[p]} | {fmt(m)} | {fmt(min(v))} | {fmt(max(v))} | {ratio} | {target} | {met} |")
PY
