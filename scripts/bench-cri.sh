#!/usr/bin/env bash
# critest's own benchmarks (critest -benchmark: pod lifecycle, container
# lifecycle, image pull/status/remove and listing, pod-and-container start)
# against supervisord's CRI server and against a private containerd's CRI
# plugin, one after the other in one run, printed as medians and ratios
# (make bench runs it; alone: scripts/bench-cri.sh). Timings belong here,
# never in tests.
#
# Both pull the same offline stand-in images (scripts/critest-images.sh:
# busybox and pause, which containerd's sandboxes need) from one local
# docker-registry through their registry mirror settings, and attach pods
# to a CNI bridge of their own (Debian's plugins).
#   BENCH_CRI_N   samples per benchmark (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${BENCH_CRI_N:-10}
BIN=${BIN:-$PWD/bin}
CRITEST=${CRITEST:-$(command -v critest || true)}
for t in "$CRITEST" containerd docker-registry; do
  if [ -z "$t" ] || ! command -v "$t" >/dev/null; then
    echo "bench-cri: ${t:-critest} not installed; skipped (make deps installs critest)" >&2
    exit 0
  fi
done
[ "$(id -u)" -eq 0 ] || { echo "bench-cri: needs root" >&2; exit 1; }

w=$(mktemp -d /var/tmp/bcri.XXXXXX)
regpid='' daemon='' sock=''
bridge=bcri$$
stop_daemon() {
  [ -n "$daemon" ] || return 0
  # what a failed spec left: its pods (and so their shims and containers)
  command -v crictl >/dev/null && crictl --runtime-endpoint "unix://$sock" rmp -f -a >/dev/null 2>&1
  kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
  daemon=''
}
cleanup() {
  local rc=$?
  set +e
  stop_daemon
  [ -n "$regpid" ] && kill "$regpid" && wait "$regpid" 2>/dev/null
  grep -o " $w[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
  ip link del "$bridge" 2>/dev/null
  if [ "$rc" != 0 ]; then
    mkdir -p "$w.logs" && cp "$w"/*.log "$w.logs/" 2>/dev/null && echo "bench-cri: logs kept in $w.logs" >&2
  fi
  rm -rf "$w"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
waitsock() { for _ in $(seq 300); do [ -S "$1" ] && return 0; sleep 0.1; done; echo "bench-cri: $1 never appeared" >&2; return 1; }

# The registry of stand-ins.
port=$((20000 + RANDOM % 20000))
reg=127.0.0.1:$port
mkdir -p "$w/reg"
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s/reg/data\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n' "$w" "$reg" >"$w/reg/config.yml"
docker-registry serve "$w/reg/config.yml" >"$w/registry.log" 2>&1 &
regpid=$!
for _ in $(seq 50); do curl -fsS "http://$reg/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
ONLY="e2e-test-images/busybox pause" REGISTRY=$reg ./scripts/critest-images.sh >"$w/images.log"
img=registry.k8s.io/e2e-test-images/busybox:1.29-2

# One CNI network for both (they run one after the other).
mkdir -p "$w/net.d"
cat >"$w/net.d/10-bench.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "$bridge",
  "plugins": [
    {"type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": false,
     "ipam": {"type": "host-local", "dataDir": "$w/ipam", "ranges": [[{"subnet": "10.89.$((RANDOM % 200)).0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON

cat >"$w/params.yaml" <<YAML
podsNumber: $n
podsNumberParallel: 1
containersNumber: $n
containersNumberParallel: 1
imagesNumber: $n
imagesNumberParallel: 1
# critest fails a spec slower than these; here they are measured, not judged.
podBenchmarkTimeoutSeconds: 120
containerBenchmarkTimeoutSeconds: 120
imageBenchmarkTimeoutSeconds: 120
podContainerStartBenchmarkTimeoutSeconds: 120
imagePullingBenchmarkImage: $img
imageListingBenchmarkImages: [$img]
YAML

run_critest() { # name
  mkdir -p "$w/out/$1"
  "$CRITEST" -benchmark --runtime-endpoint "unix://$sock" --image-endpoint "unix://$sock" \
    -benchmarking-params-file "$w/params.yaml" -benchmarking-output-dir "$w/out/$1" \
    --ginkgo.json-report="$w/out/$1/report.json" --ginkgo.no-color >"$w/critest-$1.log" 2>&1 ||
    { echo "bench-cri: critest -benchmark against $1 failed:" >&2; tail -30 "$w/critest-$1.log" >&2; return 1; }
}

# berth: a private supervisord with its CRI server.
sock=$w/berth/cri.sock
mirrors=()
for h in registry.k8s.io k8s.gcr.io gcr.io; do mirrors+=(--registry-mirror "$h=http://$reg"); done
"$BIN/supervisord" --root "$w/berth/root" --state "$w/berth/state" --address "$w/berth/sv.sock" \
  --cri-address "$sock" --cni-conf-dir "$w/net.d" --pause-path "$BIN/pause" \
  --insecure-registry "$reg" "${mirrors[@]}" --log-level warn 2>"$w/supervisord.log" &
daemon=$!
waitsock "$sock"
run_critest berth
stop_daemon

# containerd: private root, state and sockets, its CRI plugin with runc,
# the same mirror (hosts.toml per registry) and CNI network.
c=$w/containerd
for h in registry.k8s.io k8s.gcr.io gcr.io; do
  mkdir -p "$c/certs.d/$h"
  printf 'server = "http://%s"\n[host."http://%s"]\n  capabilities = ["pull", "resolve"]\n' "$reg" "$reg" >"$c/certs.d/$h/hosts.toml"
done
cat >"$c/config.toml" <<TOML
version = 2
root = "$c/root"
state = "$c/state"
[grpc]
  address = "$c/containerd.sock"
[ttrpc]
  address = "$c/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.6"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # This host grants no CAP_SYS_RESOURCE: no process may go below its
  # parent's oom_score_adj (berth clamps the same way).
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$w/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$c/certs.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
TOML
sock=$c/containerd.sock
# As scripts/bench-start.sh does: runc 1.1 fails to start a container on a
# hybrid cgroup host whose unified hierarchy lists controllers ("can't get
# final child's PID from pipe"); mask that file in containerd's own mount
# namespace (its shims and runc inherit it).
unshare -m sh -c '
  f=/sys/fs/cgroup/unified/cgroup.controllers
  if grep -q . "$f" 2>/dev/null; then mount --bind /dev/null "$f"; fi
  exec "$@"' sh containerd --config "$c/config.toml" >"$w/containerd.log" 2>&1 &
daemon=$!
waitsock "$sock"
run_critest containerd
stop_daemon

echo "== CRI: critest -benchmark, berth's CRI beside containerd $(containerd --version | awk '{print $3}') (n=$n)"
go run ./test/bench/cribench -a "berth=$w/out/berth" -b "containerd=$w/out/containerd"
