#!/bin/sh
# check_bindings.sh BIN PRELOAD: runs BIN (linked against the original OpenMP
# runtime) with LD_PRELOAD=PRELOAD under LD_DEBUG=bindings and fails if any
# GOMP_*, __kmpc_* or omp_* symbol binds to libgomp or libomp (original
# runtime code would run), or if none binds to liblithe_omp (the check would be
# vacuous). The program itself must also succeed.
set -u
bin=$1 lib=$2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
LITHE_OMP_EXPECT=1 LD_PRELOAD=$lib LD_DEBUG=bindings \
  LD_DEBUG_OUTPUT=$out/ld "$bin" >/dev/null || { echo "program failed"; exit 1; }
cat "$out"/ld.* > "$out/all"
pat="symbol \`(GOMP_|__kmpc_|omp_)"
bad=$(grep -vE "binding file [^ ]*lib(gomp|omp)[.]" "$out/all" | grep -E "to [^ ]*lib(gomp|omp)[^ ]* \[[0-9]+\]: normal $pat")
if [ -n "$bad" ]; then
  echo "bound to the original runtime:"; echo "$bad"; exit 1
fi
good=$(grep -cE "to [^ ]*liblithe_omp[^ ]* \[[0-9]+\]: normal $pat" "$out/all")
echo "$good OpenMP symbols bound to liblithe_omp, none to libgomp/libomp"
[ "$good" -gt 0 ]
