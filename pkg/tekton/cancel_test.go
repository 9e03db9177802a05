package tekton

import (
	"context"
	"testing"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
)

func prWith(name string, spec pipelinev1.PipelineRunSpecStatus, cond *apis.Condition) *pipelinev1.PipelineRun {
	pr := &pipelinev1.PipelineRun{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ci"},
		Spec:       pipelinev1.PipelineRunSpec{Status: spec},
	}
	if cond != nil {
		pr.Status.Status = duckv1.Status{Conditions: duckv1.Conditions{*cond}}
	}
	return pr
}

func TestCancel(t *testing.T) {
	running := &apis.Condition{Type: apis.ConditionSucceeded, Status: corev1.ConditionUnknown, Reason: "Running"}
	succeeded := &apis.Condition{Type: apis.ConditionSucceeded, Status: corev1.ConditionTrue, Reason: "Succeeded"}
	tests := []struct {
		name      string
		pr        *pipelinev1.PipelineRun
		wantPatch bool
	}{
		{name: "running", pr: prWith("a", "", running), wantPatch: true},
		{name: "not started", pr: prWith("a", "", nil), wantPatch: true},
		{name: "finished", pr: prWith("a", "", succeeded)},
		{name: "already cancelled", pr: prWith("a", pipelinev1.PipelineRunSpecStatusCancelled, running)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			cs := fake.NewSimpleClientset(tt.pr)
			if err := Cancel(ctx, cs, "ci", "a"); err != nil {
				t.Fatal(err)
			}
			patched := false
			for _, a := range cs.Actions() {
				patched = patched || a.GetVerb() == "patch"
			}
			if patched != tt.wantPatch {
				t.Errorf("patched = %v, want %v", patched, tt.wantPatch)
			}
			got, err := cs.TektonV1().PipelineRuns("ci").Get(ctx, "a", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantPatch && got.Spec.Status != pipelinev1.PipelineRunSpecStatusCancelled {
				t.Errorf("spec.status = %q, want Cancelled", got.Spec.Status)
			}
		})
	}
}

func TestCancelMissing(t *testing.T) {
	err := Cancel(context.Background(), fake.NewSimpleClientset(), "ci", "nope")
	if !apierrors.IsNotFound(err) {
		t.Fatalf("err = %v, want NotFound", err)
	}
}
