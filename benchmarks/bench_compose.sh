#!/usr/bin/env bash
# bench_compose.sh BIN_DIR [ROUNDS]: stock vs lithe on the TBB/OpenMP
# compositions of bench_compose.cpp at each grain; prints a markdown
# section (stdout): per grain, one line on the run, a table and the
# targets' verdicts.
#
# Programs (benchmarks/bench_compose.cmake), compared in pairs built from
# the same object:
#   bench_compose_gomp   vs bench_compose_lithe        (gcc; libgomp's ABI)
#   bench_compose_libomp vs bench_compose_lithe_clang  (clang; libomp's ABI)
# stock = libtbb's own worker threads + the compiler's OpenMP runtime;
# lithe = liblithe_tbb + liblithe_omp. The clang pair is skipped if it was
# not built. Grains (bench_compose.cpp: one fixed amount of work split into
# coarse or fine regions): BENCH_COMPOSE_GRAINS (default: every grain the
# program lists, `bench_compose_gomp grains`). The variants are different
# libraries, so they are separate processes: each round runs, for every
# grain, every (program, scenario) once plus each pair's sequential
# baseline (its stock program's `seq`: the same object, so the same
# machine code for the work), all in an order rotated per round
# (interleaved, as benchmarks/harness.hpp does in process); tables show
# medians over rounds (ROUNDS, default BENCH_ROUNDS or 7) and ratios of
# medians. Ideal, per pair and grain = sequential work / CPUs (nproc), the
# work being the pair's sequential run's CPU time (its wall time also counts
# the time other processes held the CPU; it is printed too). The load
# average before and after is printed: the machine may be shared, and then
# wall / ideal mostly measures the share of the CPUs the process got.
# CPU / work = a run's CPU time / its pair's sequential work: above 1 is
# CPU spent on something else than the work (spinning, scheduling).
# BENCH_COMPOSE_VCORES=N (default: unset = CPUs) runs lithe with
# PARLIB_VCORES=N and all with OMP_NUM_THREADS=N (stock TBB still sizes its
# pool from the CPUs; on lithe TBB sizes itself by the harts). Lithe runs
# use PARLIB_PIN=0 (this VM kind starves pinned threads). Scenario (c) (b
# in phases, ending in barriers) runs only at the grains in
# BENCH_COMPOSE_C_GRAINS (default: fine, where a phase's barrier meets
# most often; the others add sweep time and show the same thing less).
# BENCH_COMPOSE_ALT_LIBS=DIR (default: unset) also runs every lithe
# (program, scenario) with LD_LIBRARY_PATH=DIR, in the same rotated
# rounds: DIR holds another build's liblithe*.so and libparlib.so (the
# programs find theirs through RUNPATH, which LD_LIBRARY_PATH overrides),
# so two lithe builds are compared interleaved; its rows are labelled
# "libs DIR" and get no verdicts.
# BENCH_COMPOSE_PARTITIONS (default "tbb1 omp1"; empty: none) adds, per
# pair, the stock program run with the CPUs split by hand between the two
# runtimes, the baseline a user tuning the composition would compare with:
#   tbb1  TBB capped at 1 thread (bench_compose's TBB_THREADS argument:
#         tbb::global_control), OpenMP at the full width
#   omp1  OpenMP at 1 thread (OMP_NUM_THREADS=1), TBB as in the stock row
#         (its default: one thread per CPU)
# in the same rotated rounds and the same table; each lithe program's
# verdicts then also give its wall time and involuntary switches against
# the faster partition of its pair (lithe / best partition).
set -euo pipefail
bin_dir=${1:?usage: bench_compose.sh BIN_DIR [ROUNDS]}
rounds=${2:-${BENCH_ROUNDS:-7}}
# CPUs (GNU nproc would report OMP_NUM_THREADS instead if it were set).
cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
pairs=()  # "stock_program lithe_program"
for p in "gomp lithe" "libomp lithe_clang"; do
    read -r s l <<<"$p"
    if [ -x "$bin_dir/bench_compose_$s" ] && [ -x "$bin_dir/bench_compose_$l" ]; then
        pairs+=("$s $l")
    fi
done
[ ${#pairs[@]} -gt 0 ] || { echo "bench_compose.sh: no programs in $bin_dir" >&2; exit 1; }
read -r first_stock _ <<<"${pairs[0]}"
grain_table=$("$bin_dir/bench_compose_$first_stock" grains)  # name tasks loops iters work
grains=${BENCH_COMPOSE_GRAINS:-$(cut -d' ' -f1 <<<"$grain_table" | paste -sd' ')}
for g in $grains; do
    grep -q "^$g " <<<"$grain_table" ||
        { echo "bench_compose.sh: unknown grain '$g' (known: $(cut -d' ' -f1 <<<"$grain_table" | paste -sd' '))" >&2; exit 2; }
done
n=${BENCH_COMPOSE_VCORES:-}
env_stock=() env_lithe=(PARLIB_PIN=0)
if [ -n "$n" ]; then
    env_stock+=(OMP_NUM_THREADS=$n)
    env_lithe+=(PARLIB_VCORES=$n OMP_NUM_THREADS=$n)
fi
c_grains=${BENCH_COMPOSE_C_GRAINS:-fine}
alt=${BENCH_COMPOSE_ALT_LIBS:-}
partitions=${BENCH_COMPOSE_PARTITIONS-tbb1 omp1}
for part in $partitions; do
    case "$part" in tbb1 | omp1) ;; *) echo "bench_compose.sh: unknown partition '$part' in BENCH_COMPOSE_PARTITIONS (known: tbb1 omp1)" >&2; exit 2 ;; esac
done
[ -z "$alt" ] || [ -d "$alt" ] || { echo "bench_compose.sh: BENCH_COMPOSE_ALT_LIBS=$alt is not a directory" >&2; exit 2; }
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
runs=()  # "grain program scenario"
for g in $grains; do
    for p in "${pairs[@]}"; do
        read -r s l <<<"$p"
        runs+=("$g $s seq")
        for scen in a b c; do
            [ "$scen" = c ] && ! grep -qw "$g" <<<"$c_grains" && continue
            runs+=("$g $s $scen" "$g $l $scen")
            [ -n "$alt" ] && runs+=("$g $l@alt $scen")
            for part in $partitions; do runs+=("$g $s+$part $scen"); done
        done
    done
done
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 0; r < rounds; ++r)); do
    for ((k = 0; k < ${#runs[@]}; ++k)); do
        read -r grain prog scen <<<"${runs[$(( (k + r) % ${#runs[@]} ))]}"
        case "$prog" in lithe*) e=("${env_lithe[@]}") ;; *) e=("${env_stock[@]}") ;; esac
        [ "$scen" = seq ] && e=()
        [ "${prog%@alt}" != "$prog" ] && e+=(LD_LIBRARY_PATH="$alt")
        extra=()  # bench_compose's TBB_THREADS
        case "$prog" in
            *+tbb1) e+=(OMP_NUM_THREADS="${n:-$cpus}") extra=(1) ;;
            *+omp1) e+=(OMP_NUM_THREADS=1) ;;
        esac
        exe=${prog%@alt}
        echo "$grain $prog $scen $(env "${e[@]}" "$bin_dir/bench_compose_${exe%+*}" "$scen" "$grain" "${extra[@]}")" >>"$raw"
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
ALT="$alt" python3 - "$raw" "$rounds" "$cpus" "${n:-$cpus}" "$load_before" "$load_after" \
    "$grains" "$grain_table" "${pairs[@]}" <<'EOF'
import os, statistics as st, sys
raw, rounds, cpus, width, lb, la, grains, gtab = sys.argv[1:9]
alt = os.environ["ALT"]
rounds, cpus = int(rounds), int(cpus)
grains = grains.split()
shape = {f[0]: tuple(int(x) for x in f[1:]) for f in (l.split() for l in gtab.splitlines())}
pairs = [p.split() for p in sys.argv[9:]]
rows = {}
for line in open(raw):
    grain, prog, scen, wall, cpu, thr, vcs, ivcs, chk = line.split()
    rows.setdefault((grain, prog, scen), []).append(
        (float(wall), float(cpu), int(thr), int(vcs), int(ivcs), float(chk)))
med = lambda k, i: st.median(r[i] for r in rows[k])
names = {"a": "(a) tbb::parallel_for -> omp parallel for", "b": "(b) omp parallel -> tbb::parallel_for",
         "c": "(c) omp parallel { omp for per 8 tasks } -> tbb::parallel_for"}
runtime = {"gomp": "stock (libtbb + libgomp)", "lithe": "lithe (gcc)",
           "libomp": "stock (libtbb + libomp)", "lithe_clang": "lithe (clang)"}
for l in ("lithe", "lithe_clang"):
    runtime[l + "@alt"] = f"{runtime[l]}, libs {alt}"
compiler = {"gomp": "gcc", "libomp": "clang"}
partitions = sorted({k[1].split("+")[1] for k in rows if "+" in k[1]}, reverse=True)
for stock, omp_lib in (("gomp", "libgomp"), ("libomp", "libomp")):
    runtime[f"{stock}+tbb1"] = f"partition tbb1 (libtbb 1 thread + {omp_lib} {width})"
    runtime[f"{stock}+omp1"] = f"partition omp1 (libtbb {cpus} + {omp_lib} 1 thread)"
wdesc = f"width {width} (OMP_NUM_THREADS{'' if width == str(cpus) else ', PARLIB_VCORES'})"
print(f"{rounds} rounds, medians; {cpus} CPUs; {wdesc}; load average before {lb}, after {la}.")
for g in grains:
    tasks, loops, iters, work = shape[g]
    ideal, seqdesc = {}, []
    for stock, _ in pairs:
        k = (g, stock, "seq")
        ideal[stock] = med(k, 1) / cpus
        seqdesc.append(f"{compiler[stock]} {med(k, 1):.3f} CPU s (wall {med(k, 0):.3f} s), ideal {ideal[stock]:.3f} s")
    sums = [r[5] for k in rows if k[0] == g for r in rows[k]]
    ok_sum = max(sums) - min(sums) <= 1e-9 * abs(max(sums)) + 1e-9
    seq0 = med((g, pairs[0][0], "seq"), 1)
    print()
    print(f"**Grain {g}, {wdesc.split(' (')[0]}**: {tasks} tasks x {loops} loop{'s' if loops > 1 else ''} "
          f"x {iters} iterations x {work} steps; a task's region ~{seq0 / tasks * 1e6:.0f} us CPU, "
          f"a barrier or join every ~{seq0 / (tasks * loops) * 1e6:.0f} us CPU of team work. "
          f"Sequential work: {'; '.join(seqdesc)}. Results agree: {'yes' if ok_sum else 'NO'}.")
    print()
    print("| scenario | runtime | wall s | CPU s | CPU / work | kernel threads | vol. cs | invol. cs | wall / ideal |")
    print("|---|---|---|---|---|---|---|---|---|")
    verdict = []
    for s in ("a", "b", "c"):
        if (g, pairs[0][0], s) not in rows:
            continue
        for stock, lithe in pairs:
            parts = tuple(f"{stock}+{p}" for p in partitions)
            for lab in (stock, lithe) + ((lithe + "@alt",) if alt else ()) + parts:
                k = (g, lab, s)
                print(f"| {names[s]} | {runtime[lab]} | {med(k,0):.3f} | {med(k,1):.3f} | "
                      f"{med(k,1)/med((g, stock, 'seq'), 1):.2f} | {med(k,2):.0f} | "
                      f"{med(k,3):.0f} | {med(k,4):.0f} | {med(k,0)/ideal[stock]:.2f} |")
            sw, lw = med((g, stock, s), 0), med((g, lithe, s), 0)
            si, li = med((g, stock, s), 4), med((g, lithe, s), 4)
            # Rounded as printed, so that a verdict never contradicts its number.
            speed = round(sw / lw, 2)
            ivr = round(si / max(li, 1), 1)
            li_ = round(lw / ideal[stock], 2)
            verdict.append(f"- ({s}) {runtime[lithe]} vs {runtime[stock]}: {speed:.2f}x "
                           f"{'faster' if speed >= 1 else 'slower'} (target >= 1.3x: {'met' if speed >= 1.3 else '**no**'}); "
                           f"{ivr:.1f}x fewer involuntary context switches (target >= 10x: "
                           f"{'met' if ivr >= 10 else '**no**'}); {li_:.2f}x ideal "
                           f"(target <= 1.1x: {'met' if li_ <= 1.1 else '**no**'}).")
            if parts:
                best = min(parts, key=lambda p: med((g, p, s), 0))
                bw, bi = med((g, best, s), 0), med((g, best, s), 4)
                verdict.append(f"- ({s}) {runtime[lithe]} / best partition, {best.split('+')[1]} "
                               f"({bw:.3f} s): wall {round(lw / bw, 2):.2f}x; "
                               f"involuntary context switches {li:.0f} vs {bi:.0f}.")
    print()
    print("\n".join(verdict))
EOF
