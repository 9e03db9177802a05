#!/usr/bin/env bash
# Loopback OCI registry for the local stack and the integration tests.
#   e2e/stack/registry.sh up     # builds crane once and e2e/cmd/registry into .cache/tools, serves on $SLIPWAY_REGISTRY_ADDR
#   e2e/stack/registry.sh down   # stops only the registry this script started (PID file)
# Prints `export SLIPWAY_REGISTRY=...` on success so callers can eval it.
# Blobs live on disk under .cache/registry, so pushed images survive a restart.
# Env: SLIPWAY_REGISTRY_NAME (registry) names a further instance with its
# own state dir .cache/NAME (the stack's "prod" registry is registry-prod);
# SLIPWAY_REGISTRY_CERTS_D, when set, gets ADDR/hosts.toml so containerd
# pulls from it over plain HTTP.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=$ROOT/.cache
TOOLS=$CACHE/tools
NAME=${SLIPWAY_REGISTRY_NAME:-registry}
STATE=$CACHE/$NAME
ADDR=${SLIPWAY_REGISTRY_ADDR:-127.0.0.1:5000}
CRANE_VERSION=v0.22.1
PIDFILE=$STATE/registry.pid
LOG=$STATE/registry.log
export PATH=/usr/local/go/bin:$PATH

log() { echo "registry.sh ($NAME): $*" >&2; }

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

ready() { curl -sf -o /dev/null "http://$ADDR/v2/"; }

crane_bin() {
	local bin=$TOOLS/crane-$CRANE_VERSION
	if [ ! -x "$bin" ]; then
		log "building crane $CRANE_VERSION"
		mkdir -p "$TOOLS"
		GOBIN=$TOOLS go install "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION"
		mv "$TOOLS/crane" "$bin"
	fi
	# Stable name for other scripts (base image builders use it too).
	ln -sf "$(basename "$bin")" "$TOOLS/crane"
	echo "$bin"
}

# registry_bin builds the server (e2e/cmd/registry: ggcr's registry with
# upload bodies spooled first; crane's own server can deadlock BuildKit's
# concurrent pushes). Go's build cache makes a rebuild cheap.
registry_bin() {
	local bin=$TOOLS/registry
	(cd "$ROOT" && CGO_ENABLED=0 go build -o "$bin.tmp" ./e2e/cmd/registry) && mv "$bin.tmp" "$bin"
	echo "$bin"
}

up() {
	mkdir -p "$STATE/disk"
	local server
	crane_bin >/dev/null
	server=$(registry_bin)
	if running && [ -n "${SLIPWAY_REGISTRY_ADDR:-}" ] && [ "$SLIPWAY_REGISTRY_ADDR" != "$(cat "$STATE/addr")" ]; then
		# An explicitly requested address must be the one it serves on (the
		# stack needs the bridge address, pods cannot reach loopback). The
		# process is ours: move it. Blobs stay on disk; callers re-push
		# manifests (images.sh), as after any restart.
		log "moving from $(cat "$STATE/addr") to $SLIPWAY_REGISTRY_ADDR"
		down
	fi
	if running; then
		ADDR=$(cat "$STATE/addr")
		log "already running (pid $(cat "$PIDFILE")) on $ADDR"
	elif ready; then
		# Something we did not start owns the port: refuse rather than share it silently.
		log "$ADDR already serves a registry not started by this script; set SLIPWAY_REGISTRY_ADDR"
		exit 1
	else
		log "starting on $ADDR (log $LOG)"
		nohup "$server" --address "$ADDR" --disk "$STATE/disk" >"$LOG" 2>&1 &
		echo $! >"$PIDFILE"
		echo "$ADDR" >"$STATE/addr"
	fi
	if [ -n "${SLIPWAY_REGISTRY_CERTS_D:-}" ]; then
		# containerd reads this directory at every pull: no restart needed.
		mkdir -p "$SLIPWAY_REGISTRY_CERTS_D/$ADDR"
		printf 'server = "http://%s"\n\n[host."http://%s"]\n  capabilities = ["pull", "resolve"]\n' "$ADDR" "$ADDR" \
			>"$SLIPWAY_REGISTRY_CERTS_D/$ADDR/hosts.toml"
	fi
	for _ in $(seq 100); do
		ready && { echo "export SLIPWAY_REGISTRY=$ADDR"; return 0; }
		running || break
		sleep 0.1
	done
	log "registry did not become ready; last log lines:"
	tail -n 20 "$LOG" >&2 || true
	exit 1
}

down() {
	if running; then
		local pid
		pid=$(cat "$PIDFILE")
		log "stopping pid $pid"
		kill "$pid"
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -f "$PIDFILE" "$STATE/addr"
}

case "${1:-}" in
up) up ;;
down) down ;;
*) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
