#!/usr/bin/env bash
# bench_server.sh BUILD_DIR [ROUNDS]: the thesis' image server
# (benchmarks/bench_server.c: pthreads serving requests that each run
# GraphicsMagick's OpenMP resize) on the stock runtimes and on lithe;
# prints a markdown section (stdout).
#
# One binary, BUILD_DIR/benchmarks/bench_server (libGraphicsMagick, hence
# libgomp; nothing of lithe), run in four variants:
#   stock          NPTL + libgomp, SERVER_THREADS server threads, each
#                  request's OpenMP team as wide as the CPUs
#   partition omp1 the same with OMP_NUM_THREADS=1: parallelism across
#                  requests only (the split a user tuning this server
#                  would try first)
#   partition srv1 SERVER_THREADS=1: parallelism inside requests only
#   lithe          LD_PRELOAD=liblithe_pthread.so and liblithe_omp as the
#                  drop-in libgomp.so.1 (LD_LIBRARY_PATH): the server's
#                  threads and every request's team share the harts
#                  (PARLIB_PIN=0, as everywhere on this VM)
# in two shapes (BENCH_SERVER_SHAPES, thumbnails per request: "1 9").
# Every (shape, variant) is a separate process; each round runs all of them
# once in an order rotated per round; tables show medians over rounds (ROUNDS,
# default BENCH_SERVER_ROUNDS or 7) with the min and max round. The server keeps
# 2 x SERVER_THREADS requests in flight (SERVER_DEPTH), SERVER_THREADS
# defaults to 2 x CPUs here, SERVER_REQUESTS (default 300; 2 / 9 as many
# requests of 9 thumbnails) are timed after a warm-up. No target is set (no issue asks for one), so the table has no
# target column; "results agree" compares every run's checksum of the
# resized pixels.
set -euo pipefail
build=${1:?usage: bench_server.sh BUILD_DIR [ROUNDS]}
rounds=${2:-${BENCH_SERVER_ROUNDS:-7}}
exe=$build/benchmarks/bench_server
pthread_lib=$(cd "$build/adapters/pthread" 2>/dev/null && pwd)/liblithe_pthread.so
dropin=$(cd "$build/adapters/omp/dropin" 2>/dev/null && pwd)
[ -x "$exe" ] && [ -f "$pthread_lib" ] && [ -f "$dropin/libgomp.so.1" ] ||
    { echo "bench_server.sh: $exe, $pthread_lib or the drop-in libgomp.so.1 missing" >&2; exit 1; }
cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
threads=${SERVER_THREADS:-$((2 * cpus))}
requests=${SERVER_REQUESTS:-300}
common=(-u OMP_NUM_THREADS -u PARLIB_VCORES SERVER_THREADS="$threads" SERVER_REQUESTS="$requests"
        SERVER_WARMUP=$((2 * threads)))
variants=(stock omp1 srv1 lithe)
lithe_env=(PARLIB_PIN=0 LD_PRELOAD="$pthread_lib" LD_LIBRARY_PATH="$dropin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
variant_env() {  # sets e=(...) for variant $1
    case "$1" in
    stock) e=() ;;
    omp1) e=(OMP_NUM_THREADS=1) ;;
    srv1) e=(SERVER_THREADS=1 SERVER_DEPTH=$((2 * threads))) ;;
    lithe) e=("${lithe_env[@]}") ;;
    esac
}
# The lithe variant must really run on lithe: its OpenMP on liblithe_omp.
probe=$(env "${lithe_env[@]}" LD_DEBUG=libs SERVER_REQUESTS=1 SERVER_WARMUP=0 "$exe" 2>&1 >/dev/null |
    grep -c "calling init: $dropin/libgomp.so.1" || true)
[ "$probe" -ge 1 ] || { echo "bench_server.sh: the drop-in libgomp.so.1 was not loaded" >&2; exit 1; }

raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
# Shapes: thumbnails per request (SERVER_THUMBS): 1 = a pthreads server
# whose requests run one OpenMP filter; 9 = the thesis' server, whose
# requests make 9 thumbnails at once on pthreads of their own.
shapes=${BENCH_SERVER_SHAPES:-1 9}
runs=()
for t in $shapes; do for v in "${variants[@]}"; do runs+=("$t $v"); done; done
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 0; r < rounds; ++r)); do
    for ((k = 0; k < ${#runs[@]}; ++k)); do
        read -r t v <<<"${runs[$(( (k + r) % ${#runs[@]} ))]}"
        variant_env "$v"
        # A request of 9 thumbnails is ~4.5 single resizes of work: time
        # 2 / 9 as many of them, for runs of about the same length.
        n=$(( t == 1 ? requests : requests * 2 / t ))
        if out=$(timeout 300 env "${common[@]}" SERVER_THUMBS="$t" SERVER_REQUESTS="$n" \
                     "${e[@]}" "$exe"); then
            echo "$t $v $n $out" >>"$raw"
        else
            echo "$t $v $n FAILED" >>"$raw"
        fi
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
python3 - "$raw" "$rounds" "$cpus" "$threads" "$requests" "$load_before" "$load_after" <<'PY'
import statistics as st, sys
raw, rounds, cpus, threads, requests, lb, la = sys.argv[1:8]
rows, failed, sums, count = {}, {}, {}, {}
for line in open(raw):
    f = line.split()
    count[f[0]] = int(f[2])
    if f[3] == "FAILED":
        failed[(f[0], f[1])] = failed.get((f[0], f[1]), 0) + 1
        continue
    rows.setdefault((f[0], f[1]), []).append([float(x) for x in f[3:11]])
    sums.setdefault(f[0], set()).add(f[11])
label = {"stock": "stock (NPTL + libgomp)",
         "omp1": "partition omp1 (OMP_NUM_THREADS=1)",
         "srv1": "partition srv1 (1 server thread)",
         "lithe": "lithe (liblithe_pthread + liblithe_omp)"}
fails = ", ".join(f"{label[v]}, {t} thumbnail(s): {n}" for (t, v), n in failed.items()) or "none"
print(f"{rounds} rounds, medians (min-max over rounds); {cpus} CPUs; {threads} server threads, "
      f"{2 * int(threads)} requests in flight; load average before {lb}, after {la}; "
      f"failed or timed-out runs: {fails}.")
def cell(vals, fmt):
    return f"{fmt(st.median(vals))} ({fmt(min(vals))}-{fmt(max(vals))})"
for t in sorted({k[0] for k in rows}, key=int):
    agree = "yes" if len(sums[t]) == 1 else "NO (" + ", ".join(sorted(sums[t])) + ")"
    what = ("one Lanczos resize of a 640x480 RGB image to 55-85% of its size" if t == "1" else
            f"{t} thumbnails of a 640x480 RGB image (20-85% of its size), each a Lanczos resize "
            f"on a pthread of its own")
    print()
    print(f"**{t} thumbnail(s) per request**, {count[t]} timed requests: {what}. "
          f"Results agree: {agree}.")
    print()
    print("| variant | requests/s | p50 latency ms | p99 latency ms | CPU s | CPU ms / request | kernel threads | vol. cs | invol. cs |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    med = {}
    for v in ("stock", "omp1", "srv1", "lithe"):
        if (t, v) not in rows:
            continue
        cols = list(zip(*rows[(t, v)]))  # wall cpu rps p50 p99 threads nvcsw nivcsw
        med[v] = {k: st.median(c) for k, c in
                  zip(("wall", "cpu", "rps", "p50", "p99", "thr", "vcs", "ivcs"), cols)}
        f1, f3 = (lambda x: f"{x:.1f}"), (lambda x: f"{x:.3g}")
        per = [c * 1e3 / count[t] for c in cols[1]]
        print(f"| {label[v]} | {cell(cols[2], f1)} | {cell(cols[3], f3)} | {cell(cols[4], f3)} | "
              f"{cell(cols[1], f3)} | {cell(per, f3)} | {st.median(cols[5]):.0f} | "
              f"{st.median(cols[6]):.0f} | {st.median(cols[7]):.0f} |")
    print()
    if "lithe" in med and "stock" in med:
        l, s = med["lithe"], med["stock"]
        print(f"- lithe vs stock: throughput {l['rps'] / s['rps']:.2f}x, p50 latency "
              f"{l['p50'] / s['p50']:.2f}x, p99 latency {l['p99'] / s['p99']:.2f}x, CPU "
              f"{l['cpu'] / s['cpu']:.2f}x, involuntary switches {s['ivcs'] / max(l['ivcs'], 1):.1f}x fewer.")
        parts = [v for v in ("omp1", "srv1") if v in med]
        if parts:
            best = max(parts, key=lambda v: med[v]["rps"])
            b = med[best]
            print(f"- lithe vs the best partition ({best}): throughput {l['rps'] / b['rps']:.2f}x, "
                  f"p50 latency {l['p50'] / b['p50']:.2f}x, p99 latency {l['p99'] / b['p99']:.2f}x.")
PY
