#!/usr/bin/env bash
# up.sh - bring the local Slipway stack up: the cluster first, its
# NetworkPolicy enforcer and its Gateway API implementation (Traefik), then
# the registry, buildkitd and the images when their scripts are present,
# and Prometheus last (its pod discovery, e2e/cmd/podsd, links the
# client-go the Slipway image's build compiled).
#
#   e2e/stack/up.sh                 # every part
#   e2e/stack/up.sh cluster         # only the named parts (cluster netpol gateway registry registry-prod buildkit images prometheus postgres)
#
# postgres (the HA deployment's store, postgres.sh) is not a default part:
# HA=1 e2e/stack/slipway.sh up starts it.
#
# Idempotent: on a running stack each part only verifies itself. Prints
# `export KUBECONFIG=...` and how long each part took.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/env.sh"

# The other scripts read their addresses from these; all listen on the bridge.
export SLIPWAY_REGISTRY_ADDR=$REGISTRY SLIPWAY_BUILDKIT_TCP=$BUILDKIT_ADDR

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(cluster netpol gateway registry registry-prod buildkit images prometheus)
summary=()
for p in "${parts[@]}"; do
  case $p in
    cluster) cmd=("$HERE/cluster.sh" up) ;;
    # kube-router's firewall: the bridge CNI enforces no NetworkPolicy (netpol.sh).
    netpol) cmd=("$HERE/netpol.sh" up) ;;
    # What canary analysis queries; it scrapes annotated pods (prometheus.sh).
    prometheus) cmd=("$HERE/prometheus.sh" up) ;;
    # Traefik's Gateway API provider: HTTPRoutes served on $STACK_HOST_IP:8000 (gateway.sh).
    gateway) cmd=("$HERE/gateway.sh" up) ;;
    registry) cmd=(env SLIPWAY_REGISTRY_CERTS_D="$STACK_CACHE/run/containerd/certs.d" "$HERE/registry.sh" up) ;;
    # A second registry, so a promotion's copy by digest crosses registries.
    registry-prod) cmd=(env SLIPWAY_REGISTRY_ADDR="$PROD_REGISTRY" SLIPWAY_REGISTRY_NAME=registry-prod
      SLIPWAY_REGISTRY_CERTS_D="$STACK_CACHE/run/containerd/certs.d" "$HERE/registry.sh" up) ;;
    buildkit) cmd=("$HERE/buildkit.sh" up) ;;
    images) cmd=("$HERE/images.sh") ;;
    postgres) cmd=("$HERE/postgres.sh" up) ;;
    *) echo "up.sh: unknown part $p (want cluster netpol gateway registry registry-prod buildkit images prometheus postgres)" >&2; exit 2 ;;
  esac
  # The script is the first word that is not env or an assignment.
  script=
  for w in "${cmd[@]}"; do case $w in env|*=*) ;; *) script=$w; break ;; esac; done
  if [ ! -x "$script" ]; then
    summary+=("$(printf '  %-10s skipped (%s not present)' "$p" "${script##*/}")")
    continue
  fi
  t=$(date +%s)
  # The other scripts print `export ...` lines for eval; keep stdout for ours.
  "${cmd[@]}" >&2 || { echo "up.sh: $p failed (${cmd[*]})" >&2; exit 1; }
  summary+=("$(printf '  %-10s %4ss' "$p" "$(( $(date +%s) - t ))")")
done

{
  echo "stack up:"
  printf '%s\n' "${summary[@]}"
  np="NetworkPolicies NOT enforced (up.sh netpol)"
  [ -f "$STACK_CACHE/run/kube-router.pid" ] && np="NetworkPolicies enforced (kube-router's firewall)"
  echo "  host (pods reach it at) $STACK_HOST_IP, registry $REGISTRY (prod: $PROD_REGISTRY), buildkitd $BUILDKIT_ADDR, prometheus http://$PROMETHEUS_ADDR, no cluster DNS, $np"
  [ -f "$STACK_CACHE/run/traefik.pid" ] &&
    echo "  Gateway API: Gateway slipway-gateway/slipway (class traefik) on http://$STACK_HOST_IP:8000, Traefik's API on 127.0.0.1:8001"
} >&2
echo "export KUBECONFIG=$KUBECONFIG"
echo "# or: . $HERE/env.sh"
