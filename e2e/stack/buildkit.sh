#!/usr/bin/env bash
# Shared buildkitd (OCI/runc worker) for the local stack and the integration tests.
#   e2e/stack/buildkit.sh up     # builds buildkitd/buildctl once into .cache/tools, starts the daemon
#   e2e/stack/buildkit.sh down   # stops only the daemon this script started (PID file), unmounts its state
# Env: SLIPWAY_BUILDKIT_TCP   TCP listener pipeline pods use (default tcp://127.0.0.1:1234)
#      SLIPWAY_REGISTRY_ADDR  registry marked http/insecure (default 127.0.0.1:5000, see registry.sh)
# The TCP listener takes only clients with a certificate of the stack's
# buildkitd CA (mutual TLS, made by deploy/buildkitd/certs.sh into
# .cache/buildkit/certs), as deploy/buildkitd runs it; the unix socket,
# root's only, stays plain for the integration tests.
# Prints `export BUILDKIT_HOST=...` lines on success so callers can eval them,
# BUILDKIT_TLS_DIR among them: the client certificate's directory.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=$ROOT/.cache
TOOLS=$CACHE/tools
STATE=$CACHE/buildkit
BK_VERSION=v0.33.1
TCP=${SLIPWAY_BUILDKIT_TCP:-tcp://127.0.0.1:1234}
REGISTRY=${SLIPWAY_REGISTRY_ADDR:-127.0.0.1:5000}
SOCK=$STATE/buildkitd.sock
CERTS=$STATE/certs
PIDFILE=$STATE/buildkitd.pid
LOG=$STATE/buildkitd.log
BUILDKITD=$TOOLS/buildkitd-$BK_VERSION
BUILDCTL=$TOOLS/buildctl-$BK_VERSION
export PATH=/usr/local/go/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

log() { echo "buildkit.sh: $*" >&2; }

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

ready() { "$BUILDCTL" --addr "unix://$SOCK" debug workers >/dev/null 2>&1; }

# buildkit's go.mod carries exclude directives, which `go install pkg@version`
# refuses, so the binaries are built from a throwaway module that requires it.
build_binaries() {
	[ -x "$BUILDKITD" ] && [ -x "$BUILDCTL" ] && return 0
	local mod=$TOOLS/src/buildkit-$BK_VERSION
	log "building buildkitd/buildctl $BK_VERSION in $mod (one time, a few minutes)"
	mkdir -p "$mod"
	cat >"$mod/go.mod" <<MOD
module slipway.local/buildkit-tools

go 1.26.8

// Same excludes as buildkit's own go.mod: these pseudo-versions do not resolve.
exclude (
	github.com/davecgh/go-spew v1.1.2-0.20180830191138-d8f796af33cc
	github.com/pmezard/go-difflib v1.0.1-0.20181226105442-5d4384ee4fb2
)
MOD
	(
		cd "$mod"
		go get "github.com/moby/buildkit/cmd/buildkitd@$BK_VERSION" "github.com/moby/buildkit/cmd/buildctl@$BK_VERSION"
		local ld="-X github.com/moby/buildkit/version.Version=$BK_VERSION"
		go build -trimpath -ldflags "$ld" -o "$BUILDKITD.tmp" github.com/moby/buildkit/cmd/buildkitd
		go build -trimpath -ldflags "$ld" -o "$BUILDCTL.tmp" github.com/moby/buildkit/cmd/buildctl
	)
	mv "$BUILDKITD.tmp" "$BUILDKITD"
	mv "$BUILDCTL.tmp" "$BUILDCTL"
}

# ensure_runc installs the runc worker's runtime, and busybox-static, from
# which the build tests make their base image (no image pulls here).
ensure_runc() {
	command -v runc >/dev/null && [ -x /bin/busybox ] && return 0
	log "installing runc and busybox-static with apt"
	apt-get -o DPkg::Lock::Timeout=300 update -qq
	apt-get -o DPkg::Lock::Timeout=300 install -y -qq runc busybox-static >/dev/null
}

write_config() {
	cat >"$STATE/buildkitd.toml" <<CONF
root = "$STATE/root"

[grpc]
  address = ["unix://$SOCK", "$TCP"]

# TLS on the TCP listener; with ca set, buildkitd requires and verifies
# client certificates.
[grpc.tls]
  cert = "$CERTS/server/tls.crt"
  key = "$CERTS/server/tls.key"
  ca = "$CERTS/server/ca.crt"

[worker.oci]
  enabled = true
  binary = "$(command -v runc)"
  snapshotter = "auto"
  gc = true

[worker.containerd]
  enabled = false

# The local registry speaks plain HTTP on loopback.
[registry."$REGISTRY"]
  http = true
  insecure = true
CONF
}

up() {
	build_binaries
	ensure_runc
	mkdir -p "$STATE/root"
	local host=${TCP#tcp://}
	host=${host%:*}
	"$ROOT/deploy/buildkitd/certs.sh" "$CERTS" "$host" 127.0.0.1 >/dev/null
	ln -sf "$(basename "$BUILDCTL")" "$TOOLS/buildctl"
	if running && ! grep -q "^export BUILDKIT_TLS_DIR=$CERTS/client$" "$STATE/env" 2>/dev/null; then
		log "restarting: running without mutual TLS"
		down
	fi
	if running; then
		# Explicitly requested addresses must match what it was started
		# with. It is ours (PID file), so restart it with what is asked;
		# its cache stays in the state dir.
		local want
		for want in ${SLIPWAY_BUILDKIT_TCP:+"SLIPWAY_BUILDKIT_TCP=$SLIPWAY_BUILDKIT_TCP"} \
			${SLIPWAY_REGISTRY_ADDR:+"SLIPWAY_BUILDKIT_REGISTRY=$SLIPWAY_REGISTRY_ADDR"}; do
			if ! grep -qx "export $want" "$STATE/env"; then
				log "restarting: running with $(tr '\n' ' ' <"$STATE/env"), asked for $want"
				down
				break
			fi
		done
	fi
	if running; then
		log "already running (pid $(cat "$PIDFILE")): $(tr '\n' ' ' <"$STATE/env")"
	else
		write_config
		log "starting buildkitd $BK_VERSION on unix://$SOCK and $TCP (mutual TLS), registry $REGISTRY as http (log $LOG)"
		nohup "$BUILDKITD" --config "$STATE/buildkitd.toml" >"$LOG" 2>&1 &
		echo $! >"$PIDFILE"
		printf 'export BUILDKIT_HOST=unix://%s\nexport SLIPWAY_BUILDKIT_TCP=%s\nexport SLIPWAY_BUILDKIT_REGISTRY=%s\nexport BUILDKIT_TLS_DIR=%s\n' "$SOCK" "$TCP" "$REGISTRY" "$CERTS/client" >"$STATE/env"
	fi
	for _ in $(seq 150); do
		if ready; then
			cat "$STATE/env"
			return 0
		fi
		running || break
		sleep 0.2
	done
	log "buildkitd did not become ready; last log lines:"
	tail -n 30 "$LOG" >&2 || true
	exit 1
}

down() {
	if running; then
		local pid
		pid=$(cat "$PIDFILE")
		log "stopping pid $pid"
		kill "$pid"
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -f "$PIDFILE" "$STATE/env"
	# Deepest first, so nested overlay/bind mounts come off before their parents.
	awk -v p="$STATE/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" || log "could not unmount $m"
	done
}

case "${1:-}" in
up) up ;;
down) down ;;
*) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
