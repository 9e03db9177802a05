# env.sh - source me: the addresses and paths of the local Slipway stack.
#   . e2e/stack/env.sh
# Everything the stack builds or runs lives under the git-ignored .cache/ of the
# repository, so the values below are derived from this file's location.
_slipway_root=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/../.." && pwd)
export SLIPWAY_ROOT=$_slipway_root
export CACHE=$_slipway_root/.cache            # every stack part caches under here
export STACK_CACHE=$CACHE/stack                # the cluster's binaries, images, PKI and run state
export STACK_HOST_IP=10.244.0.1
export STACK_BRIDGE=cni-slipway0
export STACK_POD_CIDR=10.244.0.0/24
export STACK_SERVICE_CIDR=10.96.0.0/16
export STACK_BUSYBOX_IMAGE=stack.slipway.local/busybox:v1   # imported into the node's containerd
export KUBECONFIG=$STACK_CACHE/run/kubeconfig
export REGISTRY=$STACK_HOST_IP:5000
export PROD_REGISTRY=$STACK_HOST_IP:5001   # the "prod" environment's registry (promotions copy into it)
export BUILDKIT_ADDR=tcp://$STACK_HOST_IP:1234
export PROMETHEUS_ADDR=$STACK_HOST_IP:9095   # prometheus.sh (9090 is the Tekton controller's metrics port on the host): what canary analysis queries (--prometheus-url http://$PROMETHEUS_ADDR)
export STACK_POSTGRES_PORT=55433            # the HA deployment's PostgreSQL (postgres.sh), on $STACK_HOST_IP
unset _slipway_root
