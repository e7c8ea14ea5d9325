#!/bin/bash
# Interleaved A/B of CPU time: perf stat task-clock (ms, user+sys of all
# threads) of two binaries run alternately N times with the same arguments;
# wall clock is noise on a shared machine, CPU time much less.
#   scripts/cpu-ab.sh N BIN_A BIN_B ARGS...
N=$1; shift; A=$1; B=$2; shift 2
for i in $(seq $N); do
  for bin in $A $B; do
    v=$(perf stat -x, -e task-clock $bin "$@" 2>&1 >/dev/null | awk -F, '/task-clock/{print $1}')
    echo "$(basename $bin) $v"
  done
done
