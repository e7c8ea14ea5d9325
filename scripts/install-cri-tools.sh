#!/usr/bin/env bash
# Builds crictl and critest of sigs.k8s.io/cri-tools at a pinned version from
# the Go module proxy (Debian packages neither) into $BIN (default
# /usr/local/bin). Idempotent: a binary of the right version is kept.
set -euo pipefail
VERSION=${CRI_TOOLS_VERSION:-v1.37.0}
BIN=${BIN:-/usr/local/bin}
stamp="$BIN/.cri-tools-$VERSION"
if [ -x "$BIN/crictl" ] && [ -x "$BIN/critest" ] && [ -e "$stamp" ]; then
  exit 0
fi
export GOFLAGS=-mod=mod
mkdir -p "$BIN"
GOBIN="$BIN" go install "sigs.k8s.io/cri-tools/cmd/crictl@$VERSION"
# critest is a Ginkgo test binary: it is built with go test -c inside the
# module (the module cache copy is read-only, so from a scratch copy).
dir=$(go mod download -json "sigs.k8s.io/cri-tools@$VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cp -r "$dir/." "$work/"
chmod -R u+w "$work"
(cd "$work" && go test -c -o "$BIN/critest" ./cmd/critest)
touch "$stamp"
echo "cri-tools $VERSION: crictl and critest in $BIN"
