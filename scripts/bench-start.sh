#!/usr/bin/env bash
# Issue 14's start-latency lines (make bench-start alone; make bench runs it
# too), each as a ratio, in one run: the engine commands are interleaved
# round by round, so a busy machine slows every side alike.
#   - `ctl run --rm busybox true` (default bridge and --network none) and
#     `docker run --rm` against engined, beside `ctr run --rm` under a
#     private containerd (runc, and crun when it works there) and
#     `podman run --rm --network none` (private root);
#     Each start is measured on an idle machine: BENCH_START_GAP (0.3 s)
#     passes between two commands, so that the background work one leaves
#     (berth's spare shim refill, 100 ms after a create; containerd's and
#     podman's own) is not charged to the next; what it costs shows in the
#     concurrent line, which is CPU-bound;
#   - BENCH_START_CONC (50) concurrent `run -d`, wall time, beside `ctr run -d`;
#   - idle PSS of supervisord + engined beside containerd's alone.
# The runtime's own lines (run true, create+start+wait+delete beside runc and
# crun) are runtimebench's, in make bench.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${BENCH_START_N:-15}
conc=${BENCH_START_CONC:-50}
gap=${BENCH_START_GAP:-0.3}
w=$(mktemp -d /tmp/bstXXXX)
bridge=bst$$ table=berth_bst$$
daemons=()
ctr="" pm="" cd_pid=""

cleanup() {
  local rc=$?
  set +e
  if [ "$rc" != 0 ]; then # keep the daemons' logs of a failed run
    mkdir -p "$w.logs" && cp "$w"/*.log "$w.logs/" && echo "bench: logs kept in $w.logs" >&2
  fi
  if [ -n "$ctr" ] && kill -0 "$cd_pid" 2>/dev/null; then
    for c in $($ctr containers ls -q 2>/dev/null); do
      $ctr task kill -s 9 "$c" >/dev/null 2>&1; sleep 0.1
      $ctr task rm -f "$c" >/dev/null 2>&1; $ctr containers rm "$c" >/dev/null 2>&1
    done
  fi
  [ -S "$w/eng.sock" ] && bin/ctl -H "unix://$w/eng.sock" rm -f $(bin/ctl -H "unix://$w/eng.sock" ps -aq) >/dev/null 2>&1
  [ -n "$pm" ] && $pm rm -a -f >/dev/null 2>&1
  for p in "${daemons[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${daemons[@]}"; do wait "$p" 2>/dev/null; done
  for m in $(grep " $w" /proc/mounts | awk '{print $2}' | sort -r); do umount -l "$m"; done
  ip link del "$bridge" 2>/dev/null
  nft delete table ip "$table" 2>/dev/null
  nft delete table ip6 "$table" 2>/dev/null
  rm -rf "$w"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

waitsock() { for _ in $(seq 200); do [ -S "$1" ] && return 0; sleep 0.05; done; echo "bench: $1 never appeared" >&2; return 1; }
# Time stamps come from bash's own clock (EPOCHREALTIME, microseconds), read
# in this shell: `$(date +%s%N)` forks a subshell and execs date, twice per
# measurement, and that (about 15 ms here) was charged to the command timed.
stamp() { printf -v "$1" '%s' "${EPOCHREALTIME//[!0-9]/}"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "-" }'; }
pss_mb() { # pids...: summed PSS in MB
  local kb=0 p
  for p in "$@"; do kb=$(( kb + $(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup") )); done
  awk -v k="$kb" 'BEGIN{printf "%.1f", k/1024}'
}

go run ./test/image/mkimage -o "$w/bb.tar" >/dev/null

# berth: a private supervisord + engined.
bin/supervisord --root "$w/sup" --state "$w/run" --address "$w/sup.sock" >"$w/sup.log" 2>&1 &
sup_pid=$!; daemons+=("$sup_pid")
waitsock "$w/sup.sock"
bin/engined -H "unix://$w/eng.sock" --data-root "$w/eng" --exec-root "$w/engrun" --supervisor "unix://$w/sup.sock" \
  --default-bridge "$bridge" --nft-table "$table" >"$w/eng.log" 2>&1 &
eng_pid=$!; daemons+=("$eng_pid")
waitsock "$w/eng.sock"
ctl="bin/ctl -H unix://$w/eng.sock"
$ctl load -q -i "$w/bb.tar" >/dev/null
docker=""
# The docker CLI pointed at engined by its own flags, as ctl and ctr are: through
# `env VAR=... docker` the line paid for env's exec as well (2.1 ms here: `env X=1
# /bin/true` 5.3 ms against `X=1 /bin/true` 3.2, medians of 150).
if command -v docker >/dev/null; then docker="docker --config $w -H unix://$w/eng.sock"; fi

# containerd, private, without its CRI plugin.
if command -v containerd >/dev/null && command -v ctr >/dev/null; then
  c=$w/cd
  mkdir -p "$c"
  printf 'version = 2\nroot = "%s/root"\nstate = "%s/state"\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "%s/c.sock"\n[ttrpc]\n  address = "%s/c.sock.ttrpc"\n' \
    "$c" "$c" "$c" "$c" >"$c/config.toml"
  # As runtimebench does for every runtime: crun refuses hybrid cgroup hosts
  # whose unified hierarchy lists controllers; mask that file in containerd's
  # own mount namespace (its shims and runtimes inherit it).
  unshare -m sh -c '
    f=/sys/fs/cgroup/unified/cgroup.controllers
    if grep -q . "$f" 2>/dev/null; then mount --bind /dev/null "$f"; fi
    exec "$@"' sh containerd --config "$c/config.toml" >"$c/log" 2>&1 &
  cd_pid=$!; daemons+=("$cd_pid")
  waitsock "$c/c.sock"
  ctr="ctr -a $c/c.sock -n bench"
  $ctr images import "$w/bb.tar" >/dev/null
else
  echo "bench: containerd/ctr not installed; their comparisons are skipped" >&2
fi
crun=""
if [ -n "$ctr" ] && command -v crun >/dev/null; then
  if $ctr run --rm --runc-binary "$(command -v crun)" docker.io/library/busybox:latest bcrun true >/dev/null 2>"$w/crun.err"; then
    crun=$(command -v crun)
  else
    echo "bench: ctr run with crun failed here ($(head -c 200 "$w/crun.err")); skipped" >&2
  fi
fi
if command -v podman >/dev/null && command -v conmon >/dev/null; then
  pm="podman --root $w/pm/root --runroot $w/pm/run --storage-driver overlay --cgroup-manager cgroupfs --events-backend file --runtime runc --tmpdir $w/pm/tmp"
  $pm load -q -i "$w/bb.tar" >/dev/null 2>&1 || { echo "bench: podman load failed; podman skipped" >&2; pm=""; }
else
  echo "bench: podman/conmon not installed; skipped" >&2
fi

# --- idle memory ---------------------------------------------------------------
sleep 3
echo "== idle daemons (PSS, MB; after loading busybox)"
berth_pss=$(pss_mb "$sup_pid" "$eng_pid")
echo "supervisord + engined:  $berth_pss (supervisord $(pss_mb "$sup_pid"), engined $(pss_mb "$eng_pid"))"
if [ -n "$ctr" ]; then
  cd_pss=$(pss_mb "$cd_pid")
  echo "containerd:             $cd_pss   ratio $(ratio "$berth_pss" "$cd_pss")"
fi

# --- one container start, interleaved --------------------------------------------
declare -A cmds=() times=()
order=("ctl run --rm" "ctl run --rm --network none")
cmds["ctl run --rm"]="$ctl run --rm busybox true"
cmds["ctl run --rm --network none"]="$ctl run --rm --network none busybox true"
if [ -n "$docker" ]; then order+=("docker run --rm"); cmds["docker run --rm"]="$docker run --rm busybox true"; fi
if [ -n "$ctr" ]; then order+=("ctr run --rm (runc)"); cmds["ctr run --rm (runc)"]="$ctr run --rm docker.io/library/busybox:latest bs\$i true"; fi
if [ -n "$crun" ]; then order+=("ctr run --rm (crun)"); cmds["ctr run --rm (crun)"]="$ctr run --rm --runc-binary $crun docker.io/library/busybox:latest bc\$i true"; fi
if [ -n "$pm" ]; then order+=("podman run --rm --network none"); cmds["podman run --rm --network none"]="$pm run --rm --pull never --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 localhost/busybox:latest true"; fi
# Each round starts one command further in the order, so that every command
# follows every other as often: a command is slower right after some
# others (after podman's run, ctl's measured 89 ms against 79-84 after ctl,
# ctr or docker, medians of 9), and with one fixed order the same line
# always paid for it.
nk=${#order[@]}
for i in $(seq 0 "$n"); do # round 0 warms up
  for j in $(seq 0 $((nk - 1))); do
    k=${order[$(( (i + j) % nk ))]}
    stamp t0
    eval "${cmds[$k]}" >/dev/null
    stamp t1
    [ "$i" -gt 0 ] && times[$k]+="$(( (t1 - t0) / 1000 )) "
    sleep "$gap"
  done
done
echo "== one container start: run --rm busybox true (median of $n interleaved rounds, order rotated every round, $gap s apart, ms)"
med() { printf '%s\n' ${times[$1]} | median; }
base=""
[ -n "$ctr" ] && base=$(med "ctr run --rm (runc)")
for k in "${order[@]}"; do
  m=$(med "$k")
  if [ -n "$base" ]; then
    printf '%-32s %6s ms   ratio to ctr (runc) %s\n' "$k" "$m" "$(ratio "$m" "$base")"
  else
    printf '%-32s %6s ms\n' "$k" "$m"
  fi
done
if [ -n "$pm" ]; then
  echo "ctl run --rm --network none / podman run --rm --network none: $(ratio "$(med "ctl run --rm --network none")" "$(med "podman run --rm --network none")")"
fi

# --- concurrent run -d -----------------------------------------------------------
# $conc at once, wall time until every one has answered; then removed (not
# timed). Three rounds, interleaved, median.
# (wait for these only: a bare wait would wait for the daemons too)
conc_ctl() { # args before the image
  local i; local -a p=()
  for i in $(seq "$conc"); do $ctl run -d "$@" busybox sleep 1000 >/dev/null & p+=($!); done
  wait "${p[@]}"
}
conc_ctr() {
  local i; local -a p=()
  for i in $(seq "$conc"); do $ctr run -d docker.io/library/busybox:latest "cc$r-$i" sleep 1000 >/dev/null & p+=($!); done
  wait "${p[@]}"
}
clean_ctl() { $ctl rm -f $($ctl ps -aq) >/dev/null; }
clean_ctr() {
  local c
  for c in $($ctr containers ls -q); do $ctr task kill -s 9 "$c" >/dev/null 2>&1 || true; done
  sleep 0.5
  for c in $($ctr containers ls -q); do
    $ctr task rm -f "$c" >/dev/null 2>&1 || true
    $ctr containers rm "$c" >/dev/null 2>&1 || true
  done
}
declare -A ctimes=()
for r in 1 2 3; do
  stamp t0; conc_ctl --network none; stamp t1; ctimes[none]+="$(( (t1 - t0) / 1000 )) "; clean_ctl
  stamp t0; conc_ctl; stamp t1; ctimes[bridge]+="$(( (t1 - t0) / 1000 )) "; clean_ctl
  if [ -n "$ctr" ]; then stamp t0; conc_ctr; stamp t1; ctimes[ctr]+="$(( (t1 - t0) / 1000 )) "; clean_ctr; fi
done
echo "== $conc concurrent run -d busybox sleep (wall, median of 3 interleaved rounds, ms; $(nproc) cores)"
cm() { printf '%s\n' ${ctimes[$1]} | median; }
cbase=""
[ -n "$ctr" ] && cbase=$(cm ctr)
for k in none bridge ctr; do
  [ -z "${ctimes[$k]:-}" ] && continue
  case $k in none) l="ctl run -d --network none";; bridge) l="ctl run -d (default bridge)";; ctr) l="ctr run -d (runc)";; esac
  printf '%-32s %6s ms   ratio to ctr %s\n' "$l" "$(cm $k)" "$( [ -n "$cbase" ] && ratio "$(cm $k)" "$cbase" || echo -)"
done
