package tekton

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
)

// run is a PipelineRun of app's pipeline created minute minutes after a
// fixed start, in state "running", "succeeded" or "failed".
func prunable(name, app, pipeline string, minute int, state string) *pipelinev1.PipelineRun {
	pr := &pipelinev1.PipelineRun{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: "ci", UID: types.UID("uid-" + name),
		CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, minute, 0, 0, time.UTC)),
		Labels:            map[string]string{},
	}}
	if app != "" {
		pr.Labels[LabelApp] = app
	}
	if pipeline != "" {
		pr.Labels[LabelPipeline] = pipeline
	}
	status := map[string]corev1.ConditionStatus{"running": corev1.ConditionUnknown, "succeeded": corev1.ConditionTrue, "failed": corev1.ConditionFalse}[state]
	pr.Status.Status = duckv1.Status{Conditions: duckv1.Conditions{{Type: apis.ConditionSucceeded, Status: status}}}
	return pr
}

func TestPrune(t *testing.T) {
	var objs []runtime.Object
	// web: 5 finished CI runs, 1 running (the oldest), 3 finished deploys.
	objs = append(objs, prunable("web-ci-running", "web", "ci", 0, "running"))
	for i := 1; i <= 5; i++ {
		state := "succeeded"
		if i%2 == 0 {
			state = "failed"
		}
		objs = append(objs, prunable(fmt.Sprintf("web-ci-%d", i), "web", "ci", i, state))
	}
	for i := 1; i <= 3; i++ {
		objs = append(objs, prunable(fmt.Sprintf("web-deploy-%d", i), "web", KindDeploy, 10+i, "succeeded"))
	}
	// api: 2 finished CI runs; a run that is not Slipway's.
	objs = append(objs, prunable("api-ci-1", "api", "ci", 1, "succeeded"), prunable("api-ci-2", "api", "ci", 2, "failed"))
	objs = append(objs, prunable("someone-elses", "", "", 0, "succeeded"))

	tc := fake.NewSimpleClientset(objs...)
	n, err := Prune(context.Background(), tc, "ci", 2)
	if err != nil {
		t.Fatal(err)
	}
	left, err := tc.TektonV1().PipelineRuns("ci").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, pr := range left.Items {
		names = append(names, pr.Name)
	}
	sort.Strings(names)
	want := []string{"api-ci-1", "api-ci-2", "someone-elses", "web-ci-4", "web-ci-5", "web-ci-running", "web-deploy-2", "web-deploy-3"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("runs left (-want +got):\n%s", diff)
	}
	if n != 4 {
		t.Errorf("Prune deleted %d, want 4", n)
	}
	if n, err := Prune(context.Background(), tc, "ci", 0); n != 0 || err != nil {
		t.Errorf("keep 0 = %d, %v; want nothing deleted", n, err)
	}
}
