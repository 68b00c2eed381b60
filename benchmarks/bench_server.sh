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
# Every variant is a separate process; each round runs all of them once in
# an order rotated per round; tables show medians over rounds (ROUNDS,
# default BENCH_SERVER_ROUNDS or 7) with the min and max round. The server keeps
# 2 x SERVER_THREADS requests in flight (SERVER_DEPTH), SERVER_THREADS
# defaults to 2 x CPUs here, SERVER_REQUESTS (default 300) are timed after
# a warm-up. No target is set (no issue asks for one), so the table has no
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
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 0; r < rounds; ++r)); do
    for ((k = 0; k < ${#variants[@]}; ++k)); do
        v=${variants[$(( (k + r) % ${#variants[@]} ))]}
        variant_env "$v"
        if out=$(timeout 300 env "${common[@]}" "${e[@]}" "$exe"); then
            echo "$v $out" >>"$raw"
        else
            echo "$v FAILED" >>"$raw"
        fi
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
python3 - "$raw" "$rounds" "$cpus" "$threads" "$requests" "$load_before" "$load_after" <<'PY'
import statistics as st, sys
raw, rounds, cpus, threads, requests, lb, la = sys.argv[1:8]
rows, failed, sums = {}, {}, set()
for line in open(raw):
    f = line.split()
    if f[1] == "FAILED":
        failed[f[0]] = failed.get(f[0], 0) + 1
        continue
    rows.setdefault(f[0], []).append([float(x) for x in f[1:9]])
    sums.add(f[9])
label = {"stock": "stock (NPTL + libgomp)",
         "omp1": "partition omp1 (OMP_NUM_THREADS=1)",
         "srv1": "partition srv1 (1 server thread)",
         "lithe": "lithe (liblithe_pthread + liblithe_omp)"}
fails = ", ".join(f"{label[v]}: {n}" for v, n in failed.items()) or "none"
print(f"{rounds} rounds, medians (min-max over rounds); {cpus} CPUs; {threads} server threads, "
      f"{2 * int(threads)} requests in flight, {requests} timed requests of a GraphicsMagick "
      f"Lanczos resize of a 640x480 RGB image to 55-85% of its size; load average before {lb}, "
      f"after {la}; failed or timed-out runs: {fails}. Results agree: "
      f"{'yes' if len(sums) == 1 else 'NO (' + ', '.join(sorted(sums)) + ')'}.")
print()
print("| variant | requests/s | p50 latency ms | p99 latency ms | CPU s | CPU ms / request | kernel threads | vol. cs | invol. cs |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
med = {}
def cell(vals, fmt):
    return f"{fmt(st.median(vals))} ({fmt(min(vals))}-{fmt(max(vals))})"
for v in ("stock", "omp1", "srv1", "lithe"):
    if v not in rows:
        continue
    cols = list(zip(*rows[v]))  # wall cpu rps p50 p99 threads nvcsw nivcsw
    med[v] = {k: st.median(c) for k, c in zip(("wall", "cpu", "rps", "p50", "p99", "thr", "vcs", "ivcs"), cols)}
    f1, f3 = (lambda x: f"{x:.1f}"), (lambda x: f"{x:.3g}")
    per = [c * 1e3 / int(requests) for c in cols[1]]
    print(f"| {label[v]} | {cell(cols[2], f1)} | {cell(cols[3], f3)} | {cell(cols[4], f3)} | "
          f"{cell(cols[1], f3)} | {cell(per, f3)} | {st.median(cols[5]):.0f} | {st.median(cols[6]):.0f} | "
          f"{st.median(cols[7]):.0f} |")
print()
if "lithe" in med and "stock" in med:
    l, s = med["lithe"], med["stock"]
    print(f"- lithe vs stock: throughput {l['rps'] / s['rps']:.2f}x, p50 latency {l['p50'] / s['p50']:.2f}x, "
          f"p99 latency {l['p99'] / s['p99']:.2f}x, CPU {l['cpu'] / s['cpu']:.2f}x, "
          f"involuntary switches {s['ivcs'] / max(l['ivcs'], 1):.1f}x fewer.")
    parts = [v for v in ("omp1", "srv1") if v in med]
    if parts:
        best = max(parts, key=lambda v: med[v]["rps"])
        b = med[best]
        print(f"- lithe vs the best partition ({best}): throughput {l['rps'] / b['rps']:.2f}x, "
              f"p50 latency {l['p50'] / b['p50']:.2f}x, p99 latency {l['p99'] / b['p99']:.2f}x.")
PY
