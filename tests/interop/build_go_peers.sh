#!/bin/sh
# Build the Go interop peers (go-relay, go-controller) into OUTDIR, offline,
# in GOPATH mode against the Debian packaged Go sources (golang-*-dev put
# them under /usr/share/gocode). No module proxy is needed or used.
#
#   build_go_peers.sh OUTDIR [GO]
set -eu
out=${1:?usage: build_go_peers.sh OUTDIR [GO]}
go=${2:-go}
here=$(cd "$(dirname "$0")" && pwd)
gocode=${BEACON_GOCODE:-/usr/share/gocode}

mkdir -p "$out/gopath/src" "$out/cache" "$out/tmp"
out=$(cd "$out" && pwd)
# The sources are linked, not copied, so edits are picked up directly.
ln -sfn "$here/go" "$out/gopath/src/beacon-interop"

# HOME may be unset in CI: give Go every directory it would derive from it.
export GO111MODULE=off GOFLAGS= GOPROXY=off GOTOOLCHAIN=local
export GOPATH="$out/gopath:$gocode"
export GOCACHE="$out/cache" GOTMPDIR="$out/tmp"
export HOME="${HOME:-$out}"
export CGO_ENABLED=0

"$go" build -o "$out/go-relay" beacon-interop/relay
"$go" build -o "$out/go-controller" beacon-interop/controller
