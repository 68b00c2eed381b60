#!/bin/sh
# expect_abort.sh REGEX CMD...: passes iff CMD exits unsuccessfully and its
# stderr matches REGEX (an unimplemented entry point must stop the program
# with a message naming it).
re=$1
shift
err=$("$@" 2>&1 >/dev/null) && { echo "unexpectedly succeeded"; exit 1; }
echo "$err" | grep -qE "$re" || { echo "wrong message: $err"; exit 1; }
echo "stopped as expected: $(echo "$err" | grep -E "$re")"
