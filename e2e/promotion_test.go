//go:build e2e

package e2e

// Promotions through Slipway's REST API on the real stack: CI on the
// default branch deploys to qa by digest; qa → prod copies that digest into
// the second registry (10.244.0.1:5001) behind approval and the provenance
// gate, and rolls it out with a deploy PipelineRun.
//
// The apps and environments are the stack's release config (slipway.sh
// release_files): app promo (rolling everywhere), app promo-canary
// (canary with manual pauses in prod) and app promo-bluegreen (blue-green
// with a smoke test through the preview Service in prod), from the fixed
// repositories e2e/promo, e2e/promo-canary and e2e/promo-bluegreen. Each test owns one app, so they may run
// in parallel with each other, but not with themselves.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/slipway-ci/slipway/e2e/framework"
	"github.com/slipway-ci/slipway/pkg/deploy"
)

// promotionTimeout bounds one promotion (gate, copy, deploy PipelineRun).
const promotionTimeout = 10 * time.Minute

// prodRegistry is the stack's second registry (e2e/stack/env.sh PROD_REGISTRY).
const prodRegistry = framework.HostIP + ":5001"

// promoAPI is Slipway's promotion API with the stack's two tokens.
type promoAPI struct {
	url                string
	developer, release string
	client             *http.Client
}

func newPromoAPI(t *testing.T, s *slipwayStack) *promoAPI {
	t.Helper()
	// slipway.sh env names the token files (the same ones slipway.sh up
	// put into the overlay's api-tokens.yaml).
	out, err := exec.Command(filepath.Join(framework.RepoRoot(), "e2e", "stack", "slipway.sh"), "env").Output()
	if err != nil {
		t.Fatalf("slipway.sh env: %v", err)
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "="); ok {
			env[k] = v
		}
	}
	read := func(key string) string {
		b, err := os.ReadFile(env[key])
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		return strings.TrimSpace(string(b))
	}
	return &promoAPI{url: s.URL, developer: read("SLIPWAY_DEVELOPER_TOKEN_FILE"), release: read("SLIPWAY_RELEASE_MANAGER_TOKEN_FILE"),
		client: &http.Client{Timeout: 60 * time.Second}}
}

// do sends body (JSON) with token and returns the status and the answer.
func (a *promoAPI) do(t *testing.T, method, path, token string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	t.Logf("%s %s → %d %s", method, path, resp.StatusCode, bytes.TrimSpace(msg))
	return resp.StatusCode, msg
}

// promotion is the part of the API's promotion record the tests read.
type promotion struct {
	ID           int64    `json:"id"`
	Kind         string   `json:"kind"`
	App          string   `json:"app"`
	From         string   `json:"from"`
	To           string   `json:"to"`
	Digest       string   `json:"digest"`
	TargetImage  string   `json:"targetImage"`
	State        string   `json:"state"`
	Reason       string   `json:"reason"`
	Progress     string   `json:"progress"`
	RequestedBy  string   `json:"requestedBy"`
	ApprovedBy   string   `json:"approvedBy"`
	PipelineRuns []string `json:"pipelineRuns"`
}

// decodePromotion reads a promotion, bare or wrapped as {"promotion": …}.
func decodePromotion(t *testing.T, body []byte) promotion {
	t.Helper()
	var p promotion
	if err := json.Unmarshal(body, &p); err != nil || p.ID == 0 {
		var w struct {
			Promotion promotion `json:"promotion"`
		}
		if err := json.Unmarshal(body, &w); err != nil || w.Promotion.ID == 0 {
			t.Fatalf("not a promotion: %s", body)
		}
		p = w.Promotion
	}
	return p
}

// create posts a promotion and wants 201/202 (or 200) back.
func (a *promoAPI) promote(t *testing.T, token string, req map[string]string) promotion {
	t.Helper()
	code, body := a.do(t, http.MethodPost, "/api/v1/promotions", token, req)
	if code < 200 || code > 299 {
		t.Fatalf("POST /api/v1/promotions %v = %d %s", req, code, body)
	}
	return decodePromotion(t, body)
}

func (a *promoAPI) get(t *testing.T, id int64) promotion {
	t.Helper()
	code, body := a.do(t, http.MethodGet, fmt.Sprintf("/api/v1/promotions/%d", id), a.developer, nil)
	if code != http.StatusOK {
		t.Fatalf("GET promotion %d = %d %s", id, code, body)
	}
	return decodePromotion(t, body)
}

// waitState polls promotion id until its state is one of states (or a
// terminal one, which fails the test when not wanted).
func (a *promoAPI) waitState(ctx context.Context, t *testing.T, id int64, states ...string) promotion {
	t.Helper()
	var p promotion
	err := wait.PollUntilContextCancel(ctx, 2*time.Second, true, func(context.Context) (bool, error) {
		p = a.get(t, id)
		for _, s := range states {
			if p.State == s {
				return true, nil
			}
		}
		switch p.State {
		case "succeeded", "failed", "refused", "aborted":
			return false, fmt.Errorf("promotion %d ended %s: %s", id, p.State, p.Reason)
		}
		return false, nil
	})
	if err != nil {
		for _, pr := range p.PipelineRuns {
			if ns, n, ok := strings.Cut(pr, "/"); ok {
				framework.DumpPipelineRun(t, ns, n)
			}
		}
		t.Fatalf("promotion %d: want state %v: %v (last %+v)", id, states, err, p)
	}
	return p
}

// promoApp is one app of the stack's release config with its fixed repo.
type promoApp struct {
	name string
	repo *gitRepo
	sha  string
	// runID is the last build's run as Slipway records it (namespace/name).
	runID string
}

// resetPromoApp recreates the fixed repository e2e/<app> (a previous run's
// history goes) and the app's Deployment and Service in qa and prod, on a
// placeholder image, so the first deploy has something to replace.
func resetPromoApp(ctx context.Context, t *testing.T, s *slipwayStack, app string, replicas int32) *promoApp {
	t.Helper()
	kube := framework.Get(t).Kube
	placeholder := pushWebApp(t, "placeholder of "+app, true)
	labels := map[string]string{"app": app}
	for _, ns := range []string{"qa", "prod"} {
		fg := metav1.DeletePropagationForeground
		for _, n := range []string{app, app + "-canary"} {
			// promo's canary Deployment shares its name with the app
			// promo-canary, whose test runs in parallel: only a canary
			// Slipway made for app goes.
			if d, err := kube.AppsV1().Deployments(ns).Get(ctx, n, metav1.GetOptions{}); err == nil && n != app && d.Labels[deploy.LabelApp] != app {
				continue
			}
			if err := kube.AppsV1().Deployments(ns).Delete(ctx, n, metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil && !apierrors.IsNotFound(err) {
				t.Fatal(err)
			}
		}
		if err := kube.CoreV1().Services(ns).Delete(ctx, app, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := kube.AppsV1().Deployments(ns).Get(ctx, app, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		if err != nil {
			t.Fatalf("old deployment %s/%s did not go: %v", ns, app, err)
		}
		deployFixture(ctx, t, ns, webDeployment(ns, app, replicas, labels, placeholder), webService(ns, app, labels))
	}

	r := &gitRepo{Name: "e2e/" + app, work: t.TempDir()}
	r.bare = filepath.Join(s.ReposDir, r.Name+".git")
	if err := os.RemoveAll(r.bare); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(r.bare), 0o755); err != nil {
		t.Fatal(err)
	}
	r.git(t, "", "init", "-q", "--bare", "-b", "main", r.bare)
	r.git(t, r.work, "init", "-q", "-b", "main")
	r.git(t, r.work, "remote", "add", "origin", r.bare)
	sample := filepath.Join(framework.RepoRoot(), "pkg", "dockerfile", "testdata", "apps", "go")
	files := map[string]string{"go.mod": "module example.com/hello\n\ngo " + baseGoVersion(t) + "\n"}
	for _, f := range []string{"main.go", "main_test.go"} {
		b, err := os.ReadFile(filepath.Join(sample, f))
		if err != nil {
			t.Fatal(err)
		}
		files[f] = string(b)
	}
	// A random line keeps this run's SHAs apart from earlier runs'.
	files["VERSION"] = randomHex(t, 8) + "\n"
	sha := r.commit(t, "main", "Initial import of "+r.Name, files)
	return &promoApp{name: app, repo: r, sha: sha}
}

// build pushes the app's current commit to Slipway and waits for its CI
// run; it returns the IMAGE_DIGEST the run reported.
func (p *promoApp) build(ctx context.Context, t *testing.T, s *slipwayStack, before string) string {
	t.Helper()
	mustAccept(t, s.sendGitHub(t, "push", "e2e-"+randomHex(t, 8), s.githubPush(p.repo, "main", before, p.sha)))
	run := waitForRunOf(ctx, t, p.sha)
	p.runID = buildsNamespace + "/" + run
	pr := framework.WaitForPipelineRun(ctx, t, buildsNamespace, run, framework.PipelineRunSucceeded)
	d := result(pr, "IMAGE_DIGEST")
	if !strings.HasPrefix(d, "sha256:") {
		t.Fatalf("CI run %s reported IMAGE_DIGEST %q", run, d)
	}
	return d
}

// waitDeployed waits until Slipway recorded a succeeded promotion (auto
// deploy, promotion or rollback) of digest into env: only then does it
// count as running there (what promote and rollback read).
func (a *promoAPI) waitDeployed(ctx context.Context, t *testing.T, app, env, digest string) {
	t.Helper()
	var last []byte
	err := wait.PollUntilContextCancel(ctx, 2*time.Second, true, func(context.Context) (bool, error) {
		code, body := a.get2(t, fmt.Sprintf("/api/v1/promotions?app=%s&to=%s", app, env))
		last = body
		if code != http.StatusOK {
			return false, nil
		}
		var l struct {
			Items []promotion `json:"items"`
		}
		if err := json.Unmarshal(body, &l); err != nil {
			return false, err
		}
		for _, p := range l.Items {
			if p.Digest == digest && p.State == "succeeded" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no succeeded promotion of %s into %s/%s: %v (last list %s)", digest, app, env, err, last)
	}
}

// get2 is a GET that does not log (it is polled).
func (a *promoAPI) get2(t *testing.T, path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, a.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Reading needs a token too; any role may read.
	req.Header.Set("Authorization", "Bearer "+a.developer)
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// waitRunning waits until Deployment ns/name runs image on every replica.
func waitRunning(ctx context.Context, t *testing.T, ns, name, image string) {
	t.Helper()
	var dep *appsv1.Deployment
	err := wait.PollUntilContextCancel(ctx, 2*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		dep, err = framework.Get(t).Kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		s, want := dep.Status, *dep.Spec.Replicas
		return dep.Spec.Template.Spec.Containers[0].Image == image &&
			s.ObservedGeneration >= dep.Generation && s.UpdatedReplicas == want && s.AvailableReplicas == want && s.Replicas == want, nil
	})
	if err != nil {
		got := ""
		if dep != nil {
			got = dep.Spec.Template.Spec.Containers[0].Image
		}
		t.Fatalf("deployment %s/%s never ran %s (it has %s): %v", ns, name, image, got, err)
	}
}

// sameInBothRegistries checks that the digest resolves to the same bytes
// in the qa and the prod registry, and that every manifest it lists (the
// image and its attestation manifests) was copied too.
func sameInBothRegistries(ctx context.Context, t *testing.T, app, digest string) {
	t.Helper()
	src := mustRef(t, framework.Registry+"/qa/"+app+"@"+digest)
	dst := mustRef(t, prodRegistry+"/prod/"+app+"@"+digest)
	a, err := remote.Get(src, remote.WithContext(ctx))
	if err != nil {
		t.Fatalf("qa registry: %v", err)
	}
	b, err := remote.Get(dst, remote.WithContext(ctx))
	if err != nil {
		t.Fatalf("prod registry does not have %s: %v", digest, err)
	}
	if !bytes.Equal(a.Manifest, b.Manifest) {
		t.Fatalf("the manifests of %s differ between the registries", digest)
	}
	if !b.MediaType.IsIndex() {
		return
	}
	idx, err := b.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	attestations := 0
	for _, m := range im.Manifests {
		if m.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
			attestations++
		}
		ref := mustRef(t, prodRegistry+"/prod/"+app+"@"+m.Digest.String())
		if _, err := remote.Head(ref, remote.WithContext(ctx)); err != nil {
			t.Errorf("prod registry lacks %s listed by the index: %v", m.Digest, err)
		}
	}
	if attestations == 0 {
		t.Errorf("the index of %s lists no attestation manifest (no provenance was copied)", digest)
	}
}

// TestPromotionRollingQAToProdApprovalGateAndRollback is the release
// manager's path with the rolling strategy: qa auto-deploy after CI, the
// approval rule, the copy by digest, an image Slipway did not build being
// refused by the provenance gate (which looks before the "never ran in
// qa" check, so the refusal is recorded with the gate's reason), and a
// rollback.
func TestPromotionRollingQAToProdApprovalGateAndRollback(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	api := newPromoAPI(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 2*buildTimeout+4*promotionTimeout)
	defer cancel()
	app := resetPromoApp(ctx, t, s, "promo", 1)

	var first, firstRun string
	t.Run("QAAutoDeployRollingByDigestAfterCI", func(t *testing.T) {
		first = app.build(ctx, t, s, zeroSHA)
		firstRun = app.runID
		waitRunning(ctx, t, "qa", "promo", framework.Registry+"/qa/promo@"+first)
		api.waitDeployed(ctx, t, "promo", "qa", first)
	})
	if first == "" {
		t.FailNow()
	}

	var firstID int64
	t.Run("ProdNeedsApprovalDeveloperCannotApprove403", func(t *testing.T) {
		p := api.promote(t, api.developer, map[string]string{"app": "promo", "from": "qa", "to": "prod"})
		if p.State != "awaiting-approval" || p.Digest != first {
			t.Fatalf("developer's promotion = %+v, want awaiting-approval of %s", p, first)
		}
		firstID = p.ID
		if code, body := api.do(t, http.MethodPost, fmt.Sprintf("/api/v1/promotions/%d/approve", p.ID), api.developer, nil); code != http.StatusForbidden {
			t.Errorf("a developer's approval = %d %s, want 403", code, body)
		}
		if code, _ := api.do(t, http.MethodPost, fmt.Sprintf("/api/v1/promotions/%d/approve", p.ID), "", nil); code != http.StatusUnauthorized {
			t.Errorf("an approval without a token = %d, want 401", code)
		}
		if p := api.get(t, p.ID); p.State != "awaiting-approval" {
			t.Errorf("after the refused approvals the promotion is %s, want still awaiting-approval", p.State)
		}
		if img := deploymentImage(ctx, t, "prod", "promo"); strings.Contains(img, first) {
			t.Errorf("prod runs %s before any approval", img)
		}
	})
	if firstID == 0 {
		t.FailNow()
	}

	t.Run("ProdApprovedByReleaseManagerSucceedsSameDigestBothRegistries", func(t *testing.T) {
		code, body := api.do(t, http.MethodPost, fmt.Sprintf("/api/v1/promotions/%d/approve", firstID), api.release, nil)
		if code < 200 || code > 299 {
			t.Fatalf("release manager's approval = %d %s", code, body)
		}
		pctx, cancel := context.WithTimeout(ctx, promotionTimeout)
		defer cancel()
		p := api.waitState(pctx, t, firstID, "succeeded")
		if p.ApprovedBy == "" {
			t.Errorf("succeeded promotion names no approver: %+v", p)
		}
		waitRunning(ctx, t, "prod", "promo", prodRegistry+"/prod/promo@"+first)
		sameInBothRegistries(ctx, t, "promo", first)
		if got, err := deploy.Progress(ctx, framework.Get(t).Kube, "prod", "promo"); err != nil || got != "done" {
			t.Errorf("rollout progress annotation = %q, %v; want done", got, err)
		}
	})

	t.Run("ImageNotBuiltBySlipwayIsRefused", func(t *testing.T) {
		foreign := pushForeign(ctx, t, "promo", first)
		code, body := api.do(t, http.MethodPost, "/api/v1/promotions", api.release,
			map[string]string{"app": "promo", "from": "qa", "to": "prod", "digest": foreign})
		var p promotion
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("promotion of a foreign image = %d %s: %v", code, body, err)
		}
		// The gate's refusal is recorded as a promotion with its reason.
		if code != http.StatusUnprocessableEntity || p.State != "refused" || p.ID == 0 ||
			!strings.Contains(p.Reason, "no readable SLSA provenance") {
			t.Fatalf("promotion of a foreign image = %d %s, want 422 refused by the provenance gate", code, body)
		}
		t.Logf("refused by the gate: %s", p.Reason)
		if d, err := registryDigest(ctx, prodRegistry+"/prod/promo@"+foreign); err != nil || d != "" {
			t.Errorf("the foreign image reached the prod registry (%q, %v)", d, err)
		}
		if img := deploymentImage(ctx, t, "prod", "promo"); img != prodRegistry+"/prod/promo@"+first {
			t.Errorf("prod runs %s, want still %s", img, first)
		}
	})

	// The signature gate (signature_test.go): provenance can be forged,
	// Slipway's signature of the run's own digest cannot.
	t.Run("ForgedProvenanceWithoutSignatureIsRefused", func(t *testing.T) {
		forged := pushForgedProvenance(ctx, t, "promo", first)
		refusedByGate(t, api, "promo", forged, "has no valid signature by Slipway")
	})
	t.Run("SignedDigestNotTheRunsImageIsRefused", func(t *testing.T) {
		forged := pushForgedProvenance(ctx, t, "promo", first)
		signForged(ctx, t, s, "promo", forged, firstRun, app.repo.Name, app.sha)
		refusedByGate(t, api, "promo", forged, "produced "+first+", not "+forged)
	})

	t.Run("RollbackBringsPreviousDigestBack", func(t *testing.T) {
		before := app.sha
		app.sha = app.repo.commit(t, "main", "Second version", map[string]string{"VERSION": randomHex(t, 8) + "\n"})
		second := app.build(ctx, t, s, before)
		waitRunning(ctx, t, "qa", "promo", framework.Registry+"/qa/promo@"+second)
		api.waitDeployed(ctx, t, "promo", "qa", second)
		// A release manager's promotion needs no separate approval.
		p := api.promote(t, api.release, map[string]string{"app": "promo", "from": "qa", "to": "prod"})
		pctx, cancel := context.WithTimeout(ctx, promotionTimeout)
		defer cancel()
		api.waitState(pctx, t, p.ID, "succeeded")
		waitRunning(ctx, t, "prod", "promo", prodRegistry+"/prod/promo@"+second)

		code, body := api.do(t, http.MethodPost, "/api/v1/apps/promo/rollback", api.release, map[string]string{"env": "prod"})
		if code < 200 || code > 299 {
			t.Fatalf("rollback = %d %s", code, body)
		}
		rb := decodePromotion(t, body)
		if rb.Digest != first {
			t.Errorf("rollback targets %s, want the previous digest %s", rb.Digest, first)
		}
		rctx, cancel2 := context.WithTimeout(ctx, promotionTimeout)
		defer cancel2()
		api.waitState(rctx, t, rb.ID, "succeeded")
		waitRunning(ctx, t, "prod", "promo", prodRegistry+"/prod/promo@"+first)
	})

	t.Run("AuditRecordsWhoDidWhat", func(t *testing.T) {
		code, body := api.do(t, http.MethodGet, "/api/v1/audit?app=promo", api.release, nil)
		if code != http.StatusOK {
			t.Fatalf("GET /api/v1/audit = %d %s", code, body)
		}
		for _, want := range []string{"dana", "rita", "approve", "rollback", first} {
			if !bytes.Contains(body, []byte(want)) {
				t.Errorf("the audit log does not mention %q", want)
			}
		}
	})

	// The DORA keys from the same records: two changes rolled out into
	// prod (first, second), the second rolled back within the failure
	// window and restored by that rollback; the pushes' payloads carry
	// their commits' timestamps, so lead times are measured. At least:
	// a reused stack keeps earlier runs' promotions of promo.
	t.Run("InsightsCountTheseRollouts", func(t *testing.T) {
		if code, _ := api.do(t, http.MethodGet, "/api/v1/insights?app=promo&env=prod", "", nil); code != http.StatusUnauthorized {
			t.Errorf("insights without a token = %d, want 401", code)
		}
		if code, body := api.do(t, http.MethodGet, "/api/v1/insights?window=7", api.developer, nil); code != http.StatusBadRequest {
			t.Errorf("insights with window=7 = %d %s, want 400", code, body)
		}
		code, body := api.do(t, http.MethodGet, "/api/v1/insights?window=1d&app=promo&env=prod", api.developer, nil)
		if code != http.StatusOK {
			t.Fatalf("GET /api/v1/insights = %d %s", code, body)
		}
		var got struct {
			Items []struct {
				App                  string   `json:"app"`
				Env                  string   `json:"env"`
				Deployments          int      `json:"deployments"`
				DeploymentsPerDay    float64  `json:"deploymentsPerDay"`
				LeadTimeSamples      int      `json:"leadTimeSamples"`
				Changes              int      `json:"changes"`
				Failures             int      `json:"failures"`
				TimeToRestoreSeconds *float64 `json:"timeToRestoreSeconds"`
			} `json:"items"`
		}
		if err := json.Unmarshal(body, &got); err != nil || len(got.Items) != 1 {
			t.Fatalf("insights = %s (%v), want one item", body, err)
		}
		k := got.Items[0]
		if k.App != "promo" || k.Env != "prod" || k.Deployments < 2 || k.DeploymentsPerDay < 2 || k.LeadTimeSamples < 1 ||
			k.Changes < 2 || k.Failures < 1 || k.TimeToRestoreSeconds == nil || *k.TimeToRestoreSeconds <= 0 {
			t.Errorf("insights of promo in prod = %s; want ≥ 2 deployments, lead times, ≥ 1 failure restored", body)
		}
	})
}

// pushForeign pushes, straight to the qa registry, the platform image of
// digest with one more layer: an image Slipway never built, so no
// provenance of this Slipway describes it. It returns its digest.
func pushForeign(ctx context.Context, t *testing.T, app, digest string) string {
	t.Helper()
	ref := mustRef(t, framework.Registry+"/qa/"+app+"@"+digest)
	desc, err := remote.Get(ref, remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	var img v1.Image
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			t.Fatal(err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range im.Manifests {
			if m.Platform != nil && m.Platform.OS != "unknown" {
				if img, err = idx.Image(m.Digest); err != nil {
					t.Fatal(err)
				}
				break
			}
		}
	} else if img, err = desc.Image(); err != nil {
		t.Fatal(err)
	}
	if img == nil {
		t.Fatalf("%s has no platform image", digest)
	}
	img, err = mutate.AppendLayers(img, static.NewLayer([]byte("not built by slipway\n"), types.OCIUncompressedLayer))
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	dst, err := name.NewDigest(framework.Registry+"/qa/"+app+"@"+d.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(dst, img, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// TestPromotionCanaryManualPauseContinuedViaAPI promotes into prod, where
// promo-canary rolls out as a canary (50 %, 100 %) that waits at each step
// for a continue given through the API.
func TestPromotionCanaryManualPauseContinuedViaAPI(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	api := newPromoAPI(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout+2*promotionTimeout)
	defer cancel()
	app := resetPromoApp(ctx, t, s, "promo-canary", 2)
	digest := app.build(ctx, t, s, zeroSHA)
	waitRunning(ctx, t, "qa", "promo-canary", framework.Registry+"/qa/promo-canary@"+digest)
	api.waitDeployed(ctx, t, "promo-canary", "qa", digest)
	stableImage := deploymentImage(ctx, t, "prod", "promo-canary")

	p := api.promote(t, api.release, map[string]string{"app": "promo-canary", "from": "qa", "to": "prod"})
	pctx, pcancel := context.WithTimeout(ctx, promotionTimeout)
	defer pcancel()
	for step, pct := range []string{"50%", "100%"} {
		err := wait.PollUntilContextCancel(pctx, 2*time.Second, true, func(context.Context) (bool, error) {
			p = api.get(t, p.ID)
			if p.State == "succeeded" || p.State == "failed" || p.State == "aborted" {
				return false, fmt.Errorf("promotion ended %s (%s) before step %s", p.State, p.Reason, pct)
			}
			return p.State == "paused" && strings.Contains(p.Progress, pct), nil
		})
		if err != nil {
			t.Fatalf("waiting for the pause at canary %s: %v (last %+v)", pct, err, p)
		}
		// While paused the stable Deployment keeps its image; the canary runs the new one.
		if img := deploymentImage(ctx, t, "prod", "promo-canary"); img != stableImage {
			t.Errorf("step %d: stable runs %s during the canary, want %s", step+1, img, stableImage)
		}
		if img := deploymentImage(ctx, t, "prod", "promo-canary-canary"); img != prodRegistry+"/prod/promo-canary@"+digest {
			t.Errorf("step %d: canary runs %s, want the promoted digest", step+1, img)
		}
		code, body := api.do(t, http.MethodPost, fmt.Sprintf("/api/v1/promotions/%d/continue", p.ID), api.release, nil)
		if code < 200 || code > 299 {
			t.Fatalf("continue = %d %s", code, body)
		}
	}
	api.waitState(pctx, t, p.ID, "succeeded")
	waitRunning(ctx, t, "prod", "promo-canary", prodRegistry+"/prod/promo-canary@"+digest)
	if _, err := framework.Get(t).Kube.AppsV1().Deployments("prod").Get(ctx, "promo-canary-canary", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the canary Deployment is still there (err %v)", err)
	}
}

// TestPromotionBlueGreenProdProvenanceGateAndPreviewSmokeTest promotes a
// Slipway-built digest (it passes the provenance gate) from qa into prod,
// where promo-bluegreen rolls out blue-green through the real promotion
// service and deploy PipelineRun: the new colour gets the digest, the
// smoke test reaches it through Service promo-bluegreen-preview before
// the switch, the app Service then selects it, and the configured
// scaleDownDelay 0s (not the Pipeline's 30s) scales the old colour down.
func TestPromotionBlueGreenProdProvenanceGateAndPreviewSmokeTest(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	api := newPromoAPI(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout+2*promotionTimeout)
	defer cancel()
	const app = "promo-bluegreen"
	p := resetPromoApp(ctx, t, s, app, 2)

	// prod holds the app blue-green: promo-bluegreen-blue behind Service
	// promo-bluegreen selecting blue, nothing else of an earlier run.
	kube := framework.Get(t).Kube
	placeholder := deploymentImage(ctx, t, "prod", app)
	fg := metav1.DeletePropagationForeground
	for _, n := range []string{app, app + "-blue", app + "-green"} {
		if err := kube.AppsV1().Deployments("prod").Delete(ctx, n, metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
	}
	for _, n := range []string{app, deploy.PreviewService(app)} {
		if err := kube.CoreV1().Services("prod").Delete(ctx, n, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
	}
	for _, n := range []string{app, app + "-blue", app + "-green"} {
		err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := kube.AppsV1().Deployments("prod").Get(ctx, n, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		if err != nil {
			t.Fatalf("old deployment prod/%s did not go: %v", n, err)
		}
	}
	blue := map[string]string{"app": app, deploy.LabelColor: "blue"}
	deployFixture(ctx, t, "prod", webService("prod", app, blue), webDeployment("prod", app+"-blue", 2, blue, placeholder))

	digest := p.build(ctx, t, s, zeroSHA)
	waitRunning(ctx, t, "qa", app, framework.Registry+"/qa/"+app+"@"+digest)
	api.waitDeployed(ctx, t, app, "qa", digest)

	// A release manager's promotion starts at once: the gate let it through.
	promo := api.promote(t, api.release, map[string]string{"app": app, "from": "qa", "to": "prod"})
	if promo.State == "refused" || promo.Digest != digest {
		t.Fatalf("promotion = %+v, want %s past the provenance gate", promo, digest)
	}
	pctx, pcancel := context.WithTimeout(ctx, promotionTimeout)
	defer pcancel()
	done := api.waitState(pctx, t, promo.ID, "succeeded")

	want := prodRegistry + "/prod/" + app + "@" + digest
	waitRunning(ctx, t, "prod", app+"-green", want)
	svc, err := kube.CoreV1().Services("prod").Get(ctx, app, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := svc.Spec.Selector[deploy.LabelColor]; got != "green" {
		t.Errorf("service %s selects %q, want green", app, got)
	}
	preview, err := kube.CoreV1().Services("prod").Get(ctx, deploy.PreviewService(app), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the preview service: %v", err)
	}
	// After the switch the preview selects the idle (old) colour.
	if got := preview.Spec.Selector[deploy.LabelColor]; got != "blue" || preview.Labels[deploy.LabelApp] != app {
		t.Errorf("preview service selector %v labels %v, want blue and the app label", preview.Spec.Selector, preview.Labels)
	}
	if n := *waitAvailable(ctx, t, "prod", app+"-blue").Spec.Replicas; n != 0 {
		t.Errorf("%s-blue has %d replicas after a 0s scale-down delay, want 0", app, n)
	}
	if len(done.PipelineRuns) != 1 {
		t.Fatalf("pipeline runs %v, want one wave", done.PipelineRuns)
	}
	ns, name, _ := strings.Cut(done.PipelineRuns[0], "/")
	if ns != deployNamespace {
		t.Errorf("deploy PipelineRun %s: want it in the deploy namespace %s, never where CI pods run", done.PipelineRuns[0], deployNamespace)
	}
	pr, err := framework.Get(t).Tekton.TektonV1().PipelineRuns(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]string{}
	for _, prm := range pr.Spec.Params {
		params[prm.Name] = prm.Value.StringVal
	}
	if params["strategy"] != "bluegreen" || params["smoke-url"] != "/" || params["scale-down-delay"] != "0s" {
		t.Errorf("deploy PipelineRun params %v, want bluegreen, smoke-url / and scale-down-delay 0s", params)
	}
	if got, err := deploy.Progress(ctx, kube, "prod", app); err != nil || got != "done" {
		t.Errorf("rollout progress annotation = %q, %v; want done", got, err)
	}
}
