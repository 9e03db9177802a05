//go:build e2e

package e2e

// The dependency policy on the real stack (slipway.sh policy_files): the
// stack's policy makes any advisory of its feed (e2e/testdata/advisories,
// the ConfigMap slipway-builds/slipway-advisories) a violation, and prod
// re-checks it at promotion. The Go samples vendor made-up modules that
// only the e2e records name, so no other test's build is affected.
//
// Needs images with an SPDX SBOM attestation (the build's attest:sbom
// generator): an image without one fails the policy step, as it should.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/slipway-ci/slipway/e2e/fakescm"
	"github.com/slipway-ci/slipway/e2e/framework"
	"github.com/slipway-ci/slipway/pkg/scm"
)

// advisoriesConfigMap is the stack's advisory feed (deploy/advisories.yaml).
const advisoriesConfigMap = "slipway-advisories"

// vendored returns the files of the Go sample vendoring module mod at
// version, imported by the app so it is linked and in the binary's build
// info (what the SBOM generator reads).
func vendored(goVersion, mod, version string) map[string]string {
	pkg := mod[strings.LastIndex(mod, "/")+1:]
	ident := strings.ReplaceAll(pkg, "-", "")
	return map[string]string{
		"go.mod":             fmt.Sprintf("module example.com/hello\n\ngo %s\n\nrequire %s %s\n", goVersion, mod, version),
		"vendor/modules.txt": fmt.Sprintf("# %s %s\n## explicit\n%s\n", mod, version, mod),
		"vendor/" + mod + "/lib.go": fmt.Sprintf("// Package %s is a made-up dependency of Slipway's policy e2e.\npackage %s\n\n// Version is the vendored version.\nfunc Version() string { return %q }\n",
			ident, ident, version),
		"dep.go": fmt.Sprintf("package main\n\nimport %s %q\n\n// depVersion links the vendored module into the binary.\nvar depVersion = %s.Version()\n", ident, mod, ident),
	}
}

// A pull request whose Go sample vendors example.com/slipway-vuln v1.0.0
// (SLIPWAY-2026-0001, fixed in 1.2.0) fails the policy step; the commit
// status and the PR comment name the advisory and the fixed version, the
// API answers the stored check by digest; bumping to v1.2.0 passes.
func TestPolicyStepFailsOnAdvisoryThenPassesAfterBump(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*buildTimeout)
	defer cancel()
	repo, _ := newRepo(t, s, "policy", nil)
	goVersion := baseGoVersion(t)
	const number = 11
	s.fakePost(t, "/_fake/permissions", fmt.Sprintf(`{"repo": %q, "user": "owner", "level": "admin"}`, repo.Name))

	sha := repo.commit(t, "deps", "Depend on slipway-vuln v1.0.0", vendored(goVersion, "example.com/slipway-vuln", "v1.0.0"))
	repo.setRef(t, fmt.Sprintf("refs/pull/%d/head", number), sha)
	s.fakePost(t, "/_fake/pulls", fmt.Sprintf(`{"repo": %q, "number": %d, "sha": %q, "source": "deps", "target": "main", "title": "deps"}`, repo.Name, number, sha))
	mustAccept(t, s.sendGitHub(t, "pull_request", "e2e-"+randomHex(t, 8), s.githubPR(repo, number, "deps", sha)))
	run1 := waitForRunOf(ctx, t, sha)
	framework.WaitForPipelineRun(ctx, t, buildsNamespace, run1, framework.PipelineRunFailed)

	sts := s.waitForStatus(ctx, t, repo.Name, sha, "failure")
	var desc string
	for _, st := range sts {
		if st.Context == "slipway/ci" && slipwayState(st) == "failure" {
			desc = st.Description
		}
	}
	for _, want := range []string{"1 policy violation", "example.com/slipway-vuln v1.0.0", "SLIPWAY-2026-0001", "fixed in 1.2.0"} {
		if !strings.Contains(desc, want) {
			t.Errorf("commit status description %q lacks %q", desc, want)
		}
	}
	comment := s.waitForComment(ctx, t, "github", repo.Name, number, func(c fakescm.Comment) bool { return strings.Contains(c.Body, run1) })
	for _, want := range []string{scm.CommentMarker, "`policy`", "| Package | Version | Advisory or rule | Severity | Fixed in |",
		"| example.com/slipway-vuln | v1.0.0 | SLIPWAY-2026-0001 |", "| 1.2.0 |"} {
		if !strings.Contains(comment.Body, want) {
			t.Errorf("PR comment lacks %q:\n%s", want, comment.Body)
		}
	}

	// The check is stored by the digest the policy step read.
	tr := policyTaskRun(ctx, t, run1)
	digest := ""
	for _, p := range tr.Spec.Params {
		if p.Name == "image" {
			_, digest, _ = strings.Cut(p.Value.StringVal, "@")
		}
	}
	var check struct {
		Outcome    string `json:"outcome"`
		RunID      string `json:"runId"`
		Violations []struct {
			Package, Version, ID, Fixed string
		} `json:"violations"`
	}
	s.apiGet(ctx, t, "/api/v1/images/"+url.PathEscape(digest)+"/policy", &check)
	if check.Outcome != "failed" || check.RunID != buildsNamespace+"/"+run1 || len(check.Violations) != 1 ||
		check.Violations[0].ID != "SLIPWAY-2026-0001" || check.Violations[0].Fixed != "1.2.0" {
		t.Errorf("stored policy check of %s = %+v", digest, check)
	}

	// The bump passes.
	sha2 := repo.commit(t, "deps", "Bump slipway-vuln to v1.2.0", vendored(goVersion, "example.com/slipway-vuln", "v1.2.0"))
	repo.setRef(t, fmt.Sprintf("refs/pull/%d/head", number), sha2)
	s.fakePost(t, "/_fake/pulls", fmt.Sprintf(`{"repo": %q, "number": %d, "sha": %q, "source": "deps", "target": "main", "title": "deps"}`, repo.Name, number, sha2))
	mustAccept(t, s.sendGitHub(t, "pull_request", "e2e-"+randomHex(t, 8), s.githubPR(repo, number, "deps", sha2)))
	run2 := waitForRunOf(ctx, t, sha2)
	framework.WaitForPipelineRun(ctx, t, buildsNamespace, run2, framework.PipelineRunSucceeded)
	s.waitForStatus(ctx, t, repo.Name, sha2, "success")
}

// policyTaskRun is the policy TaskRun of PipelineRun name.
func policyTaskRun(ctx context.Context, t *testing.T, name string) *pipelinev1.TaskRun {
	t.Helper()
	l, err := framework.Get(t).Tekton.TektonV1().TaskRuns(buildsNamespace).List(ctx, metav1.ListOptions{
		LabelSelector: "tekton.dev/pipelineRun=" + name + ",tekton.dev/pipelineTask=policy"})
	if err != nil || len(l.Items) != 1 {
		t.Fatalf("the policy TaskRun of %s: %d found, %v", name, len(l.Items), err)
	}
	return &l.Items[0]
}

// apiGet reads path from Slipway's API as the developer into v.
func (s *slipwayStack) apiGet(ctx context.Context, t *testing.T, path string, v any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.authorize(req)
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// lateAdvisory names example.com/slipway-late, which only
// TestPromotionRefusedAfterNewAdvisoryAdminOverride's sample vendors.
const lateAdvisory = `{
  "id": "SLIPWAY-E2E-LATE",
  "modified": "2026-12-01T00:00:00Z",
  "summary": "Published after the image was built (policy e2e)",
  "affected": [{
    "package": {"ecosystem": "Go", "name": "example.com/slipway-late"},
    "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.1.0"}]}]
  }]
}`

// setAdvisory adds (record != "") or removes the feed's key.
func setAdvisory(ctx context.Context, t *testing.T, key, record string) {
	t.Helper()
	cms := framework.Get(t).Kube.CoreV1().ConfigMaps(buildsNamespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := cms.Get(ctx, advisoriesConfigMap, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		if record == "" {
			delete(cm.Data, key)
		} else {
			cm.Data[key] = record
		}
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("updating the advisory feed: %v", err)
	}
}

// An image built clean (its CI policy step passed) is refused at
// promotion into prod once an advisory naming its dependency is in the
// feed; a release manager cannot override (403); an admin's override with
// a reason promotes it and is in the audit log.
func TestPromotionRefusedAfterNewAdvisoryAdminOverride(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	api := newPromoAPI(t, s)
	admin := readStackToken(t, "SLIPWAY_ADMIN_TOKEN_FILE")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout+2*promotionTimeout)
	defer cancel()
	app := resetPromoApp(ctx, t, s, "promo-policy", 1)
	app.sha = app.repo.commit(t, "main", "Depend on slipway-late v1.0.0", vendored(baseGoVersion(t), "example.com/slipway-late", "v1.0.0"))

	digest := app.build(ctx, t, s, zeroSHA)
	api.waitDeployed(ctx, t, "promo-policy", "qa", digest)

	const key = "SLIPWAY-E2E-LATE.json"
	setAdvisory(ctx, t, key, lateAdvisory)
	t.Cleanup(func() { setAdvisory(context.Background(), t, key, "") })

	req := map[string]string{"app": "promo-policy", "from": "qa", "to": "prod"}
	code, body := api.do(t, http.MethodPost, "/api/v1/promotions", api.release, req)
	p := decodePromotion(t, body)
	if code != http.StatusUnprocessableEntity || p.State != "refused" || !strings.Contains(p.Reason, "SLIPWAY-E2E-LATE") || !strings.Contains(p.Reason, "fixed in 1.1.0") {
		t.Fatalf("promotion after the advisory = %d %+v, want refused naming SLIPWAY-E2E-LATE and 1.1.0", code, p)
	}

	const reason = "e2e: SLIPWAY-E2E-LATE is not reachable from the handler"
	req["policyOverride"] = reason
	if code, body := api.do(t, http.MethodPost, "/api/v1/promotions", api.release, req); code != http.StatusForbidden {
		t.Fatalf("release manager's override = %d %s, want 403", code, body)
	}
	p = api.promote(t, admin, req)
	p = api.waitState(ctx, t, p.ID, "succeeded")
	if p.Digest != digest {
		t.Errorf("promoted %s, want %s", p.Digest, digest)
	}
	api.waitDeployed(ctx, t, "promo-policy", "prod", digest)

	var audit struct {
		Items []struct {
			Actor, Action, Result string
		} `json:"items"`
	}
	code, body = api.do(t, http.MethodGet, fmt.Sprintf("/api/v1/audit?promotion=%d", p.ID), api.developer, nil)
	if code != http.StatusOK || json.Unmarshal(body, &audit) != nil {
		t.Fatalf("audit of %d: %d %s", p.ID, code, body)
	}
	found := false
	for _, e := range audit.Items {
		if e.Actor == "ada" && e.Action == "policy-override" && strings.Contains(e.Result, reason) && strings.Contains(e.Result, "SLIPWAY-E2E-LATE") {
			found = true
		}
	}
	if !found {
		t.Errorf("no audited policy-override by ada in %s", body)
	}
}

// readStackToken reads the token file slipway.sh env names under key.
func readStackToken(t *testing.T, key string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(framework.RepoRoot(), "e2e", "stack", "slipway.sh"), "env").Output()
	if err != nil {
		t.Fatalf("slipway.sh env: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "="); ok && k == key {
			b, err := os.ReadFile(v)
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			return strings.TrimSpace(string(b))
		}
	}
	t.Fatalf("slipway.sh env names no %s", key)
	return ""
}
