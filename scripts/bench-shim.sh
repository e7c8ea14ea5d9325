#!/usr/bin/env bash
# The shim's side of make bench (make bench-shim runs it alone): berth's idle
# shim beside containerd-shim-runc-v2 and conmon in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
# --- shim and supervisord (issue 5): test/bench/shimbench -------------------
# N containers created and started at once through a private supervisord,
# one idle shim's memory (smaps_rollup) beside containerd-shim-runc-v2 (under a
# private containerd) and conmon (under `podman run -d`, private storage), and
# supervisord's memory with 0 and N containers. Nothing is pulled: both
# comparisons load the offline busybox image.
go build -o bin/shimbench ./test/bench/shimbench
echo "== shim and supervisord (n=${BENCH_SHIM_N:-50})"
bin/shimbench -bin bin -n "${BENCH_SHIM_N:-50}"
# --- floors (issue 13): test/bench/shimfloor ---------------------------------
# The least a Go program serving a unix socket costs here: one that only
# accepts, and one that serves an empty ttrpc server; built as the shim is
# (the Makefile's CGO_shim and LDFLAGS_shim), one alone, then the mean of n
# running at once.
for f in listen ttrpc; do
  CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "bin/shimfloor-$f" "./test/bench/shimfloor/$f"
done
bin/shimbench floor -n "${BENCH_SHIM_N:-50}" -label "floor: Go unix listener" bin/shimfloor-listen
bin/shimbench floor -n "${BENCH_SHIM_N:-50}" -label "floor: Go + empty ttrpc server" bin/shimfloor-ttrpc
shim_cmp=$(mktemp -d /tmp/bshXXXX)
go run ./test/image/mkimage -o "$shim_cmp/bb.tar" >/dev/null
shim_cmp_cleanup() {
  for m in $(grep " $shim_cmp" /proc/mounts | awk '{print $2}' | sort -r); do umount -l "$m" || true; done
  rm -rf "$shim_cmp"
}
trap shim_cmp_cleanup EXIT
if command -v containerd >/dev/null && command -v containerd-shim-runc-v2 >/dev/null; then
  c=$shim_cmp/cd
  mkdir -p "$c"
  printf 'version = 2\nroot = "%s/root"\nstate = "%s/state"\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "%s/c.sock"\n[ttrpc]\n  address = "%s/c.sock.ttrpc"\n' \
    "$c" "$c" "$c" "$c" > "$c/config.toml"
  containerd --config "$c/config.toml" >"$c/log" 2>&1 &
  cd_pid=$!
  for _ in $(seq 100); do [ -S "$c/c.sock" ] && break; sleep 0.1; done
  ctr="ctr -a $c/c.sock -n bench"
  $ctr images import "$shim_cmp/bb.tar" >/dev/null
  $ctr run -d docker.io/library/busybox:latest c1 sleep 1000
  sleep 2
  p=$(pgrep -f -- "containerd-shim-runc-v2 -namespace bench -id c1 -address $c/c.sock" | head -1)
  echo "containerd-shim-runc-v2 (containerd $(containerd --version | awk '{print $3}')), one idle container: $(bin/shimbench mem "$p")"
  $ctr task kill -s 9 c1 >/dev/null 2>&1 || true
  sleep 1
  $ctr task delete c1 >/dev/null 2>&1 || true
  $ctr container delete c1 >/dev/null 2>&1 || true
  $ctr images rm docker.io/library/busybox:latest >/dev/null 2>&1 || true
  kill "$cd_pid"; wait "$cd_pid" || true
else
  echo "bench: containerd-shim-runc-v2 not installed; skipped" >&2
fi
if command -v podman >/dev/null && command -v conmon >/dev/null; then
  c=$shim_cmp/pm
  # cgroupfs and a file event log: no systemd here; nofile/nproc within our
  # own limits (we lack CAP_SYS_RESOURCE to raise them).
  pm="podman --root $c/root --runroot $c/run --storage-driver vfs --cgroup-manager cgroupfs --events-backend file --runtime runc --tmpdir $c/tmp"
  $pm load -q -i "$shim_cmp/bb.tar" >/dev/null 2>&1
  $pm run -d --pull never --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --name c1 localhost/busybox:latest sleep 1000 >/dev/null
  sleep 2
  p=$(pgrep -f -- "conmon .*--root $c/root|conmon .*$c/" | head -1)
  echo "conmon $(conmon --version | awk 'NR==1{print $3}') (podman run -d), one idle container: $(bin/shimbench mem "$p")"
  $pm rm -f -t 0 c1 >/dev/null 2>&1 || true
  $pm rmi -a -f >/dev/null 2>&1 || true
else
  echo "bench: podman/conmon not installed; skipped" >&2
fi

