#!/usr/bin/env bash
# gateway.sh - the local stack's Gateway API implementation: Traefik's
# kubernetesGateway provider, on the host like kube-router.
#
#   gateway.sh up       build Traefik once (.cache/stack/bin), apply the Gateway
#                       API CRDs, start it, apply GatewayClass traefik and
#                       Gateway slipway-gateway/slipway, wait until it is Programmed
#   gateway.sh down     stop it (PID file), delete the Gateway, the GatewayClass
#                       and its RBAC (the CRDs stay: deleting them would delete
#                       every HTTPRoute)
#   gateway.sh status   whether it runs, answers and programmed the Gateway
#   gateway.sh build    only build the binary
#
# Traffic: http://$STACK_HOST_IP:8000 (the listener "web" of the Gateway;
# routes from every namespace may attach). Traefik's API and ping answer on
# 127.0.0.1:8001 only (the e2e tests read the weights it applies there).
# It reaches pods by their IPs, from the Services' EndpointSlices, as the
# host reaches any pod on the bridge.
#
# Why Traefik v3.6.12:
#   - It is the Gateway API implementation written in Go whole: Envoy Gateway,
#     Contour, Istio, kgateway and Cilium drive Envoy (C++), NGINX Gateway
#     Fabric drives nginx; none of those builds from a Go module alone.
#   - It builds from its Go module (e2e/stack/gateway, its own module:
#     Slipway's go.mod is untouched). v3.6.12 is the newest release the Go
#     module proxy serves that builds as a dependency: v3.7.x requires the
#     nested module github.com/traefik/traefik/dynamic/ext through a
#     replace to a directory of its repository, which a dependency's
#     replace cannot reach and the proxy does not serve.
#   - It implements Gateway API v1.4 (sigs.k8s.io/gateway-api v1.4.0 in its
#     go.mod): the CRDs applied here are that module's standard channel, and
#     HTTPRoute is gateway.networking.k8s.io/v1, the version Slipway edits.
#   - A weighted HTTPRoute rule becomes Traefik's weighted round robin
#     (earliest deadline first): over n requests each backend's count is
#     within one of its weight's share.
#
# Its identity: a client certificate of its own (CN slipway-gateway) from the
# stack's CA, with the read access its informers need (Secrets included:
# the provider's informer for HTTPS listeners' certificates starts in every
# namespace whether or not a listener uses TLS) and status updates of the
# Gateway API objects.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Sourcing cluster.sh defines its helpers (kubeconfig) without running anything.
. "$HERE/cluster.sh"

TRAEFIK_VERSION=v3.6.12   # also in gateway/go.mod
TRAEFIK=$BIN/traefik
GATEWAY_USER=slipway-gateway   # its client certificate's CN, bound to the ClusterRole below
GATEWAY_KUBECONFIG=$RUN/gateway.kubeconfig
GATEWAY_CONFIG=$RUN/traefik.yml
GATEWAY_PORT=8000              # the Gateway's listener, on $STACK_HOST_IP
GATEWAY_API_ADDR=127.0.0.1:8001 # Traefik's API and ping, loopback only
GATEWAY_NS=slipway-gateway
GATEWAY_NAME=slipway
GATEWAY_CLASS=traefik

build() {
  local stamp=$BIN/.traefik-$TRAEFIK_VERSION
  [ -x "$TRAEFIK" ] && [ -f "$stamp" ] && return 0
  log "building Traefik $TRAEFIK_VERSION from the Go module (e2e/stack/gateway, once)"
  mkdir -p "$BIN" "$LOGS"
  local ldf="-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$TRAEFIK_VERSION"
  ldf="$ldf -X github.com/traefik/traefik/v3/pkg/version.BuildDate=1970-01-01T00:00:00Z"
  (cd "$HERE/gateway" && env "${GO_ENV[@]}" go build -trimpath -ldflags "$ldf" -o "$TRAEFIK.tmp" \
    github.com/traefik/traefik/v3/cmd/traefik) >"$LOGS/build-traefik.log" 2>&1 ||
    { tail -30 "$LOGS/build-traefik.log"; die "building Traefik failed"; }
  mv "$TRAEFIK.tmp" "$TRAEFIK"
  touch "$stamp"
}

# crd_dir: the standard-channel CRDs of the sigs.k8s.io/gateway-api version
# Traefik is built with, from the module cache.
crd_dir() {
  local dir
  # `go mod download` first: the binary may be cached while the module
  # cache (shared with the machine) has never extracted this version.
  dir=$(cd "$HERE/gateway" && env "${GO_ENV[@]}" go mod download -json sigs.k8s.io/gateway-api | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [ -n "$dir" ] && [ -d "$dir/config/crd/standard" ] || die "sigs.k8s.io/gateway-api not downloaded (go mod download sigs.k8s.io/gateway-api in $HERE/gateway)"
  echo "$dir/config/crd/standard"
}

crds() {
  local dir
  dir=$(crd_dir)
  # Server-side: the HTTPRoute CRD is too large for the last-applied annotation.
  "${KUBECTL[@]}" apply --server-side --force-conflicts --field-manager=slipway-stack -f "$dir" >/dev/null ||
    die "applying the Gateway API CRDs from $dir failed"
  "${KUBECTL[@]}" wait --for condition=established --timeout=60s \
    crd/gatewayclasses.gateway.networking.k8s.io crd/gateways.gateway.networking.k8s.io \
    crd/httproutes.gateway.networking.k8s.io crd/grpcroutes.gateway.networking.k8s.io \
    crd/referencegrants.gateway.networking.k8s.io crd/backendtlspolicies.gateway.networking.k8s.io >/dev/null ||
    die "the Gateway API CRDs are not established"
}

credentials() {
  if [ ! -s "$PKI/$GATEWAY_USER.crt" ]; then
    (
      cd "$PKI"
      openssl genrsa -out "$GATEWAY_USER.key" 2048 2>/dev/null
      openssl req -new -key "$GATEWAY_USER.key" -subj "/CN=$GATEWAY_USER" -out "$GATEWAY_USER.csr"
      openssl x509 -req -in "$GATEWAY_USER.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
        -extfile client.ext -extensions ext -out "$GATEWAY_USER.crt" 2>/dev/null
      rm -f "$GATEWAY_USER.csr"
    ) || die "cannot make the $GATEWAY_USER client certificate"
  fi
  kubeconfig "$GATEWAY_KUBECONFIG" "$GATEWAY_USER"
  "${KUBECTL[@]}" apply -f - >/dev/null <<YAML
# The informers of Traefik's kubernetesGateway provider (read) and the
# status it writes on the Gateway API objects.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: $GATEWAY_USER}
rules:
  - apiGroups: [""]
    resources: [namespaces, services, configmaps, secrets]
    verbs: [get, list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [get, list, watch]
  - apiGroups: [gateway.networking.k8s.io]
    resources: [gatewayclasses, gateways, httproutes, grpcroutes, referencegrants, backendtlspolicies]
    verbs: [get, list, watch]
  - apiGroups: [gateway.networking.k8s.io]
    resources: [gatewayclasses/status, gateways/status, httproutes/status, grpcroutes/status, backendtlspolicies/status]
    verbs: [update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: $GATEWAY_USER}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: $GATEWAY_USER}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: User, name: $GATEWAY_USER}
YAML
}

# config: Traefik's static configuration. No version check or usage report
# (the stack has no way out); a 500ms throttle so a weight change reaches
# the router within about a second while a burst of EndpointSlice changes
# is one reload.
config() {
  cat >"$GATEWAY_CONFIG" <<YAML
global: {checkNewVersion: false, sendAnonymousUsage: false}
entryPoints:
  web: {address: "$STACK_HOST_IP:$GATEWAY_PORT"}
  traefik: {address: "$GATEWAY_API_ADDR"}
api: {insecure: true, dashboard: false}
ping: {entryPoint: traefik}
providers:
  providersThrottleDuration: 500ms
  kubernetesGateway:
    statusAddress: {ip: "$STACK_HOST_IP"}
log: {level: INFO, noColor: true}
YAML
}

gateway() {
  "${KUBECTL[@]}" apply -f - >/dev/null <<YAML
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: $GATEWAY_CLASS}
spec: {controllerName: traefik.io/gateway-controller}
---
apiVersion: v1
kind: Namespace
metadata: {name: $GATEWAY_NS}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: $GATEWAY_NAME, namespace: $GATEWAY_NS}
spec:
  gatewayClassName: $GATEWAY_CLASS
  listeners:
    - name: web
      protocol: HTTP
      port: $GATEWAY_PORT
      allowedRoutes: {namespaces: {from: All}}
YAML
}

programmed() {
  [ "$("${KUBECTL[@]}" -n "$GATEWAY_NS" get gateway "$GATEWAY_NAME" \
    -o jsonpath='{.status.conditions[?(@.type=="Programmed")].status}' 2>/dev/null)" = True ]
}

pinged() { curl -sf --max-time 2 "http://$GATEWAY_API_ADDR/ping" >/dev/null 2>&1; }

up() {
  "${KUBECTL[@]}" get --raw /readyz >/dev/null 2>&1 || die "the cluster is not up: run e2e/stack/up.sh cluster first"
  mkdir -p "$RUN" "$LOGS"
  build
  crds
  credentials
  config
  if ! pid_alive traefik; then
    log "starting Traefik (log $LOGS/traefik.log)"
    start traefik env KUBECONFIG="$GATEWAY_KUBECONFIG" "$TRAEFIK" --configFile="$GATEWAY_CONFIG"
  fi
  gateway
  local i
  for i in $(seq 1 60); do
    pinged && programmed && break
    pid_alive traefik || { tail -20 "$LOGS/traefik.log" >&2; die "Traefik exited"; }
    sleep 1
  done
  pinged || { tail -20 "$LOGS/traefik.log" >&2; die "Traefik does not answer on $GATEWAY_API_ADDR in 60s"; }
  programmed || { tail -20 "$LOGS/traefik.log" >&2; die "Gateway $GATEWAY_NS/$GATEWAY_NAME not Programmed in 60s"; }
  log "Traefik serves Gateway $GATEWAY_NS/$GATEWAY_NAME on http://$STACK_HOST_IP:$GATEWAY_PORT (pid $(cat "$RUN/traefik.pid"))"
}

down() {
  stop traefik
  if "${KUBECTL[@]}" get --raw /readyz >/dev/null 2>&1; then
    "${KUBECTL[@]}" -n "$GATEWAY_NS" delete gateway "$GATEWAY_NAME" --ignore-not-found >/dev/null 2>&1 || true
    "${KUBECTL[@]}" delete gatewayclass "$GATEWAY_CLASS" --ignore-not-found >/dev/null 2>&1 || true
    "${KUBECTL[@]}" delete clusterrolebinding,clusterrole "$GATEWAY_USER" --ignore-not-found >/dev/null 2>&1 || true
  fi
}

status() {
  if pid_alive traefik; then echo "  traefik                  running (pid $(cat "$RUN/traefik.pid"))"
  else echo "  traefik                  NOT running"; return 1; fi
  pinged || { echo "  traefik does not answer on $GATEWAY_API_ADDR"; return 1; }
  programmed || { echo "  Gateway $GATEWAY_NS/$GATEWAY_NAME is not Programmed"; return 1; }
  echo "  Gateway $GATEWAY_NS/$GATEWAY_NAME on http://$STACK_HOST_IP:$GATEWAY_PORT"
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  build) mkdir -p "$LOGS"; build ;;
  *) echo "usage: $0 up|down|status|build" >&2; exit 2 ;;
esac
