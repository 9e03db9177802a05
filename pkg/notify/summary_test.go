package notify

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	listers "github.com/tektoncd/pipeline/pkg/client/listers/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"knative.dev/pkg/apis"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func failedRun() run.Run {
	return run.Run{
		ID: "ci/web-1a2b3c4d-abcd", Provider: event.GitHub, Kind: event.MergeRequest, Repo: "acme/web",
		App: "web", Ref: "refs/pull/7/head", SHA: "1a2b3c4d5e6f", MRNumber: 7, State: run.Failed,
		Message: "Tasks Completed: 2 (Failed: 1)", StartedAt: t0, FinishedAt: t0.Add(95 * time.Second),
	}
}

func failedSummary() Summary {
	return Summary{
		Run: failedRun(), Link: "https://ci.example.com/runs/ci/web-1a2b3c4d-abcd", AuthorEmail: "ada@example.com",
		FailedTask: "unit-test", FailedStep: "go-test", LogTail: []string{"=== RUN TestCart", "--- FAIL: TestCart (0.00s)", "FAIL"},
	}
}

func TestSummarize(t *testing.T) {
	pr := &pipelinev1.PipelineRun{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1a2b3c4d-abcd", Namespace: "ci",
			Annotations: map[string]string{tekton.AnnotationAuthorEmail: "ada@example.com"}},
		Status: pipelinev1.PipelineRunStatus{PipelineRunStatusFields: pipelinev1.PipelineRunStatusFields{
			ChildReferences: []pipelinev1.ChildStatusReference{
				{TypeMeta: runtimeTaskRun, Name: "web-clone", PipelineTaskName: "clone"},
				{TypeMeta: runtimeTaskRun, Name: "web-unit", PipelineTaskName: "unit-test"},
			},
		}},
	}
	ok := taskRun("web-clone", corev1.ConditionTrue, nil)
	bad := taskRun("web-unit", corev1.ConditionFalse, []pipelinev1.StepState{
		{Name: "setup", Container: "step-setup", ContainerState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}},
		{Name: "go-test", Container: "step-go-test", ContainerState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}},
	})
	kc := kubefake.NewSimpleClientset()
	prs, trs := listersOf(t, pr, ok, bad)
	s, err := NewSummarizer(prs, trs, kc, "https://ci.example.com/", 0)
	if err != nil {
		t.Fatal(err)
	}
	got := s.Summarize(context.Background(), failedRun())
	want := Summary{
		Run: failedRun(), Link: "https://ci.example.com/runs/ci/web-1a2b3c4d-abcd", AuthorEmail: "ada@example.com",
		FailedTask: "unit-test", FailedStep: "go-test",
		// client-go's fake answers every log request with this line.
		LogTail: []string{"fake logs"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Summarize (-want +got):\n%s", diff)
	}
	// The log was asked of the failed step's container.
	var asked []string
	for _, a := range kc.Actions() {
		if a.GetSubresource() == "log" {
			asked = append(asked, a.GetNamespace()+"/"+a.GetResource().Resource)
		}
	}
	if diff := cmp.Diff([]string{"ci/pods"}, asked); diff != "" {
		t.Errorf("log requests (-want +got):\n%s", diff)
	}

	// A run whose PipelineRun is gone is still summarized, with the problem.
	gone := failedRun()
	gone.ID = "ci/deleted"
	if got := s.Summarize(context.Background(), gone); got.Problem == "" || got.Link != "https://ci.example.com/runs/ci/deleted" {
		t.Errorf("Summarize(deleted) = %+v, want a problem and the link", got)
	}
}

// TestSummarizeStoredLog: the failed step's log tail comes from the store
// when the collector saved it, and from the pod otherwise.
func TestSummarizeStoredLog(t *testing.T) {
	var long strings.Builder
	for i := range 50 {
		fmt.Fprintf(&long, "line %d\n", i)
	}
	for _, tc := range []struct {
		name        string
		stored      *store.StepLog
		lines       int
		want        []string
		wantPodLogs int // log requests to pods
	}{
		{"stored", &store.StepLog{Task: "unit-test", Step: "go-test", Log: "--- FAIL: TestCart\nFAIL\n"}, 0,
			[]string{"--- FAIL: TestCart", "FAIL"}, 0},
		{"stored, tail of a long log", &store.StepLog{Task: "unit-test", Step: "go-test", Log: long.String()}, 3,
			[]string{"line 47", "line 48", "line 49"}, 0},
		{"another step stored only", &store.StepLog{Task: "unit-test", Step: "setup", Log: "ok\n"}, 0,
			[]string{"fake logs"}, 1},
		{"nothing stored", nil, 0, []string{"fake logs"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "slipway.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			logs := st
			if tc.stored != nil {
				tc.stored.RunID = "ci/web-1a2b3c4d-abcd"
				if err := logs.SaveStepLog(ctx, tc.stored); err != nil {
					t.Fatal(err)
				}
			}
			pr := &pipelinev1.PipelineRun{ObjectMeta: metav1.ObjectMeta{Name: "web-1a2b3c4d-abcd", Namespace: "ci"},
				Status: pipelinev1.PipelineRunStatus{PipelineRunStatusFields: pipelinev1.PipelineRunStatusFields{
					ChildReferences: []pipelinev1.ChildStatusReference{{TypeMeta: runtimeTaskRun, Name: "web-unit", PipelineTaskName: "unit-test"}},
				}}}
			bad := taskRun("web-unit", corev1.ConditionFalse, []pipelinev1.StepState{
				{Name: "setup", ContainerState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}},
				{Name: "go-test", ContainerState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}},
			})
			kc := kubefake.NewSimpleClientset()
			prs, trs := listersOf(t, pr, bad)
			s, err := NewSummarizer(prs, trs, kc, "", tc.lines, WithStepLogs(logs))
			if err != nil {
				t.Fatal(err)
			}
			got := s.Summarize(ctx, failedRun())
			if got.Problem != "" || got.FailedTask != "unit-test" || got.FailedStep != "go-test" {
				t.Errorf("Summarize = %+v", got)
			}
			if diff := cmp.Diff(tc.want, got.LogTail); diff != "" {
				t.Errorf("log tail (-want +got):\n%s", diff)
			}
			podLogs := 0
			for _, a := range kc.Actions() {
				if a.GetSubresource() == "log" {
					podLogs++
				}
			}
			if podLogs != tc.wantPodLogs {
				t.Errorf("%d pod log requests, want %d", podLogs, tc.wantPodLogs)
			}
		})
	}
}

var runtimeTaskRun = runtime.TypeMeta{APIVersion: "tekton.dev/v1", Kind: "TaskRun"}

func taskRun(name string, st corev1.ConditionStatus, steps []pipelinev1.StepState) *pipelinev1.TaskRun {
	tr := &pipelinev1.TaskRun{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ci"}}
	tr.Status.SetCondition(&apis.Condition{Type: apis.ConditionSucceeded, Status: st})
	tr.Status.PodName = name + "-pod"
	tr.Status.Steps = steps
	return tr
}

// listersOf are listers over objs, as the server's watches would hold
// them.
func listersOf(t *testing.T, objs ...runtime.Object) (listers.PipelineRunLister, listers.TaskRunLister) {
	t.Helper()
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	trIdx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, o := range objs {
		var err error
		switch o.(type) {
		case *pipelinev1.PipelineRun:
			err = idx.Add(o)
		case *pipelinev1.TaskRun:
			err = trIdx.Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return listers.NewPipelineRunLister(idx), listers.NewTaskRunLister(trIdx)
}
