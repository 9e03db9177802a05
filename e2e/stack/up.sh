#!/usr/bin/env bash
# up.sh - bring the local Slipway stack up: the cluster first, then the
# registry, buildkitd and the images when their scripts are present.
#
#   e2e/stack/up.sh                 # every part
#   e2e/stack/up.sh cluster         # only the named parts (cluster registry buildkit images)
#
# Idempotent: on a running stack each part only verifies itself. Prints
# `export KUBECONFIG=...` and how long each part took.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/env.sh"

# The other scripts read their addresses from these; all listen on the bridge.
export SLIPWAY_REGISTRY_ADDR=$REGISTRY SLIPWAY_BUILDKIT_TCP=$BUILDKIT_ADDR

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(cluster registry buildkit images)
summary=()
for p in "${parts[@]}"; do
  case $p in
    cluster) cmd=("$HERE/cluster.sh" up) ;;
    registry) cmd=("$HERE/registry.sh" up) ;;
    buildkit) cmd=("$HERE/buildkit.sh" up) ;;
    images) cmd=("$HERE/images.sh") ;;
    *) echo "up.sh: unknown part $p (want cluster registry buildkit images)" >&2; exit 2 ;;
  esac
  if [ ! -x "${cmd[0]}" ]; then
    summary+=("$(printf '  %-10s skipped (%s not present)' "$p" "${cmd[0]##*/}")")
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
  echo "  host (pods reach it at) $STACK_HOST_IP, registry $REGISTRY, buildkitd $BUILDKIT_ADDR, no cluster DNS"
} >&2
echo "export KUBECONFIG=$KUBECONFIG"
echo "# or: . $HERE/env.sh"
