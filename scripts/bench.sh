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
  if grep -q . "$f" 2>/dev/null; then mount --bind /dev/null "$f"; fi  # cgroupfs sizes are 0: test -s cannot tell
  exec "$@"' sh bin/runtimebench -n "$n" "${runtimes[@]}"

# --- shim and supervisord (issues 5 and 13): scripts/bench-shim.sh ---------
./scripts/bench-shim.sh

# --- images (issue 4): test/bench/imagebench ---------------------------------
# Load (import + unpack) of a generated ~200 MB image of 5 gzip layers of
# ~40k small files with berth, `ctr images import` (private containerd) and
# `podman load` (private root); pull of it from a private docker-registry on
# 127.0.0.1 with berth beside `skopeo copy` (which only downloads); and
# gzip/zstd decoder speeds. One run each; MB/s of uncompressed data.
go build -o bin/imagebench ./test/bench/imagebench
echo "== images"
bin/imagebench -bin bin -mb "${BENCH_IMAGE_MB:-200}"
go run ./test/bench/gunzip

# --- snapshotters (issue 4): test/bench/snapbench -----------------------------
# Prepare of a container snapshot on a committed layer of 100 MiB in 20k
# files: overlayfs (two empty directories) and native (a full copy), beside
# `cp -a --reflink=auto` of the same tree. Under /var/tmp (disk, not tmpfs).
go build -o bin/snapbench ./test/bench/snapbench
echo "== snapshotters"
bin/snapbench -mb "${BENCH_SNAP_MB:-100}" -files "${BENCH_SNAP_FILES:-20000}"

# --- engine exec and run (issue 5, engine side) -------------------------------
# Round trips through a private engined + supervisord: `ctl exec C true`
# (exec create, hijacked start, exit), the same with the docker CLI, and
# `ctl run --rm busybox true` (create, attach, wait, start, remove). Medians
# of BENCH_ENGINE_N runs, in ms.
eng=$(mktemp -d /tmp/bexXXXX)
engine_bench() {
  local n=${BENCH_ENGINE_N:-20}
  bin/supervisord --root "$eng/sup" --state "$eng/run" --address "$eng/sup.sock" >"$eng/sup.log" 2>&1 &
  local sup_pid=$!
  for _ in $(seq 100); do [ -S "$eng/sup.sock" ] && break; sleep 0.1; done
  local bridge=bbench$$ table=berth_bench$$
  bin/engined -H "unix://$eng/eng.sock" --data-root "$eng/eng" --exec-root "$eng/engrun" --supervisor "unix://$eng/sup.sock" \
    --default-bridge "$bridge" --nft-table "$table" >"$eng/eng.log" 2>&1 &
  local eng_pid=$!
  for _ in $(seq 100); do [ -S "$eng/eng.sock" ] && break; sleep 0.1; done
  local ctl="bin/ctl -H unix://$eng/eng.sock"
  go run ./test/image/mkimage -o "$eng/bb.tar" >/dev/null
  $ctl load -q -i "$eng/bb.tar" >/dev/null
  $ctl run -d --name eb busybox sleep 1000 >/dev/null
  median_ms() { # command...: median wall time of n runs
    local i t0 t1; local -a ts=()
    for i in $(seq "$n"); do
      t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N)
      ts+=($(( (t1 - t0) / 1000000 )))
    done
    printf '%s\n' "${ts[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
  }
  echo "== engine round trips (n=$n, median ms)"
  echo "ctl exec true:        $(median_ms $ctl exec eb true)"
  if command -v docker >/dev/null; then
    echo "docker exec true:     $(DOCKER_HOST=unix://$eng/eng.sock DOCKER_CONFIG=$eng median_ms docker exec eb true)"
  fi
  echo "ctl run --rm true:    $(median_ms $ctl run --rm busybox true)"
  if command -v docker >/dev/null; then
    # The cost of Docker's defaults (seccomp profile, 14 capabilities,
    # masked paths, device rules) against a privileged container, which
    # has none of them (issue 8: target under 2 ms of difference).
    local d="env DOCKER_HOST=unix://$eng/eng.sock DOCKER_CONFIG=$eng docker"
    local def priv unconf
    def=$(median_ms $d run --rm busybox true)
    priv=$(median_ms $d run --rm --privileged busybox true)
    unconf=$(median_ms $d run --rm --security-opt seccomp=unconfined busybox true)
    echo "docker run --rm true: $def (defaults)"
    echo "  --privileged:       $priv  (defaults cost $((def - priv)) ms)"
    echo "  seccomp=unconfined: $unconf  (the seccomp profile costs $((def - unconf)) ms)"
    # A named volume on the start path (issue 9): the mount point, the
    # volume's use count, the copy-up check of an empty volume.
    $d volume create benchvol >/dev/null
    local vol
    vol=$(median_ms $d run --rm -v benchvol:/data busybox true)
    echo "  -v benchvol:/data:  $vol  (the volume costs $((vol - def)) ms)"
    $d volume rm benchvol >/dev/null
    # The default bridge network on the start and stop path (issue 10:
    # target under 5 ms): namespace, lease, veth pair, rules, and back.
    local nonet
    nonet=$(median_ms $d run --rm --network none busybox true)
    echo "  --network none:     $nonet  (the default bridge costs $((def - nonet)) ms)"
  fi
  # commit (issue 9): a container's 64 MiB of new (incompressible) data
  # written as a gzip'd layer, composed and unpacked; median of 3 commits.
  $ctl run --name ecommit busybox dd if=/dev/urandom of=/big bs=1M count=64 2>/dev/null
  local cms i t0 t1; local -a cts=()
  for i in 1 2 3; do
    t0=$(date +%s%N); $ctl commit ecommit "benchcommit:$i" >/dev/null; t1=$(date +%s%N)
    cts+=($(( (t1 - t0) / 1000000 )))
  done
  cms=$(printf '%s\n' "${cts[@]}" | sort -n | sed -n 2p)
  echo "ctl commit 64 MiB:    $cms ms ($(( 64 * 1000 / (cms > 0 ? cms : 1) )) MiB/s)"
  $ctl rm -f ecommit >/dev/null
  if command -v podman >/dev/null && command -v conmon >/dev/null; then
    # The same with podman (private root, overlay storage; it stores the
    # layer uncompressed, we gzip it).
    local pc=$eng/podman
    local pm="podman --root $pc/root --runroot $pc/run --storage-driver overlay --cgroup-manager cgroupfs --events-backend file --runtime runc --tmpdir $pc/tmp"
    $pm load -q -i "$eng/bb.tar" >/dev/null 2>&1
    $pm run --pull never --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --name pcommit localhost/busybox:latest \
      dd if=/dev/urandom of=/big bs=1M count=64 >/dev/null 2>&1
    cts=()
    for i in 1 2 3; do
      t0=$(date +%s%N); $pm commit -q pcommit "benchcommit:$i" >/dev/null 2>&1; t1=$(date +%s%N)
      cts+=($(( (t1 - t0) / 1000000 )))
    done
    echo "podman commit 64 MiB: $(printf '%s\n' "${cts[@]}" | sort -n | sed -n 2p) ms"
    $pm rm -f pcommit >/dev/null 2>&1 || true
    $pm rmi -a -f >/dev/null 2>&1 || true
    umount "$pc/root/overlay" 2>/dev/null || true
  fi
  cp_bench
  build_bench
  $ctl rm -f eb >/dev/null
  kill "$eng_pid" "$sup_pid"
  wait "$eng_pid" "$sup_pid" 2>/dev/null || true
  ip link del "$bridge" 2>/dev/null || true
  nft delete table ip "$table" 2>/dev/null || true
}
# cp (issue 9): a 100 MiB directory (25 incompressible files) into a
# running container and back out, median of 3, beside `podman cp` of the
# same tree (private root) when podman is there; MiB/s and the ratio.
cp_bench() {
  local src=$eng/cpsrc i
  mkdir -p "$src"
  for i in $(seq 25); do head -c 4M /dev/urandom >"$src/f$i"; done
  cp_median() { # setup-command, copy-command: median ms of 3 copies
    local j t0 t1; local -a ts=()
    for j in 1 2 3; do
      eval "$1" >/dev/null 2>&1
      t0=$(date +%s%N); eval "$2" >/dev/null; t1=$(date +%s%N)
      ts+=($(( (t1 - t0) / 1000000 )))
    done
    printf '%s\n' "${ts[@]}" | sort -n | sed -n 2p
  }
  local in out
  in=$(cp_median "$ctl exec eb rm -rf /tmp/cpin" "$ctl cp $src eb:/tmp/cpin")
  out=$(cp_median "rm -rf $eng/cpout" "$ctl cp eb:/tmp/cpin $eng/cpout")
  echo "ctl cp 100 MiB in:    $in ms ($(( 100 * 1000 / (in > 0 ? in : 1) )) MiB/s)"
  echo "ctl cp 100 MiB out:   $out ms ($(( 100 * 1000 / (out > 0 ? out : 1) )) MiB/s)"
  if command -v podman >/dev/null && command -v conmon >/dev/null; then
    local pc=$eng/podmancp
    local pm="podman --root $pc/root --runroot $pc/run --storage-driver overlay --cgroup-manager cgroupfs --events-backend file --runtime runc --tmpdir $pc/tmp"
    $pm load -q -i "$eng/bb.tar" >/dev/null 2>&1
    if $pm run -d --pull never --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --name pcp localhost/busybox:latest sleep 1000 >/dev/null 2>&1; then
      local pin pout
      pin=$(cp_median "$pm exec pcp rm -rf /tmp/cpin" "$pm cp $src pcp:/tmp/cpin")
      pout=$(cp_median "rm -rf $eng/pcpout" "$pm cp pcp:/tmp/cpin $eng/pcpout")
      echo "podman cp 100 MiB in: $pin ms ($(( 100 * 1000 / (pin > 0 ? pin : 1) )) MiB/s; ctl/podman time ratio $(awk -v a="$in" -v b="$pin" 'BEGIN{printf "%.2f", a/(b>0?b:1)}'))"
      echo "podman cp 100 MiB out: $pout ms ($(( 100 * 1000 / (pout > 0 ? pout : 1) )) MiB/s; ctl/podman time ratio $(awk -v a="$out" -v b="$pout" 'BEGIN{printf "%.2f", a/(b>0?b:1)}'))"
    else
      echo "bench: podman run failed; podman cp skipped" >&2
    fi
    $pm rm -f -t 0 pcp >/dev/null 2>&1 || true
    $pm rmi -a -f >/dev/null 2>&1 || true
    umount "$pc/root/overlay" 2>/dev/null || true
  fi
  rm -rf "$src" "$eng/cpout" "$eng/pcpout"
}
# build (issue 11): a 10-step Dockerfile (COPY of 64 files, 5 RUNs,
# metadata), built from scratch (--no-cache) and rebuilt fully cached,
# median of 3 each, beside `podman build` (buildah, private root, --layers)
# of the same context; RUN without network for both.
build_bench() {
  local bctx=$eng/bctx i
  mkdir -p "$bctx/files"
  for i in $(seq 64); do head -c 16k /dev/urandom >"$bctx/files/f$i"; done
  cat >"$bctx/Dockerfile" <<'DF'
FROM busybox
ENV APP=/app
WORKDIR /app
COPY files/ ./files/
RUN cat files/* | wc -c > /size
RUN mkdir -p /data && echo one > /data/1
RUN echo two > /data/2
RUN sha1sum files/f1 > /sum
RUN ls files | wc -l > /count
CMD ["cat", "/size"]
DF
  build_median() { # command...: median ms of 3 runs
    local j t0 t1; local -a ts=()
    for j in 1 2 3; do
      t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N)
      ts+=($(( (t1 - t0) / 1000000 )))
    done
    printf '%s\n' "${ts[@]}" | sort -n | sed -n 2p
  }
  local first cached
  first=$(build_median $ctl build --network none --no-cache -t benchbuild "$bctx")
  cached=$(build_median $ctl build --network none -t benchbuild "$bctx")
  echo "ctl build 10 steps:   $first ms first, $cached ms cached"
  # --cache-from with an empty local cache (POST /build/prune before each
  # run, not timed): every step taken from the image by its history.
  local j t0 t1 cf; local -a cts=()
  for j in 1 2 3; do
    curl -s --unix-socket "$eng/eng.sock" -X POST 'http://engine/build/prune?all=1' >/dev/null
    t0=$(date +%s%N); $ctl build --network none --cache-from benchbuild -t benchbuild "$bctx" >/dev/null 2>&1; t1=$(date +%s%N)
    cts+=($(( (t1 - t0) / 1000000 )))
  done
  cf=$(printf '%s\n' "${cts[@]}" | sort -n | sed -n 2p)
  echo "ctl build --cache-from (local cache pruned): $cf ms"
  if command -v podman >/dev/null && command -v conmon >/dev/null; then
    local pc=$eng/podmanbuild
    local pm="podman --root $pc/root --runroot $pc/run --storage-driver overlay --cgroup-manager cgroupfs --events-backend file --runtime runc --tmpdir $pc/tmp"
    $pm load -q -i "$eng/bb.tar" >/dev/null 2>&1
    local pfirst pcached
    pfirst=$(build_median $pm build --pull=never --network none --layers --no-cache -t benchbuild "$bctx")
    pcached=$(build_median $pm build --pull=never --network none --layers -t benchbuild "$bctx")
    echo "podman build 10 steps: $pfirst ms first, $pcached ms cached (ctl/podman time ratios $(awk -v a="$first" -v b="$pfirst" 'BEGIN{printf "%.2f", a/(b>0?b:1)}') and $(awk -v a="$cached" -v b="$pcached" 'BEGIN{printf "%.2f", a/(b>0?b:1)}'))"
    $pm rmi -a -f >/dev/null 2>&1 || true
    umount "$pc/root/overlay" 2>/dev/null || true
  fi
  rm -rf "$bctx"
}
engine_bench
rm -rf "$eng"

# --- start latency (issue 14): scripts/bench-start.sh, beside ctr and podman --
./scripts/bench-start.sh

# --- networking (issue 10): scripts/bench-net.sh, beside podman ---------------
./scripts/bench-net.sh

# --- CRI (issue 15): scripts/bench-cri.sh, critest -benchmark beside containerd
./scripts/bench-cri.sh
