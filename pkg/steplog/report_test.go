package steplog

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/testreport"
)

func TestCollectorSavesTestReports(t *testing.T) {
	var summary strings.Builder
	rep := &testreport.Report{Cases: []testreport.Case{
		{Suite: "example.com/calc", Name: "TestAdd", Status: testreport.Failed, Output: "add_test.go:9: got 3, want 4"},
		{Suite: "example.com/calc", Name: "TestSub", Status: testreport.Passed, Time: time.Second},
	}}
	if err := testreport.WriteSummary(&summary, rep); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		task    string
		log     string
		want    *testreport.Report // nil: no report saved
		wantErr bool
	}{
		{"summary saved", ReportTask, "test report: 2 tests, 1 failed\n" + summary.String(), rep, false},
		{"no summary (a pipeline from before reports)", ReportTask, "no test report found\n", nil, false},
		{"damaged summary is not retried", ReportTask, summary.String()[:40] + "\n", nil, false},
		{"another task's report step", "build-push", summary.String(), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			c := NewCollector(e.factory, e.kube, e.st, ns, 0, WithTestReports(e.st))
			tr := taskRun(tt.task, []pipelinev1.StepState{
				terminated("test", 1, t0, t0.Add(time.Minute)),
				terminated(ReportStep, 1, t0.Add(time.Minute), t0.Add(2*time.Minute)),
			}, cond(corev1.ConditionFalse, "Failed", ""))
			e.setPodLog("step-test", "--- FAIL: TestAdd\n")
			e.setPodLog("step-"+ReportStep, tt.log)
			if err := c.Collect(context.Background(), tr); (err != nil) != tt.wantErr {
				t.Fatalf("Collect err = %v, want error %v", err, tt.wantErr)
			}
			got, err := e.st.GetTestReport(context.Background(), ns+"/"+runName)
			if tt.want == nil {
				if !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("GetTestReport = %v, %v; want no report", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("saved report (-want +got):\n%s", diff)
			}
		})
	}
}
