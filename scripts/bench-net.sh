#!/usr/bin/env bash
# make bench, networking (issue 10), side by side with podman in one run:
#  - the time the default network adds to `run --rm busybox true` (berth:
#    docker CLI against a private engined; podman: its CNI bridge, private
#    root and network config), as the difference of medians with and
#    without the network;
#  - TCP throughput from the host to a container through a published port
#    (127.0.0.1:P, DNAT) beside the same container reached straight over
#    its veth (its address), with berth and with podman (ratio to veth).
# All traffic stays between the host and the benchmark's own bridges.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${BENCH_NET_N:-20}
secs=${BENCH_NET_SECS:-3}
CGO_ENABLED=0 go build -o bin/tcpbench ./test/bench/tcpbench

nb=$(mktemp -d /tmp/bnXXXX)
bridge=bnet$$ table=berth_bnet$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  ip link del "$bridge" 2>/dev/null || true
  nft delete table ip "$table" 2>/dev/null || true
  nft delete table ip6 "$table" 2>/dev/null || true
  for m in $(grep " $nb" /proc/mounts | awk '{print $2}' | sort -r); do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$nb"
}
trap cleanup EXIT

median_ms() { # command...: median wall time of n runs
  local i t0 t1; local -a ts=()
  for i in $(seq "$n"); do
    t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N)
    ts+=($(( (t1 - t0) / 1000000 )))
  done
  printf '%s\n' "${ts[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
median3() { sort -n | sed -n 2p; }

bin/supervisord --root "$nb/sup" --state "$nb/run" --address "$nb/sup.sock" >"$nb/sup.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$nb/sup.sock" ] && break; sleep 0.1; done
bin/engined -H "unix://$nb/eng.sock" --data-root "$nb/eng" --exec-root "$nb/engrun" --supervisor "unix://$nb/sup.sock" \
  --default-bridge "$bridge" --nft-table "$table" >"$nb/eng.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$nb/eng.sock" ] && break; sleep 0.1; done
d="env DOCKER_HOST=unix://$nb/eng.sock DOCKER_CONFIG=$nb docker"
go run ./test/image/mkimage -o "$nb/bb.tar" >/dev/null
$d load -q -i "$nb/bb.tar" >/dev/null

echo "== networking (n=$n, median ms; throughput: median of 3 runs of ${secs}s, MB/s)"
def=$(median_ms $d run --rm busybox true)
none=$(median_ms $d run --rm --network none busybox true)
echo "berth  run --rm true: bridge $def, none $none: the network adds $((def - none)) ms"

# Throughput: a sink in a container, the sender on the host.
throughput() { # label run-prefix...: prints "veth V published P ratio R"
  local ip=$1 port=$2 i; local -a v=() p=()
  for i in 1 2 3; do
    v+=($(bin/tcpbench send -addr "$ip:5001" -d "${secs}s"))
    p+=($(bin/tcpbench send -addr "127.0.0.1:$port" -d "${secs}s"))
  done
  local vm pm
  vm=$(printf '%s\n' "${v[@]}" | median3)
  pm=$(printf '%s\n' "${p[@]}" | median3)
  echo "veth $vm, published port $pm ($(awk -v a="$pm" -v b="$vm" 'BEGIN{printf "%.2f", a/b}')x veth)"
}
$d run -d --name sink -p 127.0.0.1::5001 -v "$PWD/bin/tcpbench:/tcpbench:ro" busybox /tcpbench sink -l :5001 >/dev/null
sip=$($d inspect -f '{{.NetworkSettings.IPAddress}}' sink)
sport=$($d port sink 5001 | head -1 | cut -d: -f2)
echo "berth  TCP host->container: $(throughput "$sip" "$sport")"
$d rm -f sink >/dev/null

if command -v podman >/dev/null && command -v conmon >/dev/null; then
  pc=$nb/podman
  mkdir -p "$pc/cni"
  pm="podman --root $pc/root --runroot $pc/run --storage-driver overlay --cgroup-manager cgroupfs --events-backend file --runtime runc --tmpdir $pc/tmp --network-config-dir $pc/cni"
  $pm load -q -i "$nb/bb.tar" >/dev/null 2>&1
  lim="--ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --pull never"
  pdef=$(median_ms $pm run --rm $lim --network bridge localhost/busybox:latest true)
  pnone=$(median_ms $pm run --rm $lim --network none localhost/busybox:latest true)
  echo "podman run --rm true: bridge $pdef, none $pnone: the network adds $((pdef - pnone)) ms ($(podman info --format '{{.Host.NetworkBackend}}' 2>/dev/null) bridge)"
  $pm run -d $lim --name psink -p 127.0.0.1::5001 -v "$PWD/bin/tcpbench:/tcpbench:ro" localhost/busybox:latest /tcpbench sink -l :5001 >/dev/null
  pip=$($pm inspect -f '{{.NetworkSettings.IPAddress}}' psink)
  pport=$($pm port psink 5001 | head -1 | cut -d: -f2)
  echo "podman TCP host->container: $(throughput "$pip" "$pport")"
  $pm rm -f -t 0 psink >/dev/null 2>&1 || true
  $pm rmi -a -f >/dev/null 2>&1 || true
  $pm network rm -f podman >/dev/null 2>&1 || true
  ip link del cni-podman0 2>/dev/null || true
  umount "$pc/root/overlay" 2>/dev/null || true
else
  echo "bench: podman/conmon not installed; its networking comparison is skipped" >&2
fi
