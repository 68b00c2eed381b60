#!/usr/bin/env bash
# shutdown_loop.sh BINARY N MODE [ENV...]: runs `BINARY MODE` N times (with
# the given VAR=value environment, e.g. LD_PRELOAD=...), each under a time
# limit (SHUTDOWN_LOOP_LIMIT_S, default 20 s); fails on the first crash,
# run over the limit (a hang, or a wait the limit is there to catch) or
# wrong result. CTest runs it with N=250 for each of linked/preloaded x
# finalize/exit (1000 runs), and with long worker rests and a 5 s limit
# (shutdown_long_rests); for a soak of one kind:
#   tests/tbb/shutdown_loop.sh build/dbg/tests/tbb/tbb_shutdown_linked 1000 exit
set -u
bin=$1 n=$2 mode=$3
shift 3
limit=${SHUTDOWN_LOOP_LIMIT_S:-20}
for ((i = 1; i <= n; ++i)); do
    timeout "$limit" env "$@" "$bin" "$mode"
    rc=$?
    if ((rc != 0)); then
        echo "run $i of $n: exit status $rc ($([[ $rc == 124 ]] && echo "over the ${limit} s limit" || echo failure))" >&2
        exit 1
    fi
done
echo "$n runs of $(basename "$bin") $mode: ok"
