package notify

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/testreport"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func failingTests() *testreport.Report {
	r := &testreport.Report{Cases: []testreport.Case{
		{Suite: "example.com/shop", Name: "TestTotal", Status: testreport.Passed},
		{Suite: "example.com/shop", Name: "TestCart", Status: testreport.Failed, Output: "=== RUN TestCart\n    cart_test.go:12: total = 3, want 4\n--- FAIL: TestCart (0.00s)"},
		{Suite: "example.com/shop", Name: "TestLater", Status: testreport.Skipped},
		{Suite: "example.com/shop", Name: "Test`Fence`", Status: testreport.Failed, Output: "```oops"},
	}}
	for i := range 3 {
		r.Cases = append(r.Cases, testreport.Case{Suite: "example.com/pay", Name: "TestRefund/" + string(rune('a'+i)), Status: testreport.Failed})
	}
	r.Cases = append(r.Cases, testreport.Case{Suite: "example.com/zz", Name: "TestLast", Status: testreport.Failed})
	return r
}

// TestGoldenCommentWithTests: the MR comment counts the tests and lists the
// first failures with the end of their output.
func TestGoldenCommentWithTests(t *testing.T) {
	s := failedSummary()
	s.Tests = failingTests()
	for _, g := range []struct{ file, got string }{
		{"comment-tests.golden.md", Comment(s)},
		{"email-tests.golden.txt", Text(s)},
	} {
		p := filepath.Join("testdata", g.file)
		if *update {
			if err := os.WriteFile(p, []byte(g.got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (run make update-golden)", err)
		}
		if diff := cmp.Diff(string(want), g.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", g.file, diff)
		}
	}
}

// TestSummarizeTests: the report comes from the store, else from the
// report step's saved log (the collector parses it a moment later), else
// there is none.
func TestSummarizeTests(t *testing.T) {
	var summary strings.Builder
	if err := testreport.WriteSummary(&summary, failingTests()); err != nil {
		t.Fatal(err)
	}
	const id = "ci/web-1a2b3c4d-abcd"
	tests := []struct {
		name      string
		report    *testreport.Report
		stepLog   string
		wantFails int // -1: no report
	}{
		{"stored report", failingTests(), "", 6},
		{"report step's log only", nil, "test report: …\n" + summary.String(), 6},
		{"no report", nil, "", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "slipway.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			if tt.report != nil {
				if err := st.SaveTestReport(ctx, id, tt.report); err != nil {
					t.Fatal(err)
				}
			}
			if tt.stepLog != "" {
				if err := st.SaveStepLog(ctx, &store.StepLog{RunID: id, Task: "unit-test", Step: "report", Log: tt.stepLog}); err != nil {
					t.Fatal(err)
				}
			}
			pr := &pipelinev1.PipelineRun{ObjectMeta: metav1.ObjectMeta{Name: "web-1a2b3c4d-abcd", Namespace: "ci"},
				Status: pipelinev1.PipelineRunStatus{PipelineRunStatusFields: pipelinev1.PipelineRunStatusFields{
					ChildReferences: []pipelinev1.ChildStatusReference{{TypeMeta: runtimeTaskRun, Name: "web-unit", PipelineTaskName: "unit-test"}},
				}}}
			tr := taskRun("web-unit", corev1.ConditionFalse, []pipelinev1.StepState{
				{Name: "test", ContainerState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}},
				{Name: "report", ContainerState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}},
			})
			tr.Status.PodName = ""
			prs, trs := listersOf(t, pr, tr)
			s, err := NewSummarizer(prs, trs, kubefake.NewSimpleClientset(), "", 0, WithStepLogs(st), WithTestReports(st))
			if err != nil {
				t.Fatal(err)
			}
			got := s.Summarize(ctx, failedRun()).Tests
			if tt.wantFails < 0 {
				if got != nil {
					t.Fatalf("Tests = %+v, want none", got)
				}
				return
			}
			if got == nil || got.Counts().Failed != tt.wantFails {
				t.Fatalf("Tests = %+v, want %d failures", got, tt.wantFails)
			}
		})
	}
}
