#!/usr/bin/env bash
# demo.sh - commit to a sample repository on the local stack's git server and
# send Slipway the signed GitHub push webhook for it (`make demo-push`).
#
#   e2e/stack/demo.sh            # repository demo/hello (created from pkg/dockerfile/testdata/apps/go)
#   e2e/stack/demo.sh acme/web   # another repository, same sample
#
# Each run adds one commit, so each push builds a new image. Needs
# `e2e/stack/slipway.sh up` (make dev) to have run.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/env.sh"
eval "$("$HERE/slipway.sh" env)"

REPO=${1:-demo/hello}
case $REPO in
  */*) ;;
  *) echo "demo.sh: repository $REPO is not owner/name" >&2; exit 2 ;;
esac
SAMPLE=$SLIPWAY_ROOT/pkg/dockerfile/testdata/apps/go
BARE=$SLIPWAY_REPOS_DIR/$REPO.git
WORK=$STACK_CACHE/slipway/demo/$REPO
CLONE_URL=$SLIPWAY_FAKESCM_URL/git/$REPO.git
export GIT_AUTHOR_NAME="Slipway Demo" GIT_AUTHOR_EMAIL=demo@slipway.local
export GIT_COMMITTER_NAME=$GIT_AUTHOR_NAME GIT_COMMITTER_EMAIL=$GIT_AUTHOR_EMAIL

g() { git -C "$WORK" "$@"; }

if [ ! -d "$BARE" ]; then
  mkdir -p "$(dirname "$BARE")"
  git init -q --bare -b main "$BARE"
  rm -rf "$WORK"
fi
if [ ! -d "$WORK/.git" ]; then
  rm -rf "$WORK" && mkdir -p "$WORK"
  git init -q -b main "$WORK"
  g remote add origin "$BARE"
  if git --git-dir "$BARE" rev-parse -q --verify refs/heads/main >/dev/null; then
    g fetch -q origin main && g reset -q --hard origin/main
  else
    cp -r "$SAMPLE"/. "$WORK"/
    # The unit tests run in $REGISTRY/base/golang:<go.mod's version>; the
    # stack builds that image for the host's Go only, so ask for that one.
    gover=$(curl -sf "http://$REGISTRY/v2/base/golang/tags/list" | jq -r '.tags | sort_by(split(".") | map(tonumber? // 0)) | last // empty')
    [ -z "$gover" ] || sed -i "s/^go .*/go $gover/" "$WORK/go.mod"
    g add -A && g commit -q -m "Sample Go service"
  fi
fi

# The app's Kubernetes manifests: a Kustomize base and a prod overlay,
# named in .slipway.yaml. The release config marks hello `manifests: true`,
# so its deploys apply these at the promoted commit and the first one
# creates the app (`image: hello` is where the digest goes). Added once,
# also to a repository made before they existed.
if [ ! -f "$WORK/deploy/base/kustomization.yaml" ]; then
  mkdir -p "$WORK/deploy/base" "$WORK/deploy/overlays/prod"
  printf 'manifests: {path: deploy}\n' >>"$WORK/.slipway.yaml"
  cat >"$WORK/deploy/base/kustomization.yaml" <<'YAML'
resources: [deployment.yaml, service.yaml, configmap.yaml]
YAML
  cat >"$WORK/deploy/base/deployment.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: hello, labels: {app: hello}}
spec:
  replicas: 1
  selector: {matchLabels: {app: hello}}
  template:
    metadata:
      labels: {app: hello}
      # The stack's Prometheus scrapes /metrics (e2e/stack/prometheus.sh).
      annotations: {prometheus.io/scrape: "true", prometheus.io/port: "8080"}
    spec:
      containers:
        - name: hello
          image: hello
          envFrom: [{configMapRef: {name: hello-config}}]
          ports: [{containerPort: 8080}]
          readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 2}
YAML
  cat >"$WORK/deploy/base/service.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: hello}
spec:
  selector: {app: hello}
  ports: [{port: 80, targetPort: 8080}]
YAML
  cat >"$WORK/deploy/base/configmap.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: hello-config}
# FAIL_PERCENT: "20" here makes 20 % of the greetings answer 500.
data: {PORT: "8080"}
YAML
  cat >"$WORK/deploy/overlays/prod/kustomization.yaml" <<'YAML'
resources: [../../base]
patches:
  - target: {kind: Deployment, name: hello}
    patch: |
      - {op: replace, path: /spec/replicas, value: 2}
YAML
  g add -A && g commit -q -m "Kubernetes manifests of hello (Kustomize base, prod overlay)"
fi

before=$(g rev-parse -q --verify HEAD 2>/dev/null || echo 0000000000000000000000000000000000000000)
pushed_before=$(git --git-dir "$BARE" rev-parse -q --verify refs/heads/main || echo 0000000000000000000000000000000000000000)
if [ "$before" = "$pushed_before" ]; then
  # Already pushed: make a new commit so this push builds something new.
  date -u +%FT%TZ >"$WORK/PUSHED_AT"
  g add PUSHED_AT && g commit -q -m "Demo push at $(cat "$WORK/PUSHED_AT")"
fi
g push -q origin HEAD:refs/heads/main
after=$(g rev-parse HEAD)
git --git-dir "$BARE" update-server-info

body=$(mktemp)
trap 'rm -f "$body"' EXIT
jq -n --arg repo "$REPO" --arg clone "$CLONE_URL" --arg web "$SLIPWAY_FAKESCM_URL/$REPO" \
  --arg before "$pushed_before" --arg after "$after" \
  --arg msg "$(g log -1 --format=%s)" --arg ts "$(g log -1 --format=%cI)" \
  --argjson changed "$(g diff-tree --no-commit-id --name-only -r --root "$after" | jq -R . | jq -s .)" '
  {
    ref: "refs/heads/main", before: $before, after: $after, created: ($before | test("^0+$")), deleted: false,
    repository: {
      name: ($repo | split("/")[1]), full_name: $repo, private: false,
      owner: {login: ($repo | split("/")[0]), name: ($repo | split("/")[0])},
      html_url: $web, clone_url: $clone, default_branch: "main"
    },
    pusher: {name: "demo", email: "demo@slipway.local"},
    sender: {login: "demo"},
    head_commit: {id: $after, message: $msg, timestamp: $ts,
      author: {name: "Slipway Demo", email: "demo@slipway.local"}, added: [], removed: [], modified: $changed},
    commits: [{id: $after, message: $msg, timestamp: $ts,
      author: {name: "Slipway Demo", email: "demo@slipway.local"}, added: [], removed: [], modified: $changed}]
  }' >"$body"

delivery=$(cat /proc/sys/kernel/random/uuid)
sig=sha256=$(openssl dgst -sha256 -hmac "$(cat "$SLIPWAY_GITHUB_WEBHOOK_SECRET_FILE")" -r "$body" | cut -d' ' -f1)
code=$(curl -s -o /dev/stderr -w '%{http_code}' -X POST "$SLIPWAY_URL/hooks/github" \
  -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
  -H "X-GitHub-Delivery: $delivery" -H "X-Hub-Signature-256: $sig" --data-binary "@$body")
echo >&2
[ "$code" = 202 ] || { echo "demo.sh: Slipway answered $code, want 202" >&2; exit 1; }
cat <<EOF
pushed $REPO ${after:0:12} (delivery $delivery); Slipway accepted it (202). Watch:
  runs:      curl -s $SLIPWAY_URL/api/v1/runs | jq
  pipeline:  kubectl -n slipway-builds get pipelineruns -w      (. e2e/stack/env.sh; PATH=\$PATH:$STACK_CACHE/bin)
  deploys:   kubectl -n slipway get pipelineruns -w             (the automatic deploy to qa after CI)
  statuses:  curl -s '$SLIPWAY_FAKESCM_URL/_fake/statuses?repo=$REPO&sha=$after' | jq
  image:     $REGISTRY/apps/<app>:${after:0:8}
EOF
