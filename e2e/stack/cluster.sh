#!/usr/bin/env bash
# cluster.sh - the local Kubernetes + Tekton of the Slipway stack.
#
#   cluster.sh up       build (once, cached under .cache/stack) and start; on a
#                       running stack only verify
#   cluster.sh down     stop what up started (PID files) and clean the host
#   cluster.sh status   show the processes and run the smoke check (a pod
#                       reaches a ClusterIP Service and https://10.96.0.1, a PVC binds)
#   cluster.sh build    only build the binaries and images
#
# Kubernetes v1.34 (etcd, apiserver, controller-manager, scheduler, kubelet on
# containerd/runc, kube-proxy in iptables mode) and Tekton Pipelines (controller
# out of cluster, no admission webhook), all built from pinned Go modules and
# Debian packages. Pods live on the bridge cni-slipway0 (10.244.0.0/24); the
# host is 10.244.0.1 for them. There is no cluster DNS: pods use IP addresses.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ipset: kube-router's firewall (netpol.sh) keeps the policies' peers in ipsets.
APT_PACKAGES="etcd-server openssl containerd runc containernetworking-plugins busybox-static iptables ipset conntrack iproute2"
BUSYBOX_IMAGE=$STACK_BUSYBOX_IMAGE
PAUSE_IMAGE=stack.slipway.local/pause:v1
TEKTON_IMAGE_PREFIX=stack.slipway.local/tekton
# Host directories the kubelet, containerd and CNI create outside the state dir.
HOST_DIRS="/var/lib/kubelet /var/log/containers /var/log/pods /var/lib/cni /run/containerd $HOSTPATH_DIR"

install_packages() {
  local missing=0 c
  for c in etcd openssl containerd runc ctr iptables ipset conntrack ip /bin/busybox /usr/lib/cni/bridge; do
    command -v "$c" >/dev/null 2>&1 || missing=1
  done
  [ $missing = 0 ] && return 0
  log "apt-get install $APT_PACKAGES"
  { apt-get update -qq -o DPkg::Lock::Timeout=300 &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends $APT_PACKAGES
  } >"$LOGS/apt.log" 2>&1 || { tail -20 "$LOGS/apt.log"; die "apt-get install failed"; }
}

# ------------------------------------------------------------------ build
# Binaries are built once per version; a stamp file records what is in bin/.

build_kubernetes() {
  local stamp=$BIN/.kubernetes-v$K8S_VERSION c missing=0
  local cmds="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl"
  for c in $cmds; do [ -x "$BIN/$c" ] || missing=1; done
  if [ -f "$stamp" ] && [ $missing = 0 ]; then return 0; fi
  log "building Kubernetes v$K8S_VERSION from the Go module (several minutes, once)"
  local d=$S/build/kubernetes gomod minor=${K8S_VERSION#*.}
  minor=${minor%%.*}
  mkdir -p "$d" "$BIN"
  gomod=$(cd "$d" && env "${GO_ENV[@]}" go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [ -f "$gomod" ] || die "cannot download k8s.io/kubernetes@v$K8S_VERSION"
  # k8s.io/kubernetes replaces its staging modules with ./staging paths; point
  # each at the published v0.x release of the same version instead.
  {
    printf 'module slipway.local/stack/kubernetes\n\ngo 1.24.0\n\nrequire k8s.io/kubernetes v%s\n\nreplace (\n' "$K8S_VERSION"
    grep -E '=> \./staging' "$gomod" | awk -v v="v0.${K8S_VERSION#1.}" '{print "\t" $1 " => " $1 " " v}' | sort -u
    printf ')\n'
  } >"$d/go.mod"
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for c in $cmds; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c"; done
    printf ')\n'
  } >"$d/tools.go"
  (cd "$d" && env "${GO_ENV[@]}" go mod tidy) >"$LOGS/build-kubernetes.log" 2>&1 || { tail -20 "$LOGS/build-kubernetes.log"; die "go mod tidy (kubernetes) failed"; }
  local ldf="-s -w" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf="$ldf -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=${K8S_VERSION%%.*} -X $p.gitMinor=$minor"
    ldf="$ldf -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  # shellcheck disable=SC2046
  (cd "$d" && env "${GO_ENV[@]}" go build -trimpath -ldflags "$ldf" -o "$BIN/" $(for c in $cmds; do echo "k8s.io/kubernetes/cmd/$c"; done)) \
    >>"$LOGS/build-kubernetes.log" 2>&1 || { tail -30 "$LOGS/build-kubernetes.log"; die "building Kubernetes failed"; }
  touch "$stamp"
}

build_tekton() {
  local stamp=$BIN/tekton/.tekton-$TEKTON_VERSION c missing=0
  local cmds="controller entrypoint nop workingdirinit sidecarlogresults"
  for c in $cmds; do [ -x "$BIN/tekton/$c" ] || missing=1; done
  if [ -f "$stamp" ] && [ $missing = 0 ]; then return 0; fi
  log "building Tekton Pipelines $TEKTON_VERSION from the Go module (a few minutes, once)"
  local d=$S/build/tekton
  mkdir -p "$d" "$BIN/tekton"
  printf 'module slipway.local/stack/tekton\n\ngo 1.25\n\nrequire github.com/tektoncd/pipeline %s\n' "$TEKTON_VERSION" >"$d/go.mod"
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for c in $cmds; do printf '\t_ "github.com/tektoncd/pipeline/cmd/%s"\n' "$c"; done
    printf ')\n'
  } >"$d/tools.go"
  (cd "$d" && env "${GO_ENV[@]}" go mod tidy) >"$LOGS/build-tekton.log" 2>&1 || { tail -20 "$LOGS/build-tekton.log"; die "go mod tidy (tekton) failed"; }
  # shellcheck disable=SC2046
  (cd "$d" && env "${GO_ENV[@]}" go build -trimpath -ldflags "-s -w" -o "$BIN/tekton/" $(for c in $cmds; do echo "github.com/tektoncd/pipeline/cmd/$c"; done)) \
    >>"$LOGS/build-tekton.log" 2>&1 || { tail -30 "$LOGS/build-tekton.log"; die "building Tekton failed"; }
  touch "$stamp"
}

# tekton_config_dir: the module's config/ (CRDs, RBAC, config maps) from the build's module cache.
tekton_config_dir() {
  local dir
  # `go mod download` first: the binaries may be cached while the module
  # cache (shared with the machine) has never extracted this version.
  dir=$(cd "$S/build/tekton" && env "${GO_ENV[@]}" go mod download -json github.com/tektoncd/pipeline | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [ -n "$dir" ] && [ -d "$dir/config" ] || die "tekton module not downloaded (go mod download github.com/tektoncd/pipeline in $S/build/tekton)"
  echo "$dir/config"
}

# ------------------------------------------------------------------ images
# oci_archive ROOTFS REF OUT ENTRYPOINT_JSON: a single-layer OCI image layout
# tarball that `ctr images import` accepts; reproducible (fixed mtime/owner).
oci_archive() {
  local rootfs=$1 ref=$2 out=$3 entrypoint=$4 w diff_id layer_sha layer_size cfg_sha cfg_size man_sha man_size
  w=$(mktemp -d)
  mkdir -p "$w/blobs/sha256"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$rootfs" -cf "$w/layer.tar" .
  diff_id=$(sha256sum "$w/layer.tar" | cut -d' ' -f1)
  gzip -n "$w/layer.tar"
  blob() { # blob FILE: move FILE into blobs/ and print "digest size"
    local d s
    d=$(sha256sum "$1" | cut -d' ' -f1); s=$(stat -c %s "$1")
    mv "$1" "$w/blobs/sha256/$d"
    echo "$d $s"
  }
  read -r layer_sha layer_size < <(blob "$w/layer.tar.gz")
  printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":%s,"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$entrypoint" "$diff_id" >"$w/config.json"
  read -r cfg_sha cfg_size < <(blob "$w/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
    "$cfg_sha" "$cfg_size" "$layer_sha" "$layer_size" >"$w/manifest.json"
  read -r man_sha man_size < <(blob "$w/manifest.json")
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$man_sha" "$man_size" "$ref" "${ref##*:}" >"$w/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$w/oci-layout"
  tar -C "$w" -cf "$out.tmp" oci-layout index.json blobs
  mv "$out.tmp" "$out"
  rm -rf "$w"
}

build_images() {
  local d=$S/images stamp=$S/images/.stamp-$TEKTON_VERSION
  [ -f "$stamp" ] && return 0
  log "making the local images (pause, busybox, tekton)"
  rm -rf "$d"; mkdir -p "$d/src"
  # pause: sleeps until signalled, the sandbox's only job.
  cat >"$d/src/pause.go" <<'GO'
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
	<-c
}
GO
  mkdir -p "$d/rootfs-pause"
  (cd "$d/src" && env "${GO_ENV[@]}" GO111MODULE=off go build -trimpath -ldflags "-s -w" -o "$d/rootfs-pause/pause" pause.go) || die "building pause failed"
  oci_archive "$d/rootfs-pause" "$PAUSE_IMAGE" "$d/pause.tar" '["/pause"]'

  local r=$d/rootfs-busybox a
  mkdir -p "$r/bin" "$r/tmp" "$r/etc" "$r/workspace" "$r/www"
  cp /bin/busybox "$r/bin/busybox"
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"; done
  chmod 1777 "$r/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$r/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
  oci_archive "$r" "$BUSYBOX_IMAGE" "$d/busybox.tar" '["/bin/sh"]'

  local c
  for c in entrypoint nop workingdirinit sidecarlogresults; do
    mkdir -p "$d/rootfs-$c/ko-app" "$d/rootfs-$c/tmp"
    chmod 1777 "$d/rootfs-$c/tmp"
    cp "$BIN/tekton/$c" "$d/rootfs-$c/ko-app/$c"
    oci_archive "$d/rootfs-$c" "$TEKTON_IMAGE_PREFIX-$c:$TEKTON_VERSION" "$d/tekton-$c.tar" "[\"/ko-app/$c\"]"
  done
  rm -rf "$d"/rootfs-* "$d/src"
  touch "$stamp"
}

import_images() {
  local t
  for t in "$S"/images/*.tar; do
    "${CTR[@]}" images import "$t" >/dev/null || die "importing $t into containerd failed"
  done
}

# ------------------------------------------------------------------ PKI
pki() {
  [ -f "$PKI/.done" ] && return 0
  log "generating the cluster PKI"
  rm -rf "$PKI"; mkdir -p "$PKI"
  (
    cd "$PKI"
    openssl genrsa -out ca.key 2048 2>/dev/null
    openssl req -x509 -new -nodes -key ca.key -subj "/CN=slipway-stack-ca" -days 3650 -out ca.crt
    printf '[ext]\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' \
      "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:$STACK_HOST_IP,IP:10.96.0.1" >server.ext
    printf '[ext]\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >client.ext
    sign() { # sign NAME SUBJECT EXTFILE
      openssl genrsa -out "$1.key" 2048 2>/dev/null
      openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile "$3" -extensions ext -out "$1.crt" 2>/dev/null
      rm -f "$1.csr"
    }
    sign apiserver "/CN=kube-apiserver" server.ext
    sign admin "/O=system:masters/CN=slipway-admin" client.ext
    sign node "/O=system:nodes/CN=system:node:$NODE_NAME" client.ext
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  )
  touch "$PKI/.done"
}

# kubeconfig FILE USER: a kubeconfig for the client certificate pki/USER.
kubeconfig() {
  cat >"$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: slipway
  cluster: {server: "https://127.0.0.1:6443", certificate-authority: "$PKI/ca.crt"}
users:
- name: $2
  user: {client-certificate: "$PKI/$2.crt", client-key: "$PKI/$2.key"}
contexts:
- name: slipway
  context: {cluster: slipway, user: $2}
current-context: slipway
KC
}

# ------------------------------------------------------------------ host network
# The bridge exists before anything starts so that 10.244.0.1 is a local
# address for the apiserver, kubelet, registry and buildkitd; the CNI bridge
# plugin then reuses it. Pods may only talk on this bridge and to the host:
# SLIPWAY-FORWARD drops anything they would forward elsewhere.
host_network() {
  mkdir -p "$RUN/host"
  if ! ip link show "$STACK_BRIDGE" >/dev/null 2>&1; then
    ip link add "$STACK_BRIDGE" type bridge
    touch "$RUN/host/bridge"
  fi
  # replace, not show|grep -q||add: under pipefail grep -q's early exit can
  # SIGPIPE ip, and the add then fails on an address that is already there.
  ip addr replace "$STACK_HOST_IP/24" dev "$STACK_BRIDGE"
  ip link set "$STACK_BRIDGE" up
  # Remember the host's sysctls once so down.sh can put them back.
  local k f
  for k in net/ipv4/ip_forward net/bridge/bridge-nf-call-iptables; do
    f=$RUN/host/sysctl.$(basename "$k")
    [ -f "$f" ] || cat "/proc/sys/$k" >"$f"
    echo 1 >"/proc/sys/$k"   # forwarding for Service DNAT; br_netfilter so same-bridge replies are un-NATed
  done
  if ! iptables -S SLIPWAY-FORWARD >/dev/null 2>&1; then
    iptables -N SLIPWAY-FORWARD
    iptables -A SLIPWAY-FORWARD -i "$STACK_BRIDGE" -o "$STACK_BRIDGE" -j ACCEPT
    iptables -A SLIPWAY-FORWARD -i "$STACK_BRIDGE" -j DROP
    iptables -A SLIPWAY-FORWARD -o "$STACK_BRIDGE" -j DROP
  fi
  iptables -C FORWARD -j SLIPWAY-FORWARD 2>/dev/null || iptables -I FORWARD 1 -j SLIPWAY-FORWARD
  # Host directories the kubelet creates outside the state dir: note which
  # ones were already there so down.sh removes only what the stack added.
  local p
  for p in $HOST_DIRS; do
    f=$RUN/host/existed.$(echo "$p" | tr / _)
    [ -e "$f" ] || { [ -e "$p" ] && echo yes >"$f" || echo no >"$f"; }
  done
}

# ------------------------------------------------------------------ configs
write_configs() {
  mkdir -p "$RUN/containerd/certs.d/$REGISTRY" "$RUN/cni/net.d" "$RUN/cni/ipam" "$RUN/kubelet/pki" "$RUN/pod-logs" "$RUN/etcd"
  kubeconfig "$KUBECONFIG" admin
  kubeconfig "$RUN/kubelet.kubeconfig" node

  # containerd: everything under run/, pulls of the stack registry over plain HTTP.
  containerd config default | sed \
    -e "s#^root = .*#root = \"$RUN/containerd/root\"#" \
    -e "s#^state = .*#state = \"$RUN/containerd/state\"#" \
    -e "s#address = \"/run/containerd/containerd.sock\"#address = \"$RUN/containerd/containerd.sock\"#" \
    -e "s#sandbox_image = .*#sandbox_image = \"$PAUSE_IMAGE\"#" \
    -e "s#bin_dir = \"/opt/cni/bin\"#bin_dir = \"/usr/lib/cni\"#" \
    -e "s#conf_dir = \"/etc/cni/net.d\"#conf_dir = \"$RUN/cni/net.d\"#" \
    -e "s#path = \"/opt/containerd\"#path = \"$RUN/containerd/opt\"#" \
    -e "s#restrict_oom_score_adj = false#restrict_oom_score_adj = true#" \
    -e "s#netns_mounts_under_state_dir = false#netns_mounts_under_state_dir = true#" \
    -e "s#config_path = \"\"#config_path = \"$RUN/containerd/certs.d\"#" \
    >"$RUN/containerd/config.toml"
  grep -q "config_path = \"$RUN/containerd/certs.d\"" "$RUN/containerd/config.toml" || die "containerd config: registry config_path not set"
  grep -q 'restrict_oom_score_adj = true' "$RUN/containerd/config.toml" || die "containerd config: restrict_oom_score_adj not set"
  cat >"$RUN/containerd/certs.d/$REGISTRY/hosts.toml" <<TOML
server = "http://$REGISTRY"

[host."http://$REGISTRY"]
  capabilities = ["pull", "resolve"]
TOML

  cat >"$RUN/cni/net.d/10-slipway.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "slipway",
  "plugins": [{
    "type": "bridge", "bridge": "$STACK_BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
    "ipam": {"type": "host-local", "dataDir": "$RUN/cni/ipam",
             "ranges": [[{"subnet": "$STACK_POD_CIDR", "gateway": "$STACK_HOST_IP", "rangeStart": "10.244.0.10"}]],
             "routes": [{"dst": "0.0.0.0/0"}]}
  }]
}
JSON

  cat >"$RUN/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $STACK_HOST_IP
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://$RUN/containerd/containerd.sock
imageServiceEndpoint: unix://$RUN/containerd/containerd.sock
podLogsDir: $RUN/pod-logs
authentication: {anonymous: {enabled: false}, webhook: {enabled: false}, x509: {clientCAFile: $PKI/ca.crt}}
authorization: {mode: AlwaysAllow}
resolvConf: ""
serializeImagePulls: false
maxPods: 200
evictionHard: {memory.available: "100Mi", nodefs.available: "2%", imagefs.available: "2%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
YAML

  cat >"$RUN/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: 10.244.0.0/16
hostnameOverride: $NODE_NAME
bindAddress: $STACK_HOST_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["$STACK_HOST_IP/32"]
clientConnection: {kubeconfig: "$KUBECONFIG"}
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
YAML
}

# ------------------------------------------------------------------ start
start_control_plane() {
  start etcd etcd --name slipway --data-dir "$RUN/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster slipway=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381
  # --advertise-address puts the `kubernetes` Service endpoint on our bridge.
  start kube-apiserver "$BIN/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
    --bind-address=0.0.0.0 --secure-port=6443 --advertise-address="$STACK_HOST_IP" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" --client-ca-file="$PKI/ca.crt" \
    --kubelet-client-certificate="$PKI/admin.crt" --kubelet-client-key="$PKI/admin.key" \
    --kubelet-preferred-address-types=InternalIP \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range="$STACK_SERVICE_CIDR" --authorization-mode=Node,RBAC \
    --enable-admission-plugins=NodeRestriction --allow-privileged=true
  wait_for 120 "kube-apiserver /readyz" "${KUBECTL[@]}" get --raw /readyz
  start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig="$KUBECONFIG" \
    --leader-elect=false --bind-address=127.0.0.1 --use-service-account-credentials=true \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --service-cluster-ip-range="$STACK_SERVICE_CIDR" --cluster-cidr=10.244.0.0/16 \
    --enable-hostpath-provisioner=true
  start kube-scheduler "$BIN/kube-scheduler" --kubeconfig="$KUBECONFIG" --leader-elect=false --bind-address=127.0.0.1
}

# cri_ready: containerd lists its CRI plugin as ok (no pipe: see host_network).
cri_ready() {
  local out
  out=$("${CTR[@]}" plugins ls 2>/dev/null) || return 1
  grep -Eq 'io\.containerd\.grpc\.v1[[:space:]]+cri[[:space:]].*[[:space:]]ok' <<<"$out"
}

start_node() {
  start containerd containerd --config "$RUN/containerd/config.toml"
  wait_for 30 "containerd" "${CTR[@]}" version
  # `ctr version` answers before the CRI plugin is up; a kubelet started then
  # exits at once ("server is not initialized yet"), which a restart on old
  # state (many containers to reload) makes likely.
  wait_for 120 "containerd's CRI plugin" cri_ready
  import_images
  start kubelet "$BIN/kubelet" --config="$RUN/kubelet.yaml" --kubeconfig="$RUN/kubelet.kubeconfig" \
    --root-dir="$RUN/kubelet" --cert-dir="$RUN/kubelet/pki" --node-ip="$STACK_HOST_IP" --hostname-override="$NODE_NAME"
  start kube-proxy "$BIN/kube-proxy" --config="$RUN/kube-proxy.yaml"
  # The kubelet's own healthz, not the Node object: on a restart etcd still
  # holds the old Node, Ready until the controller notices it is not.
  wait_for 90 "kubelet healthz" curl -sf http://127.0.0.1:10248/healthz
  wait_for 90 "node $NODE_NAME registered" "${KUBECTL[@]}" get node "$NODE_NAME"
  "${KUBECTL[@]}" wait --for=condition=Ready "node/$NODE_NAME" --timeout=120s >/dev/null
  # A default StorageClass served by the controller-manager's host-path
  # provisioner (dev/test only) so volumeClaimTemplates get a volume.
  "${KUBECTL[@]}" apply -f - >/dev/null <<YAML
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubernetes.io/host-path
reclaimPolicy: Delete
volumeBindingMode: Immediate
YAML
}

start_tekton() {
  local cfg f
  cfg=$(tekton_config_dir)
  "${KUBECTL[@]}" apply -f "$cfg/100-namespace/" >/dev/null
  # RBAC and config maps, then the CRDs; the admission webhook (500-*) is not run.
  for f in "$cfg"/200-*.yaml "$cfg"/201-*.yaml "$cfg"/clusterrole-aggregate-*.yaml "$cfg"/config-*.yaml; do "${KUBECTL[@]}" apply -f "$f" >/dev/null; done
  "${KUBECTL[@]}" apply -f "$cfg/300-crds/" >/dev/null
  "${KUBECTL[@]}" wait --for=condition=Established crd --all --timeout=60s >/dev/null
  # The affinity assistant would pin PVC-sharing tasks with a StatefulSet; one node needs none of it.
  "${KUBECTL[@]}" -n tekton-pipelines patch configmap feature-flags --type merge \
    -p '{"data":{"coschedule":"disabled","enable-api-fields":"beta"}}' >/dev/null
  start tekton-controller env SYSTEM_NAMESPACE=tekton-pipelines KUBERNETES_MIN_VERSION=v1.28.0 \
    CONFIG_DEFAULTS_NAME=config-defaults CONFIG_LOGGING_NAME=config-logging \
    CONFIG_OBSERVABILITY_NAME=config-observability CONFIG_FEATURE_FLAGS_NAME=feature-flags \
    CONFIG_LEADERELECTION_NAME=config-leader-election-controller CONFIG_SPIRE=config-spire \
    METRICS_DOMAIN=tekton.dev/pipeline PROBES_PORT=18080 KUBECONFIG="$KUBECONFIG" \
    "$BIN/tekton/controller" -disable-ha \
    -entrypoint-image "$TEKTON_IMAGE_PREFIX-entrypoint:$TEKTON_VERSION" \
    -nop-image "$TEKTON_IMAGE_PREFIX-nop:$TEKTON_VERSION" \
    -sidecarlogresults-image "$TEKTON_IMAGE_PREFIX-sidecarlogresults:$TEKTON_VERSION" \
    -workingdirinit-image "$TEKTON_IMAGE_PREFIX-workingdirinit:$TEKTON_VERSION" \
    -shell-image "$BUSYBOX_IMAGE" -shell-image-win mcr.microsoft.com/powershell:nanoserver
}

# ------------------------------------------------------------------ check
COMPONENTS="etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy tekton-controller"

all_running() {
  local c
  for c in $COMPONENTS; do pid_alive "$c" || return 1; done
  "${KUBECTL[@]}" get --raw /readyz >/dev/null 2>&1
}

# smoke_check: from inside a pod, reach a ClusterIP Service backed by another
# pod and the `kubernetes` Service, and write to a PVC the provisioner bound.
smoke_check() {
  local ns=stack-check-$(date +%s) ip phase
  "${KUBECTL[@]}" create namespace "$ns" >/dev/null
  # Pods may be created only once the controller-manager made the namespace's service account.
  wait_for 60 "service account $ns/default" "${KUBECTL[@]}" -n "$ns" get serviceaccount default
  "${KUBECTL[@]}" -n "$ns" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 1   # httpd as PID 1 ignores SIGTERM
  containers:
  - name: httpd
    image: $BUSYBOX_IMAGE
    command: [sh, -c, 'echo slipway-service-ok >/www/index.html && exec httpd -f -p 8080 -h /www']
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 16Mi}}
YAML
  ip=$("${KUBECTL[@]}" -n "$ns" get service web -o jsonpath='{.spec.clusterIP}')
  "${KUBECTL[@]}" -n "$ns" wait --for=condition=Ready pod/web --timeout=90s >/dev/null || { smoke_fail "$ns"; return 1; }
  "${KUBECTL[@]}" -n "$ns" wait --for=jsonpath='{.status.phase}'=Bound pvc/data --timeout=60s >/dev/null || { smoke_fail "$ns"; return 1; }
  "${KUBECTL[@]}" -n "$ns" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: client
    image: $BUSYBOX_IMAGE
    command:
    - sh
    - -ec
    # busybox 1.35 wget segfaults with -T: bound it with timeout instead.
    - |
      # kube-proxy may not have programmed a new Service yet: retry.
      try() { for i in \$(seq 1 30); do "\$@" && return 0; sleep 1; done; return 1; }
      try sh -c 'timeout 5 wget -q -O- http://$ip/ | grep -q slipway-service-ok'
      echo "service $ip reachable"
      try sh -c 'timeout 5 wget -q --no-check-certificate -O- https://10.96.0.1/livez | grep -q ok'
      echo "kubernetes service reachable"
      echo written >/data/proof && grep -q written /data/proof
      echo "pvc writable"
    volumeMounts: [{name: data, mountPath: /data}]
  volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]
YAML
  for _ in $(seq 1 200); do
    phase=$("${KUBECTL[@]}" -n "$ns" get pod client -o jsonpath='{.status.phase}')
    case $phase in Succeeded|Failed) break ;; esac
    sleep 1
  done
  if [ "$phase" != Succeeded ]; then smoke_fail "$ns"; return 1; fi
  "${KUBECTL[@]}" -n "$ns" logs client | sed 's/^/  smoke: /' >&2
  "${KUBECTL[@]}" delete namespace "$ns" --wait=false >/dev/null
}

smoke_fail() {
  echo "stack: smoke check failed in namespace $1 (left for inspection):" >&2
  "${KUBECTL[@]}" -n "$1" get pods,svc,pvc -o wide >&2 || true
  "${KUBECTL[@]}" -n "$1" logs client >&2 || true
  "${KUBECTL[@]}" -n "$1" get events --sort-by=.lastTimestamp >&2 || true
}

status() {
  local c rc=0
  for c in $COMPONENTS; do
    if pid_alive "$c"; then printf '  %-24s running (pid %s)\n' "$c" "$(cat "$RUN/$c.pid")"
    else printf '  %-24s NOT running\n' "$c"; rc=1; fi
  done
  [ $rc = 0 ] || return 1
  "${KUBECTL[@]}" get --raw /readyz >/dev/null || { echo "  kube-apiserver not ready"; return 1; }
  "${KUBECTL[@]}" get nodes -o wide | sed 's/^/  /'
  echo "  no cluster DNS (no CoreDNS): pods reach Services and the host by IP"
  smoke_check
}

# ------------------------------------------------------------------ up / down
up() {
  if all_running; then
    log "stack already running; verifying"
    status
    return
  fi
  local t
  timed() { t=$(date +%s); "$@"; printf '  %-22s %3ss\n' "$1" "$(( $(date +%s) - t ))" >>"$RUN/.phases"; }
  mkdir -p "$RUN" "$LOGS"; : >"$RUN/.phases"
  timed install_packages
  timed build_kubernetes
  timed build_tekton
  timed build_images
  timed pki
  timed host_network
  timed write_configs
  log "starting etcd and the control plane"
  timed start_control_plane
  log "starting containerd, kubelet, kube-proxy"
  timed start_node
  log "starting Tekton"
  timed start_tekton
  log "smoke check"
  timed smoke_check
  echo "cluster phases:" >&2; cat "$RUN/.phases" >&2
}

down() {
  # The NetworkPolicy enforcer first (its own down removes its chains and
  # ipsets); down.sh stops it before the cluster anyway.
  if pid_alive kube-router; then "$(dirname "${BASH_SOURCE[0]}")/netpol.sh" down || true; fi
  # Prometheus too: its data lives in the run state removed below.
  if pid_alive prometheus || pid_alive podsd; then "$(dirname "${BASH_SOURCE[0]}")/prometheus.sh" down || true; fi
  # Traefik too (gateway.sh): its PID file goes with run/ below.
  if pid_alive traefik; then "$(dirname "${BASH_SOURCE[0]}")/gateway.sh" down || true; fi
  stop tekton-controller
  if pid_alive kubelet && pid_alive kube-apiserver; then
    # Let the kubelet tear the pod sandboxes down through CRI (CNI DEL, netns) first.
    "${KUBECTL[@]}" delete pods --all -A --grace-period=1 --wait=false >/dev/null 2>&1 || true
    for _ in $(seq 1 45); do
      [ -z "$("${KUBECTL[@]}" get pods -A -o name 2>/dev/null)" ] && break
      sleep 1
    done
  fi
  stop kube-proxy
  stop kubelet
  if pid_alive containerd; then
    local id
    for id in $("${CTR[@]}" tasks ls -q 2>/dev/null); do "${CTR[@]}" tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
    sleep 1
    for id in $("${CTR[@]}" tasks ls -q 2>/dev/null); do "${CTR[@]}" tasks delete -f "$id" >/dev/null 2>&1 || true; done
    for id in $("${CTR[@]}" containers ls -q 2>/dev/null); do "${CTR[@]}" containers delete "$id" >/dev/null 2>&1 || true; done
  fi
  stop containerd
  stop kube-scheduler
  stop kube-controller-manager
  stop kube-apiserver
  stop etcd
  clean_host
}

# clean_host: undo what the kubelet, kube-proxy, CNI and host_network added.
clean_host() {
  # Mounts under the state dir (pod volumes, netns, container rootfs), deepest first.
  local m
  awk -v s="$S/" 'index($2, s) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  awk '$2 ~ "^/var/lib/kubelet/" {print $2}' /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done

  # iptables: rules in the built-in chains that jump to KUBE-* chains, then the chains.
  local ipt t line c
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null || continue
    for t in filter nat mangle; do
      "$ipt-save" -t "$t" 2>/dev/null | grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j (KUBE-|SLIPWAY-)' |
        while read -r line; do eval "$ipt -t $t -D ${line#-A }" 2>/dev/null || true; done || true
      for c in $("$ipt" -t "$t" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^(KUBE-|SLIPWAY-)/ {print $2}'); do
        "$ipt" -t "$t" -F "$c" 2>/dev/null || true
      done
      for c in $("$ipt" -t "$t" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^(KUBE-|SLIPWAY-)/ {print $2}'); do
        "$ipt" -t "$t" -X "$c" 2>/dev/null || true
      done
    done
  done
  conntrack -D -s 10.244.0.0/16 >/dev/null 2>&1 || true
  conntrack -D -d 10.96.0.0/16 >/dev/null 2>&1 || true

  # The bridge (the veths went with their network namespaces).
  ip link del "$STACK_BRIDGE" 2>/dev/null || true

  # Pod cgroups under the kubelet's cgroup root (cgroupfs driver, cgroup v1 and v2).
  local d
  for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    if [ -d "$d" ]; then find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
  done

  # Host directories the stack added, and the host-path provisioner's volumes.
  local p f
  for p in $HOST_DIRS; do
    f=$RUN/host/existed.$(echo "$p" | tr / _)
    if [ -f "$f" ] && [ "$(cat "$f")" = no ]; then rm -rf "$p"; fi
  done

  # sysctls back to what they were.
  local k
  for k in net/ipv4/ip_forward net/bridge/bridge-nf-call-iptables; do
    f=$RUN/host/sysctl.$(basename "$k")
    if [ -f "$f" ]; then cat "$f" >"/proc/sys/$k"; fi
  done

  # Run state (etcd data, containerd root, kubelet dir); binaries, images and PKI stay cached.
  if [ -d "$RUN" ] && ! awk -v s="$RUN/" 'index($2, s) == 1 {found=1} END {exit !found}' /proc/mounts; then
    rm -rf "$RUN"
    # The local volumes' data belonged to PV objects in the etcd just removed.
    if [ -d "$LOCALPV_DIR" ] && ! awk -v s="$LOCALPV_DIR/" 'index($2, s) == 1 {found=1} END {exit !found}' /proc/mounts; then
      rm -rf "$LOCALPV_DIR"
    fi
  fi
}

# Sourcing the script (tests, debugging) defines the functions without running any.
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0
case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  build) mkdir -p "$LOGS"; install_packages; build_kubernetes; build_tekton; build_images ;;
  *) echo "usage: $0 up|down|status|build" >&2; exit 2 ;;
esac
