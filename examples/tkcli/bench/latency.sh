#!/usr/bin/env bash
# latency.sh times tkcli's fast path as whole processes: `tkcli token` and
# `tkcli kubectl` answering from a valid cached token (encrypted file store,
# no network: the provider is stopped before the timing), against
#   - the floor: a Go binary that reads a file and prints it
#     (examples/tkcli/internal/floor; floornet is the same with net/http
#     linked in, to show what that alone costs each start), and
#   - `kubelogin get-token` (github.com/int128/kubelogin) answering from its
#     warm token cache for the same provider.
# The provider is the in-process one of examples/internal/oidctest; the
# logins go through each program's loopback listener, the provider's
# headless browser filling in its login form (examples/tkcli/internal/latency).
#
# Usage: examples/tkcli/bench/latency.sh [RUNS]       (default 30 runs each)
# Environment:
#   BUILDFLAGS         go build flags for tkcli, the floor and kubelogin alike
#                      (default: -trimpath); CGO_ENABLED is passed through too
#   KUBELOGIN_VERSION  default v1.28.0; empty: skip kubelogin
set -euo pipefail
cd "$(dirname "$0")/../../.."
runs=${1:-30}
read -r -a flags <<<"${BUILDFLAGS:--trimpath}"
kubelogin_version=${KUBELOGIN_VERSION-v1.28.0}
work=$(mktemp -d "${TMPDIR:-/tmp}/tkcli-latency.XXXXXXXX")
trap 'rm -rf "$work"' EXIT

echo "== go build ${flags[*]} (CGO_ENABLED=$(go env CGO_ENABLED)), $(go version)"
go build "${flags[@]}" -o "$work/tkcli" ./examples/tkcli
go build "${flags[@]}" -o "$work/floor" ./examples/tkcli/internal/floor
go build "${flags[@]}" -o "$work/floornet" ./examples/tkcli/internal/floornet
go build -o "$work/latency" ./examples/tkcli/internal/latency # the harness: not timed
kubelogin=()
if [ -n "$kubelogin_version" ]; then
	# In a module of its own (GOWORK=off): go install pkg@version would ask the
	# proxy for the module's version list, which it may refuse.
	mkdir "$work/kl"
	(
		cd "$work/kl"
		export GOWORK=off
		go mod init example.com/kubelogin-bench >/dev/null 2>&1
		go get "github.com/int128/kubelogin@$kubelogin_version" >/dev/null 2>&1
		go build "${flags[@]}" -o "$work/kubelogin" github.com/int128/kubelogin
	)
	kubelogin=(-kubelogin "$work/kubelogin")
fi

echo "== logging in (tkcli login --no-browser${kubelogin:+, kubelogin get-token}) and stopping the provider"
mkdir "$work/state"
"$work/latency" setup -dir "$work/state" -floor "$work/floor" -floornet "$work/floornet" -tkcli "$work/tkcli" "${kubelogin[@]}"

echo "== whole-process wall time, $runs runs each, in turn, after 3 warm-up rounds ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
"$work/latency" time -n "$runs" "$work/state/commands"
