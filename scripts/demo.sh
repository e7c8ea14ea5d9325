#!/usr/bin/env bash
# The walking-skeleton demo: a private supervisord + engined in a temp root, a
# busybox image made offline from the host's busybox, one container run
# through every layer (ctl -> engined -> supervisord -> shim -> runtime), then
# a clean stop that leaves no mount or process behind.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/bin

root=$(mktemp -d /tmp/berth-demo.XXXXXX)
sup_pid= eng_pid=
# The demo's own default bridge and nftables table, removed at the end
# (engined keeps them across its restarts, as dockerd keeps docker0).
bridge=bdemo$$ table=berth_demo$$
stop() {
  [ -n "$eng_pid" ] && kill -TERM "$eng_pid" 2>/dev/null && wait "$eng_pid" 2>/dev/null || true
  [ -n "$sup_pid" ] && kill -TERM "$sup_pid" 2>/dev/null && wait "$sup_pid" 2>/dev/null || true
  ip link del "$bridge" 2>/dev/null || true
  nft delete table ip "$table" 2>/dev/null || true
  left=$(awk -v r="$root/" 'index($5, r) == 1 {print $5}' /proc/self/mountinfo)
  if [ -n "$left" ]; then
    echo "demo: mounts left behind:" >&2; echo "$left" >&2
    exit 1
  fi
  procs=
  for f in /proc/[0-9]*/cmdline; do
    case "$( { tr '\0' ' ' <"$f"; } 2>/dev/null)" in *"$root/"*) procs="$procs ${f%/cmdline}" ;; esac
  done
  if [ -n "$procs" ]; then
    echo "demo: processes left behind: $procs" >&2
    exit 1
  fi
  rm -rf "$root"
  echo "== done: no mounts or processes left behind"
}
trap stop EXIT

wait_sock() {
  for _ in $(seq 200); do [ -S "$1" ] && return 0; sleep 0.05; done
  echo "demo: $1 did not appear; logs in $root" >&2; cat "$root"/*.log >&2; return 1
}

echo "== starting supervisord and engined in $root"
"$bin/supervisord" --root "$root/sup" --state "$root/run" --address "$root/sup.sock" >"$root/supervisord.log" 2>&1 &
sup_pid=$!
wait_sock "$root/sup.sock"
"$bin/engined" -H "unix://$root/eng.sock" --data-root "$root/eng" --exec-root "$root/engrun" \
  --supervisor "unix://$root/sup.sock" --default-bridge "$bridge" --nft-table "$table" >"$root/engined.log" 2>&1 &
eng_pid=$!
wait_sock "$root/eng.sock"

export BERTH_HOST="unix://$root/eng.sock"
echo "== building a busybox image from the host's busybox"
go run ./test/image/mkimage -o "$root/busybox.tar"
echo "== ctl load -i busybox.tar"
"$bin/ctl" load -i "$root/busybox.tar"
"$bin/ctl" images
echo "== ctl run --rm busybox sh -c 'echo hello from \$(hostname); ps'"
"$bin/ctl" run --rm busybox sh -c 'echo hello from $(hostname); ps'
echo "== ctl ps -a (empty: --rm removed it)"
"$bin/ctl" ps -a
echo "== stopping the daemons"
