#!/usr/bin/env bash
# Installs, idempotently, every Debian package that berth's build, demo and
# tests need. Safe to run again: it installs only what is missing.
set -euo pipefail

packages=(
  busybox-static     # test images are made offline from the host's busybox
  gcc libc6-dev      # cgo (supervisord, engined) and the static runtime-init (libc.a)
  protobuf-compiler  # make proto / proto-check
  runc crun          # alternative OCI runtimes, and references for tests and bench
  docker-registry    # a real registry on 127.0.0.1 for distribution tests
  skopeo             # validates our images from outside
  apache2-utils      # htpasswd (bcrypt) for the basic-auth registry in tests
  iproute2 nftables  # networking tests
  docker-compose     # compose (v1, Debian's) against engined's networks
  util-linux         # unshare, nsenter, script
  systemd            # PID 1 of a private namespace set: the runtime's --systemd-cgroup test
  mount e2fsprogs    # losetup, mkfs.ext4: a block-device volume in the e2e tests
  procps             # ps, pgrep-free process checks in scripts
  python3-docker     # docker-py against engined (when the system python is used)
  hyperfine          # make bench
  podman containerd conmon  # drop-in tests: our runtime under podman and ctr
  tini               # docker-init for --init: reaps zombies and forwards signals as PID 1
  containernetworking-plugins  # CNI plugins (bridge, host-local, portmap, loopback) of the CRI's pods
  curl               # scripts/critest-images.sh pushes critest's stand-in images
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then
    echo "deps: go is at /usr/local/go/bin; add it to PATH" >&2
  else
    echo "deps: Go 1.26 or newer is required (https://go.dev/dl/)" >&2
  fi
  exit 1
fi
# crictl and critest (no Debian package) from the Go module proxy.
if [ "$(id -u)" -eq 0 ]; then
  "$(dirname "$0")/install-cri-tools.sh"
elif ! command -v critest >/dev/null 2>&1; then
  echo "deps: crictl and critest missing; run as root to install them" >&2
  exit 1
fi
echo "deps: all present"
