#!/bin/sh
# Build the Go side of `make bench` into OUTDIR, offline, in GOPATH mode
# against the Debian packaged sources (as tests/interop/build_go_peers.sh):
# bench-go (load generator + backends), go-relay and go-controller.
#
#   build.sh OUTDIR [GO]
set -eu
out=${1:?usage: build.sh OUTDIR [GO]}
go=${2:-go}
here=$(cd "$(dirname "$0")" && pwd)
gocode=${BEACON_GOCODE:-/usr/share/gocode}

sh "$here/../../tests/interop/build_go_peers.sh" "$out" "$go"
out=$(cd "$out" && pwd)
ln -sfn "$here" "$out/gopath/src/beacon-bench"

export GO111MODULE=off GOFLAGS= GOPROXY=off GOTOOLCHAIN=local
export GOPATH="$out/gopath:$gocode"
export GOCACHE="$out/cache" GOTMPDIR="$out/tmp"
export HOME="${HOME:-$out}"
export CGO_ENABLED=0

"$go" build -o "$out/bench-go" beacon-bench/loadgen
