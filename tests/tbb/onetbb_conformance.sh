#!/usr/bin/env bash
# onetbb_conformance.sh SRC_DIR LIBLITHE_TBB OUT_DIR [TEST...]: builds
# oneTBB's own conformance tests (test/conformance/*.cpp of Debian's onetbb
# source package, `apt-get source onetbb`; doctest is bundled) against the
# installed libtbb, and runs each one twice: on TBB's private pool (ref)
# and with LD_PRELOAD=LIBLITHE_TBB (lithe, PARLIB_PIN=0 so that TBB sees
# every CPU, LITHE_TBB_REPORT=1). Prints one line per test, "name ref=RC
# lithe=RC on-lithe=yes|no" (the adapter's exit report), and a summary;
# logs go to OUT_DIR. Not part of CTest (it needs the source
# package and takes minutes); results are recorded in docs/tbb.md.
# Environment: PARLIB_VCORES as usual; JOBS parallel compiles (default 2);
# TEST_TIMEOUT seconds per run (default 120); REF=0 skips the reference
# runs, which do not depend on PARLIB_VCORES (prints "ref=-"; a lithe
# failure then counts as "fail where ref passes": compare with a full run).
set -u
src=${1:?usage: onetbb_conformance.sh SRC_DIR LIBLITHE_TBB OUT_DIR [TEST...]}
lib=${2:?}
out=${3:?}
shift 3
mkdir -p "$out"
tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
    for f in "$src"/test/conformance/conformance_*.cpp; do
        tests+=("$(basename "$f" .cpp)")
    done
fi
build_one() {
    local t=$1
    [ -x "$out/$t" ] && return 0
    g++ -std=c++17 -O1 -g0 -I"$src" -I"$src/test" -I"$src/include" \
        "$src/test/conformance/$t.cpp" -o "$out/$t" -ltbb -pthread \
        >"$out/$t.build.log" 2>&1
}
export -f build_one
export src out
printf '%s\n' "${tests[@]}" | xargs -P "${JOBS:-2}" -I{} bash -c 'build_one {}'
pass=0 fail=0 both=0 built=0
for t in "${tests[@]}"; do
    if [ ! -x "$out/$t" ]; then
        echo "$t build-failed"
        continue
    fi
    built=$((built + 1))
    if [ "${REF:-1}" = 0 ]; then
        r=-
    else
        timeout "${TEST_TIMEOUT:-120}" "$out/$t" >"$out/$t.ref.log" 2>&1
        r=$?
    fi
    timeout "${TEST_TIMEOUT:-120}" env PARLIB_PIN=0 LITHE_TBB_REPORT=1 LD_PRELOAD="$lib" "$out/$t" >"$out/$t.lithe.log" 2>&1
    l=$?
    on=no
    grep -q "TBB ran on lithe: yes" "$out/$t.lithe.log" && on=yes
    echo "$t ref=$r lithe=$l on-lithe=$on"
    if ((l == 0)); then pass=$((pass + 1)); elif [ "$r" = 0 ] || [ "$r" = - ]; then fail=$((fail + 1)); else both=$((both + 1)); fi
done
echo "built $built of ${#tests[@]}; on lithe: $pass pass, $fail fail where ref passes, $both fail in both"
