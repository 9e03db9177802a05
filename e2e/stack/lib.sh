# lib.sh - shared by cluster.sh, up.sh and down.sh (sourced, not run).
# Paths derive from this file's location; everything lives under .cache/stack.
# shellcheck shell=bash
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

K8S_VERSION=1.34.10       # kubelet >= 1.35 refuses cgroup v1, which this host has
TEKTON_VERSION=v1.15.1

S=$STACK_CACHE
BIN=$S/bin
RUN=$S/run
LOGS=$S/logs
PKI=$S/pki
HOSTPATH_DIR=/tmp/hostpath_provisioner   # hard-coded by the in-tree host-path provisioner
LOCALPV_DIR=/var/lib/slipway-localpv       # e2e/cmd/localpv volumes (slipway.sh)
NODE_NAME=slipway-node

export PATH=$BIN:/usr/local/go/bin:$PATH
# The Go caches of the stack's own builds sit next to the binaries so that
# removing .cache/stack resets everything; they do not touch the project's.
# The Go module and build caches are the machine's own (go env), shared with
# every checkout, so a fresh clone rebuilds Kubernetes and Tekton from cached
# objects instead of from scratch.
GO_ENV=(GOMODCACHE=$(go env GOMODCACHE) GOCACHE=$(go env GOCACHE) GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOTOOLCHAIN=local)

KUBECTL=(kubectl --kubeconfig "$KUBECONFIG")
CTR=(ctr --address "$RUN/containerd/containerd.sock" -n k8s.io)

_t0=$(date +%s)
log() { echo "[stack $(( $(date +%s) - _t0 ))s] $*" >&2; }
die() { echo "stack: $*" >&2; exit 1; }

# pid_alive NAME: the process recorded in run/NAME.pid exists.
pid_alive() {
  local f=$RUN/$1.pid
  [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

# start NAME CMD...: run CMD in the background, log to logs/NAME.log, record its PID.
start() {
  local name=$1; shift
  if pid_alive "$name"; then return 0; fi
  mkdir -p "$RUN" "$LOGS"
  nohup "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}

# stop NAME: stop only the process whose PID we recorded (TERM, then KILL).
stop() {
  local f=$RUN/$1.pid p
  [ -f "$f" ] || return 0
  p=$(cat "$f")
  if kill "$p" 2>/dev/null; then
    for _ in $(seq 1 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$p" 2>/dev/null || true
  fi
  rm -f "$f"
}

# wait_for SECONDS DESCRIPTION CMD...: retry CMD once a second.
wait_for() {
  local n=$1 what=$2; shift 2
  for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  die "timed out after ${n}s waiting for $what"
}
