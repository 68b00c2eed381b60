#!/bin/bash
# tests/omp/conformance/run.sh [BUILD] [gomp|llvm|all]: runs the libgomp
# testsuite (Debian's gcc-12-source) and LLVM 14's libomp runtime tests
# (Debian's llvm-toolchain-14 source package) against lithe-omp and prints
# pass/fail counts and every failure with its cause. Not in CI (minutes).
# Results and how to read them: docs/omp.md, "Conformance".
#
# BUILD (default build/h) must hold a built tree (targets lithe_omp_as_gomp,
# lithe_omp_as_omp). Each test is compiled with the stock compiler flags
# (gcc -fopenmp for libgomp's, clang-14 -fopenmp for libomp's) and run
# *unmodified* with LD_LIBRARY_PATH=BUILD/adapters/omp/dropin, so it runs on
# lithe-omp and the original runtime is never loaded; with STOCK=1 the same
# binaries run on the original runtime instead (the reference numbers).
# Outcome per test: PASS (exit 0, or non-zero for dg-shouldfail), FAIL
# (exit status, with the first line of stderr), TIMEOUT (TIMEOUT seconds,
# default 30), UNIMPL (stopped naming an entry point lithe-omp does not
# implement: the name is the cause), and SKIP (not a run test, needs
# offloading or a feature the harness does not model, or does not compile).
# Binaries are kept and reused while newer than their sources.
# Work and logs go to ${WORK:-/tmp/lithe-omp-conformance}.
#
# Sources: gcc-12-source is installed with apt-get if missing (root). For
# the LLVM tests `apt-get source llvm-toolchain-14` needs a deb-src entry:
# the script uses a private sources list (Dir::Etc::sourcelist) rather
# than changing the system's. The LLVM harness approximates lit: tests whose
# RUN line is %libomp-compile-and-run (or the C++ form) are compiled with
# clang-14 -fopenmp -I<test dir> and run; REQUIRES/UNSUPPORTED lines naming
# ompt, ompd, libomp-specific env, or other compilers are skipped.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build/h}" && pwd)
WHICH=${2:-all}
WORK=${WORK:-/tmp/lithe-omp-conformance}
TIMEOUT=${TIMEOUT:-30}
DROPIN=$BUILD/adapters/omp/dropin
[ -e "$DROPIN/libgomp.so.1" ] && [ -e "$DROPIN/libomp.so.5" ] || {
  echo "no drop-in libraries in $DROPIN: build lithe_omp_as_gomp lithe_omp_as_omp"; exit 1; }
mkdir -p "$WORK"
# Harts as in the tests: unpinned (this VM kind starves pinned vcores).
export PARLIB_PIN=${PARLIB_PIN:-0}

# run_one NAME BIN SHOULDFAIL: runs BIN, appends "OUTCOME NAME cause" to
# $RESULTS.
run_one() {
  local name=$1 bin=$2 shouldfail=$3 err rc env
  if [ "${STOCK:-0}" = 1 ]; then env=(); else env=(LD_LIBRARY_PATH=$DROPIN); fi
  err=$(cd "$(dirname "$bin")" && env "${env[@]}" timeout "$TIMEOUT" "$bin" 2>&1 >/dev/null)
  rc=$?
  if [ $rc = 124 ]; then echo "TIMEOUT $name" >> "$RESULTS"; return; fi
  local un
  un=$(printf '%s\n' "$err" | grep -oE "lithe-omp: [A-Za-z0-9_]+ is not implemented" | head -1 | awk '{print $2}')
  if [ -n "$un" ]; then echo "UNIMPL $name $un" >> "$RESULTS"; return; fi
  if { [ $rc = 0 ] && [ "$shouldfail" = 0 ]; } || { [ $rc != 0 ] && [ "$shouldfail" = 1 ]; }; then
    echo "PASS $name" >> "$RESULTS"
  else
    echo "FAIL $name exit=$rc $(printf '%s' "$err" | grep -v '^$' | head -1 | cut -c1-120)" >> "$RESULTS"
  fi
}

# fresh OUT SRC...: OUT exists and is newer than every SRC, so a second run
# (STOCK=1 after lithe-omp, or after a rebuild of lithe-omp) reuses the
# binaries instead of compiling about 800 programs again.
fresh() {
  local out=$1 s
  shift
  [ -e "$out" ] || return 1
  for s in "$@"; do [ "$out" -nt "$s" ] || return 1; done
}

summary() {
  local what=$1
  echo "== $what: $(grep -c '^PASS' "$RESULTS") pass, $(grep -c '^FAIL' "$RESULTS") fail, $(grep -c '^TIMEOUT' "$RESULTS") timeout, $(grep -c '^UNIMPL' "$RESULTS") unimplemented, $(grep -c '^SKIP' "$RESULTS") skipped ($RESULTS)"
  grep -vE '^(PASS|SKIP)' "$RESULTS" | sort
  echo "-- unimplemented entry points, by number of tests:"
  grep '^UNIMPL' "$RESULTS" | awk '{print $3}' | sort | uniq -c | sort -rn
}

gomp() {
  local src=$WORK/gcc-12.2.0/libgomp/testsuite
  if [ ! -d "$src" ]; then
    local tar
    tar=$(ls /usr/src/gcc-12/gcc-12*.tar.xz 2>/dev/null | head -1)
    if [ -z "$tar" ]; then
      apt-get install -y -qq gcc-12-source >/dev/null || { echo "cannot install gcc-12-source"; return 1; }
      tar=$(ls /usr/src/gcc-12/gcc-12*.tar.xz | head -1)
    fi
    tar -xJf "$tar" -C "$WORK" --wildcards 'gcc-12*/libgomp/testsuite/*'
    src=$(ls -d "$WORK"/gcc-12*/libgomp/testsuite | head -1)
  fi
  RESULTS=$WORK/gomp.${STOCK:+stock.}results
  : > "$RESULTS"
  local bin=$WORK/gomp-bin
  mkdir -p "$bin"
  local f
  for f in "$src"/libgomp.c/*.c "$src"/libgomp.c-c++-common/*.c; do
    local name=${f#$src/} opts extra shouldfail=0
    if ! grep -qE '\{ *dg-do +run' "$f" && grep -qE '\{ *dg-do +(compile|link|preprocess|assemble)' "$f"; then
      echo "SKIP $name not-run" >> "$RESULTS"; continue
    fi
    if grep -qE 'offload|target +(nvptx|amdgcn|\*-\*-(mingw|cygwin|darwin))|dg-require-effective-target +(offload|tls_runtime_not|vect_|avx512|fopenmp_hsa|hsa|lto)' "$f"; then
      echo "SKIP $name offload/target" >> "$RESULTS"; continue
    fi
    grep -qE 'dg-shouldfail' "$f" && shouldfail=1
    opts=$(grep -oE '\{ *dg-(additional-)?options +"[^"]*"' "$f" | sed -E 's/.*"([^"]*)"/\1/' | tr '\n' ' ')
    extra=$(grep -oE '\{ *dg-additional-sources +"?[^"}]*"?' "$f" | sed -E 's/.*sources +"?([^"}]*)"?/\1/' | tr '\n' ' ')
    local srcs=("$f") s
    for s in $extra; do srcs+=("$(dirname "$f")/$s"); done
    local out=$bin/$(echo "$name" | tr '/' '_').exe
    if ! fresh "$out" "${srcs[@]}" &&
       ! gcc -fopenmp -O2 -w -I"$(dirname "$f")" -I"$src/../" $opts "${srcs[@]}" -o "$out" -lm \
         >/dev/null 2>&1; then
      echo "SKIP $name does-not-compile" >> "$RESULTS"; continue
    fi
    run_one "$name" "$out" "$shouldfail"
  done
  summary "libgomp testsuite (gcc-12, $( [ "${STOCK:-0}" = 1 ] && echo libgomp || echo lithe-omp drop-in))"
}

llvm() {
  local src
  src=$(ls -d "$WORK"/llvm-toolchain-14*/openmp/runtime/test 2>/dev/null | head -1)
  if [ -z "$src" ]; then
    local sl=$WORK/apt-src
    mkdir -p "$sl/lists/partial"
    echo "deb-src http://deb.debian.org/debian bookworm main" > "$sl/sources.list"
    local o=(-o "Dir::Etc::sourcelist=$sl/sources.list" -o "Dir::Etc::sourceparts=-"
             -o "Dir::State::Lists=$sl/lists" -o "APT::Get::List-Cleanup=0")
    apt-get "${o[@]}" update -qq >/dev/null &&
      (cd "$WORK" && apt-get "${o[@]}" source -qq --download-only llvm-toolchain-14 >/dev/null) ||
      { echo "cannot fetch the llvm-toolchain-14 source package"; return 1; }
    local orig
    orig=$(ls "$WORK"/llvm-toolchain-14_*.orig.tar.* | head -1)
    tar -xf "$orig" -C "$WORK" --wildcards '*/openmp/runtime/test/*'
    src=$(ls -d "$WORK"/llvm-toolchain-14*/openmp/runtime/test | head -1)
  fi
  RESULTS=$WORK/llvm.${STOCK:+stock.}results
  : > "$RESULTS"
  local bin=$WORK/llvm-bin
  mkdir -p "$bin"
  local f
  while IFS= read -r f; do
    local name=${f#$src/} cc=clang-14
    case $f in *.cpp) cc=clang++-14 ;; esac
    if ! grep -qE 'RUN: *%libomp-(cxx-)?compile-and-run *$' "$f"; then
      echo "SKIP $name run-line" >> "$RESULTS"; continue
    fi
    if grep -qE '(REQUIRES|UNSUPPORTED):.*(ompt|ompd|abt|hwloc|icc|gcc|clang-[0-9]|openmp-[0-9]|linux)' "$f"; then
      echo "SKIP $name requires" >> "$RESULTS"; continue
    fi
    local out=$bin/$(echo "$name" | tr '/' '_').exe
    if ! fresh "$out" "$f" &&
       ! $cc -fopenmp -O1 -w -I"$src" -I"$(dirname "$f")" "$f" -o "$out" -lm -lpthread >/dev/null 2>&1; then
      echo "SKIP $name does-not-compile" >> "$RESULTS"; continue
    fi
    run_one "$name" "$out" 0
  done < <(find "$src" -name '*.c' -o -name '*.cpp' | sort)
  summary "LLVM 14 libomp tests ($( [ "${STOCK:-0}" = 1 ] && echo libomp || echo lithe-omp drop-in))"
}

case $WHICH in
  gomp) gomp ;;
  llvm) llvm ;;
  all) gomp; llvm ;;
  *) echo "usage: $0 [BUILD] [gomp|llvm|all]"; exit 2 ;;
esac
