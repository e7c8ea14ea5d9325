#!/usr/bin/env bash
# make bench: berth side by side with the other runtimes installed here, in
# one run, as medians and ratios. Timings belong here, never in tests.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${BENCH_N:-50}

runtimes=("$PWD/bin/runtime")
for r in runc crun; do
  if p=$(command -v "$r"); then runtimes+=("$p"); else echo "bench: $r not installed; skipped" >&2; fi
done
for r in containerd podman; do
  command -v "$r" >/dev/null || echo "bench: $r not installed; its comparisons are not run" >&2
done

go build -o bin/runtimebench ./test/bench/runtimebench
echo "== OCI runtime: create+start+wait+delete and run of 'true' (n=$n)"
# crun 1.8 refuses hybrid cgroup hosts whose unified hierarchy lists
# controllers; mask that file in a private mount namespace for every runtime
# alike, so they are compared on equal terms.
unshare -m sh -c '
  f=/sys/fs/cgroup/unified/cgroup.controllers
  if [ -s "$f" ]; then mount --bind /dev/null "$f"; fi
  exec "$@"' sh bin/runtimebench -n "$n" "${runtimes[@]}"
