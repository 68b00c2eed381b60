#!/usr/bin/env bash
# bench_compose.sh BIN_DIR [ROUNDS]: stock vs lithe on the TBB/OpenMP
# compositions of bench_compose.cpp; prints a markdown section (stdout).
#
# Programs (benchmarks/bench_compose.cmake), compared in pairs built from
# the same object:
#   bench_compose_gomp   vs bench_compose_lithe        (gcc; libgomp's ABI)
#   bench_compose_libomp vs bench_compose_lithe_clang  (clang; libomp's ABI)
# stock = libtbb's own worker threads + the compiler's OpenMP runtime;
# lithe = liblithe_tbb + liblithe_omp. The clang pair is skipped if it was
# not built. The variants are different libraries, so they are separate
# processes: each round runs every (program, scenario) once plus the
# sequential baseline, in an order rotated per round (interleaved, as
# benchmarks/harness.hpp does in process); tables show medians over rounds
# (ROUNDS, default BENCH_ROUNDS or 7) and ratios of medians. Ideal =
# sequential work / CPUs (nproc), the work being the sequential run's CPU
# time (its wall time also counts the time other processes held the CPU;
# it is printed too). The load average before and after is printed: the
# machine may be shared, and then wall / ideal mostly measures the share
# of the CPUs the process got. BENCH_COMPOSE_VCORES=N (default:
# unset = CPUs) runs lithe with PARLIB_VCORES=N and all with
# OMP_NUM_THREADS=N (stock TBB still sizes its pool from the CPUs; on lithe
# TBB sizes itself by the harts). Lithe runs use PARLIB_PIN=0 (this VM kind
# starves pinned threads).
set -euo pipefail
bin_dir=${1:?usage: bench_compose.sh BIN_DIR [ROUNDS]}
rounds=${2:-${BENCH_ROUNDS:-7}}
pairs=()  # "stock_program lithe_program"
for p in "gomp lithe" "libomp lithe_clang"; do
    read -r s l <<<"$p"
    if [ -x "$bin_dir/bench_compose_$s" ] && [ -x "$bin_dir/bench_compose_$l" ]; then
        pairs+=("$s $l")
    fi
done
[ ${#pairs[@]} -gt 0 ] || { echo "bench_compose.sh: no programs in $bin_dir" >&2; exit 1; }
n=${BENCH_COMPOSE_VCORES:-}
env_stock=() env_lithe=(PARLIB_PIN=0)
if [ -n "$n" ]; then
    env_stock+=(OMP_NUM_THREADS=$n)
    env_lithe+=(PARLIB_VCORES=$n OMP_NUM_THREADS=$n)
fi
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
read -r first_stock _ <<<"${pairs[0]}"
runs=("seq $first_stock seq_a")
for p in "${pairs[@]}"; do
    read -r s l <<<"$p"
    for scen in a b; do runs+=("$s $s $scen" "$l $l $scen"); done
done
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 0; r < rounds; ++r)); do
    for ((k = 0; k < ${#runs[@]}; ++k)); do
        read -r label prog arg <<<"${runs[$(( (k + r) % ${#runs[@]} ))]}"
        case "$prog" in lithe*) e=("${env_lithe[@]}") ;; *) e=("${env_stock[@]}") ;; esac
        [ "$arg" = seq_a ] && e=()
        echo "$label ${arg#seq_} $(env "${e[@]}" "$bin_dir/bench_compose_$prog" "$arg")" >>"$raw"
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
python3 - "$raw" "$rounds" "$(nproc)" "${n:-$(nproc)}" "$load_before" "$load_after" "${pairs[@]}" <<'EOF'
import statistics as st, sys
raw, rounds, cpus, width, lb, la = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
pairs = [p.split() for p in sys.argv[7:]]
rows = {}
for line in open(raw):
    label, scen, wall, cpu, thr, vcs, ivcs, chk = line.split()
    rows.setdefault((label, scen), []).append((float(wall), float(cpu), int(thr), int(vcs), int(ivcs), float(chk)))
med = lambda k, i: st.median(r[i] for r in rows[k])
seq = med(("seq", "a"), 1)  # CPU time: the work, whatever the load
ideal = seq / cpus
sums = [r[5] for k in rows for r in rows[k]]
ok_sum = max(sums) - min(sums) <= 1e-9 * abs(max(sums)) + 1e-9
print(f"{rounds} rounds, medians; {cpus} CPUs; width {width} (OMP_NUM_THREADS"
      f"{'' if width == str(cpus) else ', PARLIB_VCORES'}); sequential work {seq:.3f} CPU s "
      f"(wall {med(('seq', 'a'), 0):.3f} s), ideal {ideal:.3f} s; results agree: {'yes' if ok_sum else 'NO'}; "
      f"load average before {lb}, after {la}.")
print()
print("| scenario | runtime | wall s | CPU s | kernel threads | vol. cs | invol. cs | wall / ideal |")
print("|---|---|---|---|---|---|---|---|")
names = {"a": "(a) tbb::parallel_for -> omp parallel for", "b": "(b) omp parallel -> tbb::parallel_for"}
runtime = {"gomp": "stock (libtbb + libgomp)", "lithe": "lithe (gcc)",
           "libomp": "stock (libtbb + libomp)", "lithe_clang": "lithe (clang)"}
verdict = []
for s in ("a", "b"):
    for stock, lithe in pairs:
        for lab in (stock, lithe):
            k = (lab, s)
            print(f"| {names[s]} | {runtime[lab]} | {med(k,0):.3f} | {med(k,1):.3f} | {med(k,2):.0f} | "
                  f"{med(k,3):.0f} | {med(k,4):.0f} | {med(k,0)/ideal:.2f} |")
        sw, lw = med((stock, s), 0), med((lithe, s), 0)
        si, li = med((stock, s), 4), med((lithe, s), 4)
        speed = sw / lw
        ivr = si / max(li, 1)
        verdict.append(f"- ({s}) {runtime[lithe]} vs {runtime[stock]}: {speed:.2f}x "
                       f"{'faster' if speed >= 1 else 'slower'} (target >= 1.3x: {'met' if speed >= 1.3 else '**no**'}); "
                       f"{ivr:.1f}x fewer involuntary context switches (target >= 10x: "
                       f"{'met' if ivr >= 10 else '**no**'}); {lw/ideal:.2f}x ideal "
                       f"(target <= 1.1x: {'met' if lw/ideal <= 1.1 else '**no**'}).")
print()
print("\n".join(verdict))
EOF
