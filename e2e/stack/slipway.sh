#!/usr/bin/env bash
# slipway.sh - run Slipway itself in the local stack's cluster, from deploy/.
#
#   e2e/stack/slipway.sh up               # fakescm + `kubectl apply -k` of a generated overlay, wait for rollout
#   e2e/stack/slipway.sh down             # delete Slipway's objects, stop the fakescm (caches stay)
#   e2e/stack/slipway.sh status           # what runs, and the webhook URLs
#   e2e/stack/slipway.sh env              # `export` lines the e2e tests and demo.sh read
#   e2e/stack/slipway.sh next             # the newcomer's path (make dev prints it; hack/wip/readme-test.patch tests it)
#   e2e/stack/slipway.sh apiserver-stop   # stop only kube-apiserver (its PID file), remembering its command line
#   e2e/stack/slipway.sh apiserver-start  # start it again with that command line, wait for /readyz
#   e2e/stack/slipway.sh ha-status        # replicas, store and which replica leads (HA=1)
#   HA=1 e2e/stack/slipway.sh up          # deploy/ha instead: HA_REPLICAS (2) replicas on the stack's
#                                         # PostgreSQL (postgres.sh up, on the host), leader election on;
#                                         # run the e2e tests with SLIPWAY_E2E_HA=1
#   HA=1 HA_STORE_URL=postgres://… HA_PGPASS=… e2e/stack/slipway.sh up
#                                         # the same on another PostgreSQL pods reach (HA_PGPASS: its pgpass line)
#
# Without HA=1 it deploys (back) the default, one replica on SQLite, and
# removes what only the HA deployment has (PodDisruptionBudget, leader
# Role and Lease, the PostgreSQL Secret): the e2e suite's HA phase and the
# fault bench end that way.
#
# The overlay (.cache/stack/slipway/overlay) keeps deploy/ a production base:
# it only sets the image (by digest, so a rebuilt image rolls out), the
# stack's addresses in the ConfigMap, the Secret, the Service's fixed
# ClusterIP, the storage class whose volumes honour fsGroup and the
# addresses CI pods may reach (NetworkPolicies, enforced by netpol.sh).
# Needs the cluster (cluster.sh), the registry with slipway:dev (images.sh
# slipway) and buildkitd up; `make dev` runs them all in order.
# Env: SLIPWAY_TAG (dev) deploys $REGISTRY/slipway:$SLIPWAY_TAG instead.
# STACK_CONFIG_EXTRA: SLIPWAY_*=VALUE lines set over the stack's settings
# below (bench/cmd/faultbench points Slipway at a builds namespace of its
# own with them).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

ROOT=$SLIPWAY_ROOT
STATE=$S/slipway            # overlay, secrets, saved apiserver command line
REPOS=$S/repos              # bare repositories the fakescm serves
FAKESCM_ADDR=$STACK_HOST_IP:8929
FAKESCM_URL=http://$FAKESCM_ADDR
# The fakescm's catch-all inbox (its /_fake/mail lists what arrived).
FAKESCM_SMTP=$STACK_HOST_IP:2525
# A fixed ClusterIP keeps the webhook URL stable across re-deploys.
SERVICE_IP=10.96.80.80
SLIPWAY_URL=http://$SERVICE_IP
IMAGE_REPO=$REGISTRY/slipway
IMAGE_TAG=${SLIPWAY_TAG:-dev}
CRANE=$CACHE/tools/crane
# Volumes of this class are `local` PVs, which the kubelet chowns to the
# pod's fsGroup like any production CSI volume; see e2e/cmd/localpv.
STORAGE_CLASS=slipway-local
# Delivery recovery (README "Missed deliveries recovered"): the fakescm's
# organisation hook for e2e/*, which delivers to Slipway's Service only
# when a test asks it to (POST /_fake/github/deliver), and the GitLab
# project whose heads are reconciled; a pass every few seconds, so the
# recovery tests (e2e/recovery_test.go) wait seconds, not minutes.
GITHUB_HOOK_ID=1
RECOVER_PROJECT=e2e/recovered

# The settings of the stack: the ConfigMap values the overlay writes.
# Every e2e test reaches the API from the one host address, in parallel,
# so the per-client rate limit is raised above what they poll together.
# .slipway.yaml services may run the stack's PostgreSQL (images.sh
# postgres), and the e2e/steps-* repositories' steps may read the Secret
# e2e-step-secret, which the test creates (e2e/steps_test.go).
config_values() {
  cat <<EOF
SLIPWAY_PUBLIC_URL=$SLIPWAY_URL
SLIPWAY_LOG_FORMAT=text
SLIPWAY_LOG_LEVEL=debug
SLIPWAY_IMAGE_REGISTRY=$REGISTRY/apps
SLIPWAY_BASE_REGISTRY=$REGISTRY/base
SLIPWAY_REGISTRY_INSECURE=true
SLIPWAY_INSECURE_REGISTRIES=$REGISTRY,$PROD_REGISTRY
SLIPWAY_RELEASE_CONFIG=/etc/slipway/release/release.yaml
SLIPWAY_API_TOKENS_FILE=/etc/slipway/secrets/api-tokens.yaml
SLIPWAY_API_RATE=100
SLIPWAY_API_BURST=400
SLIPWAY_BUILDKIT_ADDR=$BUILDKIT_ADDR
SLIPWAY_BUILDKIT_TLS_SECRET=buildkit-client-tls
SLIPWAY_SLIPWAY_IMAGE=$1
SLIPWAY_SBOM_GENERATOR_IMAGE=$REGISTRY/slipway/sbom-generator:${SBOM_GENERATOR_TAG:-v1}
SLIPWAY_GITHUB_API_URL=$FAKESCM_URL/github/api/v3/
SLIPWAY_GITLAB_API_URL=$FAKESCM_URL/gitlab/api/v4
SLIPWAY_GITHUB_URL=$FAKESCM_URL/git
SLIPWAY_GITLAB_URL=$FAKESCM_URL/git
SLIPWAY_INSECURE_GIT_HOSTS=$FAKESCM_ADDR
SLIPWAY_ALLOWED_REPOS=e2e/*,demo/*
SLIPWAY_STORAGE_CLASS=$STORAGE_CLASS
SLIPWAY_SMTP_ADDR=$FAKESCM_SMTP
SLIPWAY_SMTP_TLS=none
SLIPWAY_SMTP_FROM=Slipway <slipway@slipway.local>
SLIPWAY_NOTIFY_EMAIL=team@slipway.local
SLIPWAY_LANGUAGES_FILE=/etc/slipway/release/languages.yaml
SLIPWAY_POLICY_FILE=/etc/slipway/release/policy.yaml
SLIPWAY_ADVISORIES_CONFIGMAP=slipway-advisories
SLIPWAY_MAVEN_OFFLINE=true
SLIPWAY_TEST_MEMORY_LIMIT=1Gi
SLIPWAY_STEP_IMAGES=$REGISTRY/base/postgres:*
SLIPWAY_STEP_SECRETS=e2e-step-secret=e2e/steps-*
SLIPWAY_SIGNING_KEY_FILE=/etc/slipway/signing/cosign.key
SLIPWAY_SIGNING_KEY_PASSWORD_FILE=/etc/slipway/signing/cosign.password
SLIPWAY_VERIFY_KEYS=/etc/slipway/verify-keys/cosign.pub
SLIPWAY_RECOVER_INTERVAL=5s
SLIPWAY_RECOVER_WINDOW=15m
SLIPWAY_GITHUB_RECOVER_HOOKS=org:e2e:$GITHUB_HOOK_ID
SLIPWAY_GITLAB_RECOVER_PROJECTS=$RECOVER_PROJECT
EOF
  if [ "${HA:-0}" = 1 ]; then
    # deploy/ha: PostgreSQL (reachable from pods), leader election on.
    echo "SLIPWAY_STORE=$HA_STORE_URL"
  fi
}

# override_values: config_values' lines with STACK_CONFIG_EXTRA's over
# them, a key given there replacing the stack's.
override_values() {
  local line
  while IFS= read -r line; do
    [ -z "$line" ] && continue
    [[ $line =~ ^SLIPWAY_[A-Z0-9_]+=[^\"]*$ ]] || die "STACK_CONFIG_EXTRA: want SLIPWAY_NAME=VALUE lines (no double quotes), got: $line"
  done <<<"${STACK_CONFIG_EXTRA:-}"
  awk '
    BEGIN {
      n = split(ENVIRON["STACK_CONFIG_EXTRA"], lines, "\n")
      for (i = 1; i <= n; i++) {
        j = index(lines[i], "=")
        if (j < 2) continue
        k = substr(lines[i], 1, j - 1)
        if (!(k in over)) keys[++m] = k
        over[k] = lines[i]
      }
    }
    { k = substr($0, 1, index($0, "=") - 1); if (!(k in over)) print }
    END { for (i = 1; i <= m; i++) print over[keys[i]] }'
}

# base_tags NAME [PREFIX]: the tags of $REGISTRY/base/NAME, one a line,
# with PREFIX stripped from those that carry it (maven's 3-jdk17 -> 17).
base_tags() {
  "$CRANE" ls --insecure "$REGISTRY/base/$1" 2>/dev/null | sed -n "s/^${2:-}\([0-9][0-9.]*\)\$/\1/p" | sort -V
}

# yaml_versions NAME [PREFIX]: the tags as an offer (the newest is the
# default), or die: a language the stack cannot build would fail every
# push of it with a missing image, which is what this file prevents.
yaml_versions() {
  local tags
  tags=$(base_tags "$@")
  [ -n "$tags" ] || die "no $REGISTRY/base/$1 image: run e2e/stack/images.sh $1"
  printf '{default: "%s", versions: [%s]}' "$(echo "$tags" | tail -1)" "$(echo "$tags" | sed 's/.*/"&"/' | paste -sd, -)"
}

# languages_file FILE: the languages: section Slipway gets, written from
# the tags images.sh pushed (Debian's versions: python 3.11, node 18, JDK
# 17, the machine's Go), so every default resolves to an image that exists.
languages_file() {
  local node
  node=$(yaml_versions node)
  # The jre images are not checked here: Slipway's own start-up check
  # reports any runtime image an offered JDK lacks (/readyz base-images).
  cat >"$1" <<YAML
# Generated by e2e/stack/slipway.sh from the tags in $REGISTRY/base
# (e2e/stack/images.sh): what the local stack can build, and nothing else.
languages:
  go: $(yaml_versions golang)
  java-maven: $(yaml_versions maven 3-jdk)
  java-gradle: $(yaml_versions gradle jdk)
  node: $node
  static: $node
  python: $(yaml_versions python)
YAML
}

cluster_ready() { "${KUBECTL[@]}" get --raw /readyz >/dev/null 2>&1; }

# secret NAME: a random value made once and kept in the state dir.
# They live inside the overlay: kustomize reads generator files only there.
secret() {
  local f=$STATE/overlay/secrets/$1
  if [ ! -s "$f" ]; then
    mkdir -p "$STATE/overlay/secrets" && chmod 0700 "$STATE/overlay/secrets"
    (umask 077 && head -c 32 /dev/urandom | sha256sum | cut -c1-40 >"$f")
  fi
  echo "$f"
}

# signing_key: the server's image signing key pair, made once and kept in
# the state dir (an encrypted PKCS#8 P-256 key, as cosign verifies):
# secrets/cosign.key and cosign.password go into the Secret
# slipway-signing, verify-keys/cosign.pub into the ConfigMap
# slipway-verify-keys. The e2e tests sign forged images with it.
signing_key() {
  local s=$STATE/overlay/secrets v=$STATE/overlay/verify-keys
  if [ ! -s "$s/cosign.key" ] || [ ! -s "$v/cosign.pub" ]; then
    command -v openssl >/dev/null || die "openssl is needed to make the signing key"
    mkdir -p "$s" "$v" && chmod 0700 "$s"
    (umask 077 &&
      head -c 32 /dev/urandom | sha256sum | cut -c1-40 | tr -d '\n' >"$s/cosign.password" &&
      openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -aes-256-cbc \
        -pass "file:$s/cosign.password" -out "$s/cosign.key.tmp" &&
      openssl pkey -in "$s/cosign.key.tmp" -passin "file:$s/cosign.password" -pubout -out "$v/cosign.pub" &&
      mv "$s/cosign.key.tmp" "$s/cosign.key") || die "cannot make the signing key"
  fi
}

go_build() { # $1 = output, $2 = package
  (cd "$ROOT" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -o "$1.tmp" "$2") && mv "$1.tmp" "$1"
}

fakescm_up() {
  mkdir -p "$REPOS"
  local sum=
  [ -x "$BIN/fakescm" ] && sum=$(sha256sum <"$BIN/fakescm")
  go_build "$BIN/fakescm" ./e2e/cmd/fakescm || die "cannot build e2e/cmd/fakescm"
  # A changed fakescm (new endpoints) replaces the running one; its
  # recorded calls are in memory and go with it.
  if pid_alive fakescm && [ "$sum" != "$(sha256sum <"$BIN/fakescm")" ]; then
    log "fakescm changed: restarting it"
    stop fakescm
  fi
  if ! pid_alive fakescm; then
    log "starting fakescm on $FAKESCM_ADDR (repos $REPOS, log $LOGS/fakescm.log)"
    start fakescm "$BIN/fakescm" --addr "$FAKESCM_ADDR" --repos "$REPOS" --smtp-addr "$FAKESCM_SMTP"
  fi
  wait_for 30 "fakescm on $FAKESCM_ADDR" curl -sf "$FAKESCM_URL/_fake/statuses"
}

# recovery_up: what delivery recovery reads on the fakescm. The org hook
# is registered again on every up (the fakescm keeps it in memory; a
# restart forgets it), with Slipway's webhook URL and secret; the GitLab
# project is an empty bare repository until a test pushes a branch to it.
recovery_up() {
  local secret
  secret=$(cat "$(secret github-webhook-secret)")
  curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' "$FAKESCM_URL/_fake/github/hooks" \
    -d "{\"kind\": \"org\", \"owner\": \"e2e\", \"id\": $GITHUB_HOOK_ID, \"url\": \"$SLIPWAY_URL/hooks/github\", \"secret\": \"$secret\"}" ||
    die "cannot register the e2e organisation hook on the fakescm"
  if [ ! -d "$REPOS/$RECOVER_PROJECT.git" ]; then
    mkdir -p "$(dirname "$REPOS/$RECOVER_PROJECT.git")"
    git init -q --bare -b main "$REPOS/$RECOVER_PROJECT.git" || die "cannot create $REPOS/$RECOVER_PROJECT.git"
  fi
}

localpv_up() {
  mkdir -p "$LOCALPV_DIR"
  go_build "$BIN/localpv" ./e2e/cmd/localpv || die "cannot build e2e/cmd/localpv"
  "${KUBECTL[@]}" apply -f - >/dev/null <<YAML
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: $STORAGE_CLASS
provisioner: slipway.dev/localpv
reclaimPolicy: Delete
volumeBindingMode: Immediate
YAML
  if ! pid_alive localpv; then
    log "starting the local volume provisioner (dir $LOCALPV_DIR, log $LOGS/localpv.log)"
    start localpv "$BIN/localpv" --kubeconfig "$KUBECONFIG" --dir "$LOCALPV_DIR" \
      --storage-class "$STORAGE_CLASS" --node "$NODE_NAME"
  fi
}

image_digest() {
  [ -x "$CRANE" ] || die "$CRANE missing: run e2e/stack/registry.sh up"
  "$CRANE" digest --insecure "$IMAGE_REPO:$IMAGE_TAG" 2>/dev/null ||
    die "$IMAGE_REPO:$IMAGE_TAG is not in the registry: run e2e/stack/images.sh slipway (REGISTRY=$REGISTRY)"
}

write_overlay() { # $1 = image digest
  local o=$STATE/overlay image=$IMAGE_REPO@$1 base n
  mkdir -p "$o"
  # Secrets first: the config hash below covers them.
  for n in github-webhook-secret github-token gitlab-webhook-token gitlab-token; do secret "$n" >/dev/null; done
  signing_key
  release_files "$o"
  languages_file "$o/languages.yaml"
  policy_files "$o"
  buildkit_client_cert "$o"
  # Failed runs post their JSON summary to the fakescm's chat sink.
  echo "$FAKESCM_URL/_fake/chat/team" >"$o/secrets/chat-webhook-url"
  base=$(realpath --relative-to="$o" "$ROOT/deploy")
  local storage_patch="  - path: storage.yaml" ha_secret="" replicas=""
  if [ "${HA:-0}" = 1 ]; then
    # HA=1: the ha overlay, HA_REPLICAS (default 2) replicas on the
    # PostgreSQL database HA_STORE_URL names, which pods must reach (not
    # hack/postgres.sh's 127.0.0.1). HA_PGPASS is its pgpass line, if the
    # server wants a password. No SQLite volume to patch.
    [ -n "${HA_STORE_URL:-}" ] || die "HA=1 needs HA_STORE_URL=postgres://USER@HOST:PORT/DB?sslmode=... reachable from pods"
    base=$(realpath --relative-to="$o" "$ROOT/deploy/ha")
    storage_patch=""
    replicas="  replicas: ${HA_REPLICAS:-2}"
    printf '%s\n' "${HA_PGPASS:-}" >"$o/secrets/pgpass"
    chmod 0600 "$o/secrets/pgpass"
    ha_secret="  - name: slipway-postgres
    namespace: slipway
    options: {disableNameSuffixHash: true}
    files:
      - pgpass=secrets/pgpass"
  fi
  {
    echo "# Generated by e2e/stack/slipway.sh: the local stack's settings over deploy/."
    echo "apiVersion: v1"
    echo "kind: ConfigMap"
    echo "metadata: {name: slipway, namespace: slipway}"
    echo "data:"
    config_values "$image" | STACK_CONFIG_EXTRA=${STACK_CONFIG_EXTRA:-} override_values |
      while IFS='=' read -r k v; do printf '  %s: "%s"\n' "$k" "$v"; done
  } >"$o/config.yaml"
  cat >"$o/service.yaml" <<YAML
apiVersion: v1
kind: Service
metadata: {name: slipway, namespace: slipway}
spec:
  clusterIP: $SERVICE_IP
YAML
  cat >"$o/storage.yaml" <<YAML
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: slipway-data, namespace: slipway}
spec:
  storageClassName: $STORAGE_CLASS
YAML
  netpol_patches "$o"
  local hash
  hash=$(cat "$o/config.yaml" "$o"/secrets/* "$o"/verify-keys/* "$o/release.yaml" "$o/languages.yaml" "$o/policy.yaml" | sha256sum | cut -c1-16)
  cat >"$o/rollout.yaml" <<YAML
# A changed setting or secret restarts the pod (envFrom is read at start).
apiVersion: apps/v1
kind: Deployment
metadata: {name: slipway, namespace: slipway}
spec:
$replicas
  template:
    metadata:
      annotations:
        slipway.dev/config-hash: "$hash"
YAML
  cat >"$o/kustomization.yaml" <<YAML
# Generated by e2e/stack/slipway.sh; do not edit (rewritten on every up).
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $base
  - targets.yaml
patches:
  - path: config.yaml
  - path: release-mount.yaml
  - path: service.yaml
$storage_patch
  - path: rollout.yaml
  - path: netpol-git.yaml
  - path: netpol-registry.yaml
  - path: netpol-buildkitd.yaml
  # buildkitd runs on the host (e2e/stack/buildkit.sh, with the same
  # mutual TLS), not as deploy/buildkitd's pod: no image pulls here.
$(for k in apps/v1:Deployment v1:Service v1:ConfigMap networking.k8s.io/v1:NetworkPolicy; do
    printf '  - patch: |-\n      $patch: delete\n      apiVersion: %s\n      kind: %s\n      metadata: {name: buildkitd, namespace: slipway}\n' "${k%:*}" "${k##*:}"
  done)
images:
  - name: slipway
    newName: $IMAGE_REPO
    digest: $1
secretGenerator:
  - name: buildkit-client-tls
    namespace: slipway-builds
    options: {disableNameSuffixHash: true}
    files:
      - buildkit-tls/ca.crt
      - buildkit-tls/tls.crt
      - buildkit-tls/tls.key
  - name: slipway-secrets
    namespace: slipway
    options: {disableNameSuffixHash: true}
    files:
      - secrets/github-webhook-secret
      - secrets/github-token
      - secrets/gitlab-webhook-token
      - secrets/gitlab-token
      - secrets/chat-webhook-url
      - secrets/api-tokens.yaml
$ha_secret
  - name: slipway-signing
    namespace: slipway
    options: {disableNameSuffixHash: true}
    files:
      - secrets/cosign.key
      - secrets/cosign.password
configMapGenerator:
  - name: slipway-verify-keys
    namespace: slipway
    options: {disableNameSuffixHash: true}
    files:
      - verify-keys/cosign.pub
  - name: slipway-release
    namespace: slipway
    options: {disableNameSuffixHash: true}
    files:
      - release.yaml
      - languages.yaml
      - policy.yaml
  # The stack's advisory feed (e2e/testdata/advisories) over deploy/'s
  # empty one; the policy e2e adds a record at run time and removes it.
  - name: slipway-advisories
    namespace: slipway-builds
    behavior: replace
    options: {disableNameSuffixHash: true}
    files:
$(for f in "$o"/advisories/*.json; do echo "      - advisories/$(basename "$f")"; done)
YAML
  echo "$o"
}

# buildkit_client_cert DIR: the build step's client certificate for the
# stack's buildkitd (buildkit.sh made it with deploy/buildkitd/certs.sh),
# as the buildkit-client-tls Secret's files.
buildkit_client_cert() {
  local src=$CACHE/buildkit/certs/client f
  [ -s "$src/tls.crt" ] || die "no buildkitd client certificate in $src: run e2e/stack/buildkit.sh up"
  mkdir -p "$1/buildkit-tls"
  for f in ca.crt tls.crt tls.key; do install -m 0600 "$src/$f" "$1/buildkit-tls/$f"; done
}

# netpol_patches DIR: what CI pods may reach in the stack, over the
# placeholders of deploy/base/networkpolicy.yaml: the fakescm's git server,
# the registry and, from the build step, buildkitd. All three are host
# processes on the bridge address, so each is that address and its port;
# the kube-apiserver (:6443), the kubelet and everything else there stay
# out. No mirror (pods have no way out of the bridge) and no cluster DNS.
netpol_patches() {
  local o=$1 bk=${BUILDKIT_ADDR#tcp://}
  np() { # np NAME ADDR:PORT
    cat >"$o/netpol-${1#slipway-ci-}.yaml" <<YAML
# Generated by e2e/stack/slipway.sh: the stack's address for $1.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: $1, namespace: slipway-builds}
spec:
  egress:
    - to: [{ipBlock: {cidr: ${2%:*}/32}}]
      ports: [{protocol: TCP, port: ${2##*:}}]
YAML
  }
  np slipway-ci-git "$FAKESCM_ADDR"
  np slipway-ci-registry "$REGISTRY"
  np slipway-ci-buildkitd "$bk"
}

# policy_files DIR: the stack's dependency policy (any advisory in the feed
# is a violation) and its advisory feed, the repo's e2e records only, so
# no real package of the base images matches.
policy_files() {
  local o=$1
  cat >"$o/policy.yaml" <<YAML
# Generated by e2e/stack/slipway.sh: the stack's dependency policy (README,
# "Dependency policy"). maxSeverity none: any advisory is a violation.
default:
  maxSeverity: none
YAML
  rm -rf "$o/advisories" && mkdir -p "$o/advisories"
  cp "$ROOT"/e2e/testdata/advisories/*.json "$o/advisories/"
}

# release_files DIR: the promotion side of the stack. Environments qa
# (registry $REGISTRY/qa, no approval) and prod (the second registry
# $PROD_REGISTRY/prod, approval), each the namespace of the same name in
# this cluster; the apps demo/hello (make demo-push) and the three the
# promotion e2e tests push; API tokens of a developer and a release
# manager (random, kept in the state dir); the deployer's RoleBindings in
# both namespaces (deploy/base/deployer-rbac.yaml), to its account in the
# deploy namespace, slipway. Both environments are this cluster (no
# kubeconfigSecret); a remote cluster's Secret would go into slipway too.
release_files() {
  local o=$1 git=$FAKESCM_URL/git
  cat >"$o/release.yaml" <<YAML
# Generated by e2e/stack/slipway.sh (release-config).
environments:
  - name: qa
    namespace: qa
    registry: $REGISTRY/qa
    insecure: true
    approval: false
    clusters: [{name: local}]
    rollout: {strategy: rolling, progressDeadline: 3m}
  - name: prod
    namespace: prod
    registry: $PROD_REGISTRY/prod
    insecure: true
    approval: true
    clusters: [{name: local}]
    rollout: {strategy: rolling, progressDeadline: 3m}
    # The feed as it is at promotion time (the policy e2e).
    policy: {recheck: true}
apps:
  # hello's objects come from the manifests in its repository (demo.sh).
  - {name: hello, repo: demo/hello, cloneURL: "$git/demo/hello.git", manifests: true}
  - {name: promo, repo: e2e/promo, cloneURL: "$git/e2e/promo.git"}
  - name: promo-canary
    repo: e2e/promo-canary
    cloneURL: "$git/e2e/promo-canary.git"
    environments:
      prod:
        rollout: {strategy: canary, steps: [50, 100], pause: manual}
  # The dependency policy e2e: refused at promotion after an advisory.
  - {name: promo-policy, repo: e2e/promo-policy, cloneURL: "$git/e2e/promo-policy.git"}
  # Blue-green in prod; the smoke test reaches the new colour through the
  # preview Service (a bare path means http://{preview}/), and 0s scales
  # the old colour down right after the switch.
  - name: promo-bluegreen
    repo: e2e/promo-bluegreen
    cloneURL: "$git/e2e/promo-bluegreen.git"
    environments:
      prod:
        rollout: {strategy: bluegreen, smokeURL: /, scaleDownDelay: 0s}
YAML
  {
    echo "# Generated by e2e/stack/slipway.sh: the stack's API tokens (pkg/auth format)."
    printf -- '- {name: dana, role: developer, token: "%s"}\n' "$(cat "$(secret dev-token)")"
    printf -- '- {name: rita, role: release-manager, token: "%s"}\n' "$(cat "$(secret release-token)")"
    printf -- '- {name: ada, role: admin, token: "%s"}\n' "$(cat "$(secret admin-token)")"
  } >"$o/secrets/api-tokens.yaml"
  chmod 0600 "$o/secrets/api-tokens.yaml"
  cat >"$o/release-mount.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: slipway, namespace: slipway}
spec:
  template:
    spec:
      containers:
        - name: slipway
          volumeMounts:
            - {name: release, mountPath: /etc/slipway/release, readOnly: true}
      volumes:
        - name: release
          configMap: {name: slipway-release}
YAML
  local ns
  : >"$o/targets.yaml"
  for ns in qa prod; do
    cat >>"$o/targets.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: $ns}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: slipway-deployer, namespace: $ns}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: slipway-deployer}
subjects:
  - {kind: ServiceAccount, name: slipway-deployer, namespace: slipway}
---
YAML
  done
}

# retire_builds_deployer: what an older deploy/ put into slipway-builds
# before deploy runs moved to the deploy namespace (slipway), removed as
# README "Upgrading: deploy runs leave the builds namespace" tells
# operators to: apply does not prune, and a deployer account left where CI
# pods run is what the move is about.
retire_builds_deployer() {
  "${KUBECTL[@]}" -n slipway-builds delete --ignore-not-found \
    serviceaccount/slipway-deployer role/slipway-deployer-runs rolebinding/slipway-deployer-runs \
    pipelines.tekton.dev/slipway-deploy tasks.tekton.dev/slipway-deploy >&2
}

print_env() {
  cat <<EOF
export SLIPWAY_URL=$SLIPWAY_URL
export SLIPWAY_FAKESCM_URL=$FAKESCM_URL
export SLIPWAY_REPOS_DIR=$REPOS
export SLIPWAY_GITHUB_WEBHOOK_SECRET_FILE=$(secret github-webhook-secret)
export SLIPWAY_GITLAB_WEBHOOK_TOKEN_FILE=$(secret gitlab-webhook-token)
export SLIPWAY_DEVELOPER_TOKEN_FILE=$(secret dev-token)
export SLIPWAY_RELEASE_MANAGER_TOKEN_FILE=$(secret release-token)
export SLIPWAY_ADMIN_TOKEN_FILE=$(secret admin-token)
export SLIPWAY_PROD_REGISTRY=$PROD_REGISTRY
export SLIPWAY_SIGNING_KEY_FILE=$STATE/overlay/secrets/cosign.key
export SLIPWAY_SIGNING_KEY_PASSWORD_FILE=$STATE/overlay/secrets/cosign.password
export SLIPWAY_VERIFY_KEY_FILE=$STATE/overlay/verify-keys/cosign.pub
EOF
}

# ha_store: HA=1 without HA_STORE_URL is the stack's own PostgreSQL
# (postgres.sh, on the host), started here; its pgpass line goes into the
# slipway-postgres Secret.
ha_store() {
  [ "${HA:-0}" = 1 ] && [ -z "${HA_STORE_URL:-}" ] || return 0
  "$HERE/postgres.sh" up >/dev/null || die "the stack's PostgreSQL did not start (e2e/stack/postgres.sh up)"
  HA_STORE_URL=$("$HERE/postgres.sh" url)
  HA_PGPASS=$("$HERE/postgres.sh" pgpass)
}

# retire_ha: what only deploy/ha has, removed once the default (one
# replica, SQLite) is back, as `kubectl apply` does not prune: the
# PodDisruptionBudget (two of one replica), the leader Lease and its
# Role, the PostgreSQL password.
retire_ha() {
  "${KUBECTL[@]}" -n slipway delete --ignore-not-found poddisruptionbudget/slipway \
    role/slipway-leader rolebinding/slipway-leader lease.coordination.k8s.io/slipway-leader secret/slipway-postgres >&2
}

up() {
  cluster_ready || die "the cluster is not up: run e2e/stack/up.sh first"
  local digest overlay
  digest=$(image_digest)
  ha_store
  fakescm_up
  recovery_up
  localpv_up
  overlay=$(write_overlay "$digest")
  log "kubectl apply -k $overlay (image $IMAGE_REPO@$digest)"
  "${KUBECTL[@]}" apply -k "$overlay" >&2
  retire_builds_deployer
  "${KUBECTL[@]}" -n slipway rollout status deployment/slipway --timeout=300s >&2 || {
    "${KUBECTL[@]}" -n slipway get pods -o wide >&2
    "${KUBECTL[@]}" -n slipway logs deployment/slipway --tail=40 >&2 || true
    die "Slipway did not roll out"
  }
  wait_for 60 "Slipway at $SLIPWAY_URL/healthz" curl -sf "$SLIPWAY_URL/healthz"
  if [ "${HA:-0}" = 1 ]; then
    ha_status >&2
  else
    retire_ha
  fi
  urls >&2
  print_env
}

# next_steps: the newcomer's path after make dev, the same commands the
# README-path e2e test (hack/wip/readme-test.patch) runs, so what is printed and
# what is tested cannot drift apart.
next_steps() {
  cat <<EOF
  try:    make demo-push   (commits to demo/hello on the fake git server, sends a signed GitHub push)
          then hello runs in namespace qa, created from its manifests (deploy/ in the repo, .slipway.yaml):
            kubectl -n qa get deploy,svc,cm -l slipway.dev/app=hello
          and the same digest goes to prod, approved by the release manager (bin/slipway: make build):
            export SLIPWAY_SERVER=$SLIPWAY_URL
            slipway promote hello --to prod --token "\$(cat $(secret dev-token))"
            slipway approve ID --wait --token "\$(cat $(secret release-token))"
  watch:  $SLIPWAY_URL/runs in a browser (live build pages), or curl -s $SLIPWAY_URL/api/v1/runs | jq
          . e2e/stack/env.sh; PATH=\$PATH:$STACK_CACHE/bin kubectl -n slipway-builds get pipelineruns -w
  logs:   kubectl -n slipway logs deploy/slipway -f
  stop:   make dev-down
EOF
}

# ha_status: the replicas, the store and the leader (the Lease's holder,
# waited for a little: the first election follows the rollout).
ha_status() {
  local want store holder=
  want=$("${KUBECTL[@]}" -n slipway get deployment slipway -o jsonpath='{.spec.replicas}')
  store=$("${KUBECTL[@]}" -n slipway get configmap slipway -o jsonpath='{.data.SLIPWAY_STORE}')
  if [ "$("${KUBECTL[@]}" -n slipway get configmap slipway -o jsonpath='{.data.SLIPWAY_LEADER_ELECT}')" != true ]; then
    echo "Slipway runs $want replica(s) on $store, leader election off (not HA: deploy with HA=1 e2e/stack/slipway.sh up)"
    return 0
  fi
  for _ in $(seq 1 30); do
    holder=$("${KUBECTL[@]}" -n slipway get lease slipway-leader -o jsonpath='{.spec.holderIdentity}' 2>/dev/null || true)
    [ -n "$holder" ] && break
    sleep 1
  done
  echo "Slipway is HA: $want replicas on $store, leader election on"
  "${KUBECTL[@]}" -n slipway get pods -l app.kubernetes.io/name=slipway --no-headers \
    -o custom-columns='NAME:.metadata.name,READY:.status.conditions[?(@.type=="Ready")].status,RESTARTS:.status.containerStatuses[0].restartCount' |
    while read -r pod ready restarts; do
      role=standby
      [ "$pod" = "$holder" ] && role="leader (holds Lease slipway-leader)"
      printf '  %-36s ready=%-5s restarts=%-3s %s\n' "$pod" "$ready" "$restarts" "$role"
    done
  [ -n "$holder" ] || echo "  no replica holds the Lease yet"
  echo "  leader: kubectl -n slipway get lease slipway-leader    loops it runs: README, \"Highly available\""
}

urls() {
  cat <<EOF
Slipway runs in namespace slipway, with its deploy runs (CI runs in slipway-builds):
  GitHub webhook  $SLIPWAY_URL/hooks/github   (secret in $(secret github-webhook-secret))
  GitLab webhook  $SLIPWAY_URL/hooks/gitlab   (token in $(secret gitlab-webhook-token))
  runs (API)      curl -s $SLIPWAY_URL/api/v1/runs
  web UI          $SLIPWAY_URL/runs   (each run's live page: $SLIPWAY_URL/runs/<namespace>/<name>)
  fake SCM        git $FAKESCM_URL/git/<owner>/<name>.git, statuses $FAKESCM_URL/_fake/statuses
  recovery        every 5s: the fakescm's hook org:e2e:$GITHUB_HOOK_ID (deliveries: POST $FAKESCM_URL/_fake/github/deliver),
                  the heads of GitLab project $RECOVER_PROJECT
Promotions (environments qa -> prod, apps hello, promo, promo-canary; $STATE/overlay/release.yaml):
  tokens          developer \$(cat $(secret dev-token)), release manager \$(cat $(secret release-token))
  promote         curl -s -H "Authorization: Bearer \$(cat $(secret release-token))" -H 'Content-Type: application/json' \\
                    -d '{"app":"hello","from":"qa","to":"prod"}' $SLIPWAY_URL/api/v1/promotions
  follow          curl -s -H "Authorization: Bearer \$(cat $(secret dev-token))" $SLIPWAY_URL/api/v1/promotions   (and .../api/v1/audit)
  approve / abort POST $SLIPWAY_URL/api/v1/promotions/ID/approve (release manager), .../abort
  rollback        POST $SLIPWAY_URL/api/v1/apps/hello/rollback {"env":"prod"}
EOF
}

down() {
  if cluster_ready && [ -d "$STATE/overlay" ]; then
    log "deleting Slipway's objects"
    "${KUBECTL[@]}" delete -k "$STATE/overlay" --ignore-not-found --wait=false >&2 || true
  fi
  stop fakescm
  stop localpv
  # The provisioner's self bind mounts (the data stays; up mounts it again).
  awk -v p="$LOCALPV_DIR/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" || log "could not unmount $m"
  done
}

status() {
  local rc=0 p
  for p in fakescm localpv; do
    if pid_alive "$p"; then echo "  $p running (pid $(cat "$RUN/$p.pid"))"; else echo "  $p NOT running"; rc=1; fi
  done
  "${KUBECTL[@]}" -n slipway get deployment,pods -o wide || rc=1
  ha_status || rc=1
  curl -sf "$SLIPWAY_URL/healthz" >/dev/null || { echo "  $SLIPWAY_URL/healthz does not answer"; rc=1; }
  urls
  return $rc
}

# The apiserver is stopped by its PID file and restarted with exactly the
# command line it had, which /proc still knows while it runs.
apiserver_stop() {
  pid_alive kube-apiserver || die "kube-apiserver is not running (no live $RUN/kube-apiserver.pid)"
  mkdir -p "$STATE"
  cp "/proc/$(cat "$RUN/kube-apiserver.pid")/cmdline" "$STATE/kube-apiserver.cmdline"
  stop kube-apiserver
  log "kube-apiserver stopped"
}

apiserver_start() {
  pid_alive kube-apiserver && { log "kube-apiserver already running"; return 0; }
  [ -s "$STATE/kube-apiserver.cmdline" ] || die "no saved command line: apiserver-stop was not run by this script"
  local args=()
  mapfile -d '' args <"$STATE/kube-apiserver.cmdline"
  start kube-apiserver "${args[@]}"
  wait_for 120 "kube-apiserver /readyz" "${KUBECTL[@]}" get --raw /readyz
  log "kube-apiserver back"
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  env) print_env ;;
  next) next_steps ;;
  apiserver-stop) apiserver_stop ;;
  apiserver-start) apiserver_start ;;
  ha-status) ha_status ;;
  *) echo "usage: $0 up|down|status|env|ha-status|apiserver-stop|apiserver-start" >&2; exit 2 ;;
esac
