#!/usr/bin/env bash
# Runs critest (the CRI validation suite of sigs.k8s.io/cri-tools, see
# scripts/install-cri-tools.sh) against supervisord's CRI server in a
# private root: a local registry (Debian's docker-registry) serves offline
# stand-ins of critest's images (scripts/critest-images.sh), which
# supervisord reaches through --registry-mirror for registry.k8s.io,
# k8s.gcr.io and gcr.io; pods get a CNI bridge of their own.
#
#   scripts/critest.sh                      the whole suite
#   scripts/critest.sh --ginkgo.focus=X     critest's own flags pass through
#
# BIN (default ./bin) holds supervisord, shim, runtime and pause.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/bin}
CRITEST=${CRITEST:-$(command -v critest || true)}
[ -n "$CRITEST" ] || { echo "critest.sh: no critest (make deps installs it)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "critest.sh: needs root" >&2; exit 1; }

dir=$(mktemp -d "${CRITEST_TMP:-/var/tmp}/berth-critest.XXXXXX")
regpid='' svpid=''
bridge=bcrit$$
cleanup() {
  set +e
  # what a failed spec left: its pods (and so their shims and containers)
  if [ -n "$svpid" ]; then
    command -v crictl >/dev/null && crictl --runtime-endpoint "unix://$dir/cri.sock" rmp -f -a >/dev/null 2>&1
    kill "$svpid" && wait "$svpid" 2>/dev/null
  fi
  grep -o " $dir[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
  [ -n "$regpid" ] && kill "$regpid" && wait "$regpid" 2>/dev/null
  ip link del "$bridge" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT

port=$((20000 + RANDOM % 20000))
reg=127.0.0.1:$port
mkdir -p "$dir/reg"
cat >"$dir/reg/config.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $dir/reg/data
  delete:
    enabled: true
http:
  addr: $reg
YML
docker-registry serve "$dir/reg/config.yml" >"$dir/reg/log" 2>&1 &
regpid=$!
for _ in $(seq 50); do curl -fsS "http://$reg/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
REGISTRY=$reg ./scripts/critest-images.sh >"$dir/images.log"

mkdir -p "$dir/net.d"
cat >"$dir/net.d/10-critest.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "$bridge",
  "plugins": [
    {"type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$dir/ipam", "ranges": [[{"subnet": "10.88.$((RANDOM % 200)).0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON

sock=$dir/cri.sock
mirrors=()
for h in registry.k8s.io k8s.gcr.io gcr.io; do mirrors+=(--registry-mirror "$h=http://$reg"); done
"$BIN/supervisord" --root "$dir/root" --state "$dir/state" --address "$dir/sv.sock" \
  --cri-address "$sock" --cni-conf-dir "$dir/net.d" --pause-path "$BIN/pause" \
  --insecure-registry "$reg" "${mirrors[@]}" --log-level "${LOG_LEVEL:-warn}" 2>"$dir/supervisord.log" &
svpid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done

set +e
"$CRITEST" --runtime-endpoint "unix://$sock" --image-endpoint "unix://$sock" \
  --ginkgo.no-color "$@" 2>&1 | tee "$dir/critest.log"
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ] && [ -n "${KEEP_LOGS:-}" ]; then cp "$dir/supervisord.log" "$KEEP_LOGS"; fi
exit "$rc"
