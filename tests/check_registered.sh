#!/bin/sh
# check_registered.sh BUILD_DIR BIN...: fails if a Catch2 test case of any
# BIN is not registered with CTest under its exact name. catch_discover_tests
# splits a name at ';' into names that match no test case, and Catch2 then
# "passes" having run nothing: such a test would never run.
set -u
dir=$1
shift
names=$(mktemp)
trap 'rm -f "$names"' EXIT
ctest --test-dir "$dir" -N | sed -nE 's/^ *Test +#[0-9]+: //p' >"$names"
missing=0 cases=0
for bin in "$@"; do
  # Catch2 v2 exits with the number of cases listed: judge by the output
  # (empty when every case is hidden, i.e. tagged [.]).
  list=$("$bin" --list-test-names-only)
  while IFS= read -r n; do
    [ -n "$n" ] || continue
    cases=$((cases + 1))
    grep -qxF -- "$n" "$names" || { echo "not registered: $bin: $n"; missing=$((missing + 1)); }
  done <<LIST
$list
LIST
done
echo "$cases test cases in $# binaries, $missing not registered with CTest"
[ "$missing" -eq 0 ] && [ "$cases" -gt 0 ]
