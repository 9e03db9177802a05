package report

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

type memPolicyChecks struct {
	mu sync.Mutex
	m  map[string]run.PolicyCheck
}

func (s *memPolicyChecks) SavePolicyCheck(_ context.Context, c *run.PolicyCheck) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[c.Digest] = *c
	return nil
}

// policyTaskRun is the run's policy TaskRun with result as its POLICY.
func policyTaskRun(pr *pipelinev1.PipelineRun, failed bool, result string) *pipelinev1.TaskRun {
	var tr *pipelinev1.TaskRun
	if failed {
		tr = failedTaskRun(pr, policyTask, `"step-verdict" exited with code 1`)
	} else {
		name := pr.Name + "-" + policyTask
		pr.Status.ChildReferences = append(pr.Status.ChildReferences, pipelinev1.ChildStatusReference{
			TypeMeta: runtime.TypeMeta{APIVersion: "tekton.dev/v1", Kind: "TaskRun"}, Name: name, PipelineTaskName: policyTask,
		})
		tr = &pipelinev1.TaskRun{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{tekton.LabelManaged: "true"}}}
	}
	tr.Spec.Params = pipelinev1.Params{{Name: "image", Value: *pipelinev1.NewStructuredValues("registry.local/web@sha256:0999")}}
	tr.Status.Results = []pipelinev1.TaskRunResult{{Name: resultPolicy, Type: pipelinev1.ResultsTypeString, Value: *pipelinev1.NewStructuredValues(result)}}
	return tr
}

func TestPolicyOutcome(t *testing.T) {
	const violated = `{"outcome":"failed","packages":4,"violations":[{"package":"example.com/slipway-vuln","version":"v1.0.0","rule":"advisory","id":"SLIPWAY-2026-0001","severity":"CRITICAL","fixed":"1.2.0"}]}`
	failed := newPR("web-p1", "6666", finished(corev1.ConditionFalse, "Failed", "Tasks Completed: 5 (Failed: 1, Cancelled 0), Skipped: 0"), withResults)
	failedTR := policyTaskRun(failed, true, violated)
	passed := newPR("web-p2", "7777", succeeded, withResults)
	passed.Status.Results[1].Value = *pipelinev1.NewStructuredValues("sha256:0456")
	passedTR := policyTaskRun(passed, false, `{"outcome":"none"}`)
	garbled := newPR("web-p3", "8888", succeeded, withResults)
	garbled.Status.Results[1].Value = *pipelinev1.NewStructuredValues("sha256:0789")
	garbledTR := policyTaskRun(garbled, false, `{"outcome":"fine"}`)
	// A failed run whose PipelineRun results lack IMAGE_DIGEST: the policy
	// step's image param names the digest.
	noDigest := newPR("web-p4", "9999", finished(corev1.ConditionFalse, "Failed", "Tasks Completed: 5 (Failed: 1, Cancelled 0), Skipped: 0"))
	noDigestTR := policyTaskRun(noDigest, true, violated)

	checks := &memPolicyChecks{m: map[string]run.PolicyCheck{}}
	h := newHarness(t, newMemRuns(), failed, failedTR, passed, passedTR, garbled, garbledTR, noDigest, noDigestTR)
	h.start(t, WithPolicyChecks(checks))
	for _, name := range []string{"web-p1", "web-p2", "web-p3", "web-p4"} {
		waitFor(t, name+" reported", func() bool {
			r, ok := h.runs.get("ci/" + name)
			return ok && r.Reported.Terminal()
		})
	}

	want := status("6666", scm.StateFailure, "1 policy violation, first: example.com/slipway-vuln v1.0.0: SLIPWAY-2026-0001 (fixed in 1.2.0)", "web-p1")
	if diff := cmp.Diff([]call{want}, h.github.callsFor("6666")); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	r, _ := h.runs.get("ci/web-p1")
	if !strings.Contains(r.Message, "| example.com/slipway-vuln | v1.0.0 | SLIPWAY-2026-0001 | CRITICAL | 1.2.0 |") {
		t.Errorf("run message (the MR comment and run page) lacks the table:\n%s", r.Message)
	}
	wantChecks := map[string]run.PolicyCheck{
		"sha256:0123": {Digest: "sha256:0123", RunID: "ci/web-p1", Outcome: run.PolicyFailed, Packages: 4,
			Violations: []run.PolicyViolation{{Package: "example.com/slipway-vuln", Version: "v1.0.0", Rule: "advisory", ID: "SLIPWAY-2026-0001", Severity: "CRITICAL", Fixed: "1.2.0"}}},
		"sha256:0456": {Digest: "sha256:0456", RunID: "ci/web-p2", Outcome: run.PolicyNone},
		"sha256:0999": {Digest: "sha256:0999", RunID: "ci/web-p4", Outcome: run.PolicyFailed, Packages: 4,
			Violations: []run.PolicyViolation{{Package: "example.com/slipway-vuln", Version: "v1.0.0", Rule: "advisory", ID: "SLIPWAY-2026-0001", Severity: "CRITICAL", Fixed: "1.2.0"}}},
	}
	checks.mu.Lock()
	got := checks.m
	checks.mu.Unlock()
	// A garbled result is not stored, and does not block the status.
	if diff := cmp.Diff(wantChecks, got); diff != "" {
		t.Errorf("stored checks (-want +got):\n%s", diff)
	}
	if calls := h.github.callsFor("8888"); len(calls) != 1 || calls[0].Status.State != scm.StateSuccess {
		t.Errorf("garbled result's run: statuses %+v", calls)
	}
}

func TestParsePolicyResult(t *testing.T) {
	for _, bad := range []string{"", "{", `{"outcome":""}`, `{"outcome":"maybe"}`, `{"outcome":"failed","violations":"x"}`, strings.Repeat(" ", maxPolicyResult+1)} {
		if _, err := parsePolicyResult(bad); err == nil {
			t.Errorf("parsePolicyResult(%.30q) accepted", bad)
		}
	}
	c, err := parsePolicyResult(`{"outcome":"passed","packages":3,"digest":"sha256:forged","runId":"x"}`)
	if err != nil || c.Digest != "" || c.RunID != "" || c.Packages != 3 {
		t.Errorf("got %+v, %v: the digest and run come from the run, not the result", c, err)
	}
}
