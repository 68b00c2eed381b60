#!/bin/sh
# check_same.sh NAME PRELOAD DROPIN_DIR NEED CMD...: third-party code gives
# identical results on lithe-omp and on the stock runtime. Runs CMD (which
# must write its result to the path it gets in place of @OUT@ in its
# arguments, e.g. ppm:@OUT@)
#   stock    as installed (libgomp),
#   preload  LD_PRELOAD=PRELOAD (liblithe_omp.so),
#   dropin   LD_LIBRARY_PATH=DROPIN_DIR (liblithe_omp as libgomp.so.1),
# and compares the three result files byte for byte (cmp). The lithe runs
# are made under LD_DEBUG=bindings: no GOMP_/omp_ symbol may bind to a
# libgomp outside DROPIN_DIR, and some must bind to lithe-omp (else the
# library did not use OpenMP and the comparison proves nothing). Exits 77
# (skipped) with a message if NEED, a file the test needs (the Debian
# package's library or program), is absent. OMP_NUM_THREADS and
# PARLIB_VCORES pass through.
set -u
name=$1 preload=$2 dropin=$3 need=$4
shift 4
if [ ! -e "$need" ]; then
  echo "SKIPPED: $need not installed (apt-get install the package; see docs/omp.md)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# run MODE VAR=VALUE...: CMD in the environment plus the assignments.
run() {
  mode=$1
  shift
  for a in $CMD; do
    case $a in *@OUT@*) a=$(printf '%s' "$a" | sed "s|@OUT@|$tmp/$mode|") ;; esac
    set -- "$@" "$a"
  done
  env "$@" > "$tmp/log.$mode" 2>&1 ||
    { echo "$name: $mode run failed:"; cat "$tmp/log.$mode"; exit 1; }
}
CMD="$*"
pat="symbol \`(GOMP_|omp_)"
run stock
run preload LD_PRELOAD=$preload LD_DEBUG=bindings LD_DEBUG_OUTPUT=$tmp/ld.preload
run dropin LD_LIBRARY_PATH=$dropin LD_DEBUG=bindings LD_DEBUG_OUTPUT=$tmp/ld.dropin
for mode in preload dropin; do
  cat "$tmp"/ld.$mode.* > "$tmp/b.$mode"
  [ -s "$tmp/stock" ] || { echo "$name: no result written"; exit 1; }
  bad=$(grep -E "to [^ ]*libgomp[^ ]* \[[0-9]+\]: normal $pat" "$tmp/b.$mode" |
        grep -v " to $dropin/")
  [ -z "$bad" ] || { echo "$name: $mode: bound to libgomp:"; echo "$bad"; exit 1; }
  good=$(grep -cE "to [^ ]*(liblithe_omp|$dropin/libgomp)[^ ]* \[[0-9]+\]: normal $pat" "$tmp/b.$mode")
  [ "$good" -gt 0 ] || { echo "$name: $mode: no OpenMP symbol bound to lithe-omp"; exit 1; }
  cmp "$tmp/stock" "$tmp/$mode" ||
    { echo "$name: $mode result differs from stock"; exit 1; }
done
echo "$name: stock, preload and dropin results identical ($(wc -c < "$tmp/stock") bytes)"
