#!/usr/bin/env bash
# down.sh - stop the local Slipway stack in the reverse order of up.sh; each
# part stops only the processes it recorded in its PID files. The cluster part
# also removes what the kubelet added to the host (iptables KUBE-* chains, the
# CNI bridge, pod cgroups, mounts, /var/lib/kubelet). Caches stay.
#
#   e2e/stack/down.sh               # every part
#   e2e/stack/down.sh buildkit      # only the named parts
# postgres (the HA deployment's, postgres.sh) stops first: it listens on the
# bridge address, which the cluster part removes.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/env.sh"
export SLIPWAY_REGISTRY_ADDR=$REGISTRY SLIPWAY_BUILDKIT_TCP=$BUILDKIT_ADDR

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(postgres prometheus buildkit registry-prod registry gateway netpol cluster)
rc=0
for p in "${parts[@]}"; do
  env=()
  case $p in
    cluster|registry|buildkit|netpol|prometheus|postgres|gateway) script=$HERE/$p.sh ;;
    registry-prod) script=$HERE/registry.sh env=(SLIPWAY_REGISTRY_ADDR="$PROD_REGISTRY" SLIPWAY_REGISTRY_NAME=registry-prod) ;;
    images) continue ;; # images.sh starts nothing
    *) echo "down.sh: unknown part $p (want postgres cluster netpol gateway prometheus registry registry-prod buildkit)" >&2; exit 2 ;;
  esac
  [ -x "$script" ] || continue
  t=$(date +%s)
  if env "${env[@]}" "$script" down >&2; then
    printf '  %-10s stopped in %ss\n' "$p" "$(( $(date +%s) - t ))" >&2
  else
    echo "down.sh: $p down failed" >&2; rc=1
  fi
done
exit $rc
