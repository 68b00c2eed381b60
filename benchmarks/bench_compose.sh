#!/usr/bin/env bash
# bench_compose.sh BIN_DIR [ROUNDS]: stock vs lithe on the TBB/OpenMP
# compositions of bench_compose.cpp; prints a markdown section (stdout).
#
# Stock = bench_compose_stock (libtbb's own worker threads + libgomp);
# lithe = bench_compose_lithe (liblithe_tbb + liblithe_omp). The variants
# are different libraries, so they are separate processes: each round runs
# every (variant, scenario) once plus the sequential baseline, in an order
# rotated per round (interleaved, as benchmarks/harness.hpp does in
# process); tables show medians over rounds (ROUNDS, default
# BENCH_ROUNDS or 7). Ideal = sequential wall time / CPUs (nproc).
# BENCH_COMPOSE_VCORES=N (default: unset = CPUs) runs lithe with
# PARLIB_VCORES=N and both with OMP_NUM_THREADS=N (stock TBB still sizes
# its pool from the CPUs). Lithe runs use PARLIB_PIN=0: TBB sizes its pool
# from the main thread's affinity mask, which pinning narrows to one CPU
# (docs/tbb.md).
set -euo pipefail
bin_dir=${1:?usage: bench_compose.sh BIN_DIR [ROUNDS]}
rounds=${2:-${BENCH_ROUNDS:-7}}
stock=$bin_dir/bench_compose_stock
lithe=$bin_dir/bench_compose_lithe
for b in "$stock" "$lithe"; do
    [ -x "$b" ] || { echo "bench_compose.sh: $b not built" >&2; exit 1; }
done
n=${BENCH_COMPOSE_VCORES:-}
env_stock=() env_lithe=(PARLIB_PIN=0)
if [ -n "$n" ]; then
    env_stock+=(OMP_NUM_THREADS=$n)
    env_lithe+=(PARLIB_VCORES=$n OMP_NUM_THREADS=$n)
fi
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
runs=("seq stock seq_a" "stock stock a" "lithe lithe a" "stock stock b" "lithe lithe b")
for ((r = 0; r < rounds; ++r)); do
    for ((k = 0; k < ${#runs[@]}; ++k)); do
        read -r label which arg <<<"${runs[$(( (k + r) % ${#runs[@]} ))]}"
        if [ "$which" = stock ]; then bin=$stock; e=("${env_stock[@]}"); else bin=$lithe; e=("${env_lithe[@]}"); fi
        [ "$label" = seq ] && e=()
        echo "$label ${arg#seq_} $(env "${e[@]}" "$bin" "$arg")" >>"$raw"
    done
done
python3 - "$raw" "$rounds" "$(nproc)" "${n:-$(nproc)}" <<'EOF'
import statistics as st, sys
raw, rounds, cpus, width = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = {}
for line in open(raw):
    label, scen, wall, cpu, thr, vcs, ivcs, chk = line.split()
    rows.setdefault((label, scen), []).append((float(wall), float(cpu), int(thr), int(vcs), int(ivcs), float(chk)))
med = lambda k, i: st.median(r[i] for r in rows[k])
seq = med(("seq", "a"), 0)
ideal = seq / cpus
sums = [r[5] for k in rows for r in rows[k]]
ok_sum = max(sums) - min(sums) <= 1e-9 * abs(max(sums)) + 1e-9
print(f"{rounds} rounds, medians; {cpus} CPUs; width {width} (OMP_NUM_THREADS"
      f"{'' if width == str(cpus) else ', PARLIB_VCORES'}); sequential work {seq:.3f} s, "
      f"ideal {ideal:.3f} s; results agree: {'yes' if ok_sum else 'NO'}.")
print()
print("| scenario | runtime | wall s | CPU s | kernel threads | vol. cs | invol. cs | wall / ideal |")
print("|---|---|---|---|---|---|---|---|")
names = {"a": "(a) tbb::parallel_for -> omp parallel for", "b": "(b) omp parallel -> tbb::parallel_for"}
verdict = []
for s in ("a", "b"):
    for lab in ("stock", "lithe"):
        k = (lab, s)
        print(f"| {names[s]} | {lab} | {med(k,0):.3f} | {med(k,1):.3f} | {med(k,2):.0f} | "
              f"{med(k,3):.0f} | {med(k,4):.0f} | {med(k,0)/ideal:.2f} |")
    sw, lw = med(("stock", s), 0), med(("lithe", s), 0)
    si, li = med(("stock", s), 4), med(("lithe", s), 4)
    speed = sw / lw
    ivr = si / max(li, 1)
    verdict.append(f"- ({s}) lithe is {speed:.2f}x {'faster' if speed >= 1 else 'slower'} than stock "
                   f"(target >= 1.3x: {'met' if speed >= 1.3 else '**no**'}); "
                   f"{ivr:.1f}x fewer involuntary context switches (target >= 10x: "
                   f"{'met' if ivr >= 10 else '**no**'}); {lw/ideal:.2f}x ideal "
                   f"(target <= 1.1x: {'met' if lw/ideal <= 1.1 else '**no**'}).")
print()
print("\n".join(verdict))
EOF
