#!/usr/bin/env bash
# netpol.sh - the local stack's NetworkPolicy enforcer: kube-router's
# network policy controller (its firewall) alone.
#
#   netpol.sh up       build kube-router once (.cache/stack/bin), start it, wait
#                      until its chains are in place
#   netpol.sh down     stop it (PID file) and remove its iptables chains and ipsets
#   netpol.sh status   whether it runs and its chains are there
#
# The stack's CNI (the bridge plugin) accepts NetworkPolicies and enforces
# none. Why kube-router v2.1.0's firewall:
#   - sigs.k8s.io/kube-network-policies needs nftables' `queue` statement
#     (CONFIG_NFT_QUEUE), which the stack's kernel lacks; Calico and Cilium
#     are whole CNIs (BPF, their own datapath), not an enforcer beside ours.
#   - kube-router's firewall is iptables + ipset on the node, enforces
#     ingress and egress (ipBlock, ports, named ports, pod and namespace
#     selectors) for pods on any bridge, and builds from its Go module
#     (e2e/stack/netpol, its own module: Slipway's go.mod is untouched).
#     v2.1.0 is the newest release the Go module proxy serves.
#   - Its reported flaws are in parts not run here: GHSA-phqm-jgc3-qf8g
#     (the service proxy's externalIPs) and GHSA-v5mh-h5hx-7v92 (the routing
#     controller's GoBGP gRPC server). It runs with --run-router=false
#     --run-service-proxy=false, and --health-port=0: its health server
#     would listen on every interface and serve net/http/pprof too.
#
# kube-router jumps to its chains from the top of INPUT, FORWARD and
# OUTPUT (and moves itself back there at every sync), so its verdicts come
# before the stack's SLIPWAY-FORWARD. It ACCEPTs what policy allows right
# there, so SLIPWAY-FORWARD's DROP of pod traffic leaving the bridge would
# no longer be reached: the chain SLIPWAY-NETPOL-GUARD in mangle's FORWARD
# (before filter) keeps pods on the bridge and the host while it runs.
#
# Not `kube-router --cleanup-config` on down: that also runs the service
# proxy's cleanup, which flushes every IPVS service of the host. down
# removes exactly what the network policy controller creates: the jumps
# commented "kube-router netpol", the KUBE-ROUTER-*, KUBE-POD-FW-* and
# KUBE-NWPLCY-* chains of the filter table and the KUBE-SRC-*/KUBE-DST-*
# ipsets.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Sourcing cluster.sh defines its helpers (kubeconfig, install_packages) without running anything.
. "$HERE/cluster.sh"

KUBE_ROUTER_VERSION=v2.1.0   # also in netpol/go.mod
KUBE_ROUTER=$BIN/kube-router
NETPOL_USER=slipway-netpol   # its client certificate's CN, bound to the ClusterRole below
NETPOL_KUBECONFIG=$RUN/netpol.kubeconfig
GUARD=SLIPWAY-NETPOL-GUARD
# How often kube-router re-syncs everything; every pod, namespace and
# policy change syncs at once anyway.
SYNC_PERIOD=30s

build() {
  local stamp=$BIN/.kube-router-$KUBE_ROUTER_VERSION
  [ -x "$KUBE_ROUTER" ] && [ -f "$stamp" ] && return 0
  log "building kube-router $KUBE_ROUTER_VERSION from the Go module (e2e/stack/netpol, once)"
  mkdir -p "$BIN" "$LOGS"
  local ldf="-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION"
  ldf="$ldf -X github.com/cloudnativelabs/kube-router/v2/pkg/version.BuildDate=1970-01-01T00:00:00Z"
  (cd "$HERE/netpol" && env "${GO_ENV[@]}" go build -trimpath -ldflags "$ldf" -o "$KUBE_ROUTER.tmp" \
    github.com/cloudnativelabs/kube-router/v2/cmd/kube-router) >"$LOGS/build-kube-router.log" 2>&1 ||
    { tail -30 "$LOGS/build-kube-router.log"; die "building kube-router failed"; }
  mv "$KUBE_ROUTER.tmp" "$KUBE_ROUTER"
  touch "$stamp"
}

# ipset: kube-router runs the `ipset` binary (Debian package ipset, in
# cluster.sh's list; installed here too for a stack made before it was).
need_ipset() {
  command -v ipset >/dev/null 2>&1 && return 0
  log "apt-get install ipset"
  { apt-get update -qq -o DPkg::Lock::Timeout=300 &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends ipset
  } >"$LOGS/apt-ipset.log" 2>&1 || { tail -20 "$LOGS/apt-ipset.log"; die "apt-get install ipset failed"; }
}

# credentials: a client certificate of its own (CN slipway-netpol) from the
# stack's CA, and read-only RBAC for the informers kube-router starts.
credentials() {
  if [ ! -s "$PKI/$NETPOL_USER.crt" ]; then
    (
      cd "$PKI"
      openssl genrsa -out "$NETPOL_USER.key" 2048 2>/dev/null
      openssl req -new -key "$NETPOL_USER.key" -subj "/CN=$NETPOL_USER" -out "$NETPOL_USER.csr"
      openssl x509 -req -in "$NETPOL_USER.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
        -extfile client.ext -extensions ext -out "$NETPOL_USER.crt" 2>/dev/null
      rm -f "$NETPOL_USER.csr"
    ) || die "cannot make the $NETPOL_USER client certificate"
  fi
  kubeconfig "$NETPOL_KUBECONFIG" "$NETPOL_USER"
  "${KUBECTL[@]}" apply -f - >/dev/null <<YAML
# kube-router's shared informers (pods, namespaces, NetworkPolicies for the
# firewall; nodes, Services, Endpoints and EndpointSlices are started for
# every controller and must sync too). Read-only.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: $NETPOL_USER}
rules:
  - apiGroups: [""]
    resources: [pods, namespaces, nodes, services, endpoints]
    verbs: [get, list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [get, list, watch]
  - apiGroups: [networking.k8s.io]
    resources: [networkpolicies]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: $NETPOL_USER}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: $NETPOL_USER}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: User, name: $NETPOL_USER}
YAML
}

guard_up() {
  if ! iptables -t mangle -S "$GUARD" >/dev/null 2>&1; then
    iptables -t mangle -N "$GUARD"
    iptables -t mangle -A "$GUARD" -i "$STACK_BRIDGE" ! -o "$STACK_BRIDGE" -j DROP
    iptables -t mangle -A "$GUARD" ! -i "$STACK_BRIDGE" -o "$STACK_BRIDGE" -j DROP
  fi
  iptables -t mangle -C FORWARD -j "$GUARD" 2>/dev/null || iptables -t mangle -I FORWARD 1 -j "$GUARD"
}

guard_down() {
  while iptables -t mangle -D FORWARD -j "$GUARD" 2>/dev/null; do :; done
  iptables -t mangle -F "$GUARD" 2>/dev/null || true
  iptables -t mangle -X "$GUARD" 2>/dev/null || true
}

# synced: kube-router made its chains, jumps to them first from FORWARD,
# and finished a full sync (the explicit ACCEPT comes with the first one).
synced() {
  local out
  out=$(iptables -S FORWARD 2>/dev/null) || return 1
  [[ $(sed -n 2p <<<"$out") == *"-j KUBE-ROUTER-FORWARD"* ]] || return 1
  out=$(iptables -S KUBE-ROUTER-FORWARD 2>/dev/null) || return 1
  grep -q 'explicitly ACCEPT traffic that comply to network policies' <<<"$out" &&
    iptables -S KUBE-NWPLCY-DEFAULT >/dev/null 2>&1
}

up() {
  "${KUBECTL[@]}" get --raw /readyz >/dev/null 2>&1 || die "the cluster is not up: run e2e/stack/up.sh cluster first"
  mkdir -p "$RUN" "$LOGS"
  need_ipset
  build
  credentials
  guard_up
  if ! pid_alive kube-router; then
    log "starting kube-router's firewall (log $LOGS/kube-router.log)"
    start kube-router "$KUBE_ROUTER" --kubeconfig="$NETPOL_KUBECONFIG" --hostname-override="$NODE_NAME" \
      --run-firewall=true --run-router=false --run-service-proxy=false --run-loadbalancer=false \
      --health-port=0 --metrics-port=0 --enable-ipv4=true --enable-ipv6=false \
      --service-cluster-ip-range="$STACK_SERVICE_CIDR" --iptables-sync-period="$SYNC_PERIOD"
  fi
  local i
  for i in $(seq 1 60); do
    synced && break
    pid_alive kube-router || { tail -20 "$LOGS/kube-router.log" >&2; die "kube-router exited"; }
    sleep 1
  done
  synced || { tail -20 "$LOGS/kube-router.log" >&2; die "kube-router did not sync its chains in 60s"; }
  log "kube-router enforces NetworkPolicies (pid $(cat "$RUN/kube-router.pid"))"
}

# leftovers: what kube-router's firewall made that is still there, one a line.
leftovers() {
  iptables -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-(ROUTER|POD-FW|NWPLCY)-/ {print "chain " $2}'
  iptables -S 2>/dev/null | awk '/kube-router netpol/ {print "rule " $0}'
  ipset list -n 2>/dev/null | awk '/^(inet6:)?KUBE-(SRC|DST)-/ {print "ipset " $0}'
  iptables -t mangle -S "$GUARD" >/dev/null 2>&1 && echo "chain mangle $GUARD"
  return 0
}

clean() {
  local line c s
  # The jumps first, so nothing enters the chains while they go.
  iptables-save -t filter 2>/dev/null | grep -E '^-A (INPUT|FORWARD|OUTPUT) .*-j KUBE-ROUTER-' |
    while read -r line; do eval "iptables -t filter -D ${line#-A }" 2>/dev/null || true; done || true
  for c in $(iptables -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-(ROUTER|POD-FW|NWPLCY)-/ {print $2}'); do
    iptables -F "$c" 2>/dev/null || true
  done
  for c in $(iptables -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-(ROUTER|POD-FW|NWPLCY)-/ {print $2}'); do
    iptables -X "$c" 2>/dev/null || true
  done
  if command -v ipset >/dev/null 2>&1; then
    for s in $(ipset list -n 2>/dev/null | grep -E '^(inet6:)?KUBE-(SRC|DST)-' || true); do
      ipset destroy "$s" 2>/dev/null || true
    done
  fi
  guard_down
}

down() {
  stop kube-router
  clean
  local left
  left=$(leftovers)
  [ -z "$left" ] || die "kube-router left behind:
$left"
  if "${KUBECTL[@]}" get --raw /readyz >/dev/null 2>&1; then
    "${KUBECTL[@]}" delete clusterrolebinding,clusterrole "$NETPOL_USER" --ignore-not-found >/dev/null 2>&1 || true
  fi
}

status() {
  if pid_alive kube-router; then echo "  kube-router              running (pid $(cat "$RUN/kube-router.pid"))"
  else echo "  kube-router              NOT running"; return 1; fi
  synced || { echo "  kube-router's chains are not in place"; return 1; }
  echo "  $(iptables -S | awk '$1 == "-N" && $2 ~ /^KUBE-POD-FW-/' | wc -l) pod firewall chains, $(ipset list -n | grep -cE '^KUBE-(SRC|DST)-' || true) ipsets"
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  build) mkdir -p "$LOGS"; build ;;
  *) echo "usage: $0 up|down|status|build" >&2; exit 2 ;;
esac
