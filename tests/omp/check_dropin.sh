#!/bin/sh
# check_dropin.sh BIN DIR: runs BIN, linked against the original OpenMP
# runtime (libgomp.so.1 or libomp.so.5), unmodified, with
# LD_LIBRARY_PATH=DIR, where DIR holds liblithe_omp under those sonames
# (adapters/omp/dropin). Fails unless
#   - the program succeeds (LITHE_OMP_EXPECT=1: its lithe-only checks run,
#     e.g. omp_nested's "members ran on <= harts kernel threads"),
#   - no libgomp/libomp outside DIR is loaded at all (LD_DEBUG=files: no
#     "calling init" of one), so none of its code runs and it starts no
#     threads,
#   - no GOMP_/__kmpc_/omp_ symbol binds to a libgomp/libomp outside DIR,
#     and some bind to DIR's (LD_DEBUG=bindings; else the check is vacuous).
set -u
bin=$1
dir=$(cd "$2" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
LITHE_OMP_EXPECT=1 LD_LIBRARY_PATH=$dir LD_DEBUG=bindings,files \
  LD_DEBUG_OUTPUT=$out/ld "$bin" >/dev/null || { echo "program failed"; exit 1; }
cat "$out"/ld.* > "$out/all"
orig=$(grep -E "calling init: [^ ]*lib(gomp|omp)[.]so" "$out/all" | grep -v "init: $dir/")
if [ -n "$orig" ]; then
  echo "the original runtime was loaded:"; echo "$orig"; exit 1
fi
grep -qE "calling init: $dir/lib(gomp|omp)[.]so" "$out/all" ||
  { echo "the drop-in library was not loaded"; exit 1; }
pat="symbol \`(GOMP_|__kmpc_|omp_)"
bad=$(grep -E "to [^ ]*lib(gomp|omp)[.]so[^ ]* \[[0-9]+\]: normal $pat" "$out/all" | grep -v " to $dir/")
if [ -n "$bad" ]; then
  echo "bound to the original runtime:"; echo "$bad"; exit 1
fi
good=$(grep -cE "to $dir/lib(gomp|omp)[.]so[^ ]* \[[0-9]+\]: normal $pat" "$out/all")
echo "$good OpenMP symbols bound to $dir, original runtime not loaded"
[ "$good" -gt 0 ]
