#!/usr/bin/env bash
# bench_spqr.sh BIN_DIR DROPIN_DIR [ROUNDS]: the SPQR-like tree
# (spqr_tree.hpp: a TBB task tree over OpenMP OpenBLAS dgemm/dgeqrf fronts)
# on the stock runtimes, on lithe and on static partitions of the cores;
# prints a markdown section (stdout).
#
# Width W (BENCH_SPQR_WIDTH, default the CPUs; above the CPUs it emulates a
# wider machine: lithe with PARLIB_VCORES=W, the others with W threads).
# Variants, all of bench_spqr_{stock,lithe} (bench_spqr.cmake) on the
# "bench" shape:
#   sequential  stock, depth-first on one thread, OMP_NUM_THREADS=1 (the
#               work: its CPU time; ideal = work / CPUs)
#   stock       libtbb (arena of W) + libgomp, OMP_NUM_THREADS=W: both
#               runtimes use every core, as they do by default
#   lithe       liblithe_tbb + the drop-in liblithe_omp (LD_LIBRARY_PATH=
#               DROPIN_DIR), PARLIB_VCORES=W, OMP_NUM_THREADS=W, PARLIB_PIN=0
#               (this VM kind starves pinned threads)
#   tbb W x omp 1   partition A: the tree W-wide, every kernel serial
#   tbb 1 x omp W   partition B: the tree serial, every kernel W-wide
# (a hand-tuned user's two static splits of W cores; with W = 2 there is
# no other split). Each round runs every variant once, in an order rotated
# per round (processes interleaved, as bench_compose.sh does); tables show
# medians over ROUNDS (default BENCH_ROUNDS or 5). A run that takes longer
# than BENCH_SPQR_TIMEOUT seconds (default 120) is killed and counted as a
# timeout, so a liveness bug shows in the table instead of stalling it
# (before the fork-join look-around, lithe runs hung here: a TBB task
# spinning in OpenBLAS's exec_blas while the OpenMP region holding
# OpenBLAS's buffer never ran again, docs/perf.md "SPQR-like tree");
# medians are over the runs that finished. Before the rounds, the front kernels alone (`bench_spqr
# kernels`) at OMP_NUM_THREADS=1 and =W show how far one call scales.
set -euo pipefail
bin_dir=${1:?usage: bench_spqr.sh BIN_DIR DROPIN_DIR [ROUNDS]}
dropin=$(cd "${2:?usage: bench_spqr.sh BIN_DIR DROPIN_DIR [ROUNDS]}" && pwd)
rounds=${3:-${BENCH_ROUNDS:-5}}
cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
w=${BENCH_SPQR_WIDTH:-$cpus}
limit=${BENCH_SPQR_TIMEOUT:-120}
stock=$bin_dir/bench_spqr_stock lithe=$bin_dir/bench_spqr_lithe
[ -x "$stock" ] && [ -x "$lithe" ] || { echo "bench_spqr.sh: no bench_spqr_{stock,lithe} in $bin_dir" >&2; exit 1; }
[ -e "$dropin/libgomp.so.1" ] || { echo "bench_spqr.sh: no libgomp.so.1 in $dropin" >&2; exit 1; }
shape=bench
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
kern() { OMP_NUM_THREADS=$1 "$stock" kernels "$shape" | sed "s/^/$1 /"; }
kernels=$(kern 1; kern "$w")
variants=(sequential stock lithe partA partB)
run() {  # run VARIANT: prints the program's line, "timeout" or "failed RC"
    local cmd
    case "$1" in
        sequential) cmd=(env OMP_NUM_THREADS=1 "$stock" seq "$shape") ;;
        stock) cmd=(env OMP_NUM_THREADS="$w" "$stock" tree "$shape" "$w") ;;
        lithe) cmd=(env PARLIB_VCORES="$w" OMP_NUM_THREADS="$w" PARLIB_PIN=0
                    LD_LIBRARY_PATH="$dropin" "$lithe" tree "$shape") ;;
        partA) cmd=(env OMP_NUM_THREADS=1 "$stock" tree "$shape" "$w") ;;
        partB) cmd=(env OMP_NUM_THREADS="$w" "$stock" tree "$shape" 1) ;;
    esac
    local rc=0
    timeout -s KILL "$limit" "${cmd[@]}" || rc=$?
    if [ "$rc" -eq 137 ]; then echo timeout; elif [ "$rc" -ne 0 ]; then echo "failed $rc"; fi
}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 0; r < rounds; ++r)); do
    for ((k = 0; k < ${#variants[@]}; ++k)); do
        v=${variants[$(( (k + r) % ${#variants[@]} ))]}
        echo "$v $(run "$v" 2>/dev/null | tail -1)" >>"$raw"
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
python3 - "$raw" "$rounds" "$cpus" "$w" "$limit" "$load_before" "$load_after" \
    "$("$stock" shapes | grep "^$shape ")" "$kernels" <<'EOF'
import statistics as st, sys
raw, rounds, cpus, w, limit, lb, la, shape, kernels = sys.argv[1:10]
rounds, cpus, w = int(rounds), int(cpus), int(w)
name, depth, fanout, npiv, cb, own, inner = shape.split()
depth, fanout = int(depth), int(fanout)
nodes = sum(fanout ** d for d in range(depth + 1))
runs, timeouts, failed = {}, {}, []
for line in open(raw):
    f = line.split()
    v = f[0]
    if len(f) != 7:
        if f[1:2] == ["timeout"]:
            timeouts[v] = timeouts.get(v, 0) + 1
        else:
            failed.append(f"{v}: {' '.join(f[1:]) or 'no output'}")
        continue
    runs.setdefault(v, []).append([float(x) for x in f[1:]])
med = lambda v, i: st.median(r[i] for r in runs[v]) if v in runs else float("nan")
label = {"sequential": "sequential (1 thread)", "stock": f"stock (libtbb {w} + libgomp {w})",
         "lithe": f"lithe (liblithe_tbb + liblithe_omp, {w} harts)",
         "partA": f"partition A: tbb {w} x omp 1", "partB": f"partition B: tbb 1 x omp {w}"}
wdesc = f"width {w}" + ("" if w == cpus else f" (more threads than the {cpus} CPUs; lithe: PARLIB_VCORES={w})")
print(f"{rounds} rounds, medians of the runs that finished; {cpus} CPUs; {wdesc}; "
      f"load average before {lb}, after {la}.")
print()
print(f"Shape `{name}`: {nodes} fronts ({depth} levels below the root, fanout {fanout}); a front has "
      f"{int(npiv) + int(cb)} columns ({npiv} pivots, contribution block {cb}) and {own} own rows "
      f"(dgemm with inner dimension {inner}) plus {cb} rows per child; dgeqrf of the whole front.")
print()
print("Single calls (median of 5, ms; a leaf's front, then the root's):")
print()
print("| kernel | m x n (x k) | OMP_NUM_THREADS=1 | OMP_NUM_THREADS=%d | speed-up |" % w)
print("|---|---|---|---|---|")
ks = {}
for line in kernels.splitlines():
    t, kern, m, n, k, ms = line.split()
    ks.setdefault((kern, m, n, k), {})[int(t)] = float(ms)
for (kern, m, n, k), t in ks.items():
    dims = f"{m} x {n}" + (f" x {k}" if k != "0" else "")
    print(f"| {kern} | {dims} | {t[1]:.2f} | {t[w]:.2f} | {t[1] / t[w]:.2f} |")
print()
work = med("sequential", 1)
ideal = work / cpus
sums = [r[5] for v in runs for r in runs[v]]
agree = bool(sums) and max(sums) - min(sums) <= 1e-9 * abs(max(sums))
best = min(("partA", "partB"), key=lambda v: med(v, 0) if v in runs else float("inf"))
print(f"Sequential work {work:.3f} CPU s (wall {med('sequential', 0):.3f} s), ideal {ideal:.3f} s. "
      f"Checksums agree (relative 1e-9): {'yes' if agree else '**NO**'}. Best partition: {label[best]}.")
print()
print("| runtime | runs (timeouts) | wall s | CPU s | CPU / work | wall / ideal | kernel threads | invol. cs | vs stock | vs best partition |")
print("|---|---|---|---|---|---|---|---|---|---|")
for v in ("sequential", "stock", "lithe", "partA", "partB"):
    n, t = len(runs.get(v, [])), timeouts.get(v, 0)
    if not n:
        print(f"| {label[v]} | 0 ({t}) | - | - | - | - | - | - | - | - |")
        continue
    wall = med(v, 0)
    print(f"| {label[v]} | {n} ({t}) | {wall:.3f} | {med(v, 1):.3f} | {med(v, 1) / work:.2f} | "
          f"{wall / ideal:.2f} | {med(v, 2):.0f} | {med(v, 4):.0f} | "
          f"{med('stock', 0) / wall:.2f}x | {med(best, 0) / wall:.2f}x |")
print()
if failed:
    print("**Runs that failed** (not counted): " + "; ".join(failed) + ".")
    print()
print(f"\"vs\" columns: the other's median wall time / this one's (above 1: this one is faster). "
      f"A timeout is a run killed after {limit} s.")
EOF
