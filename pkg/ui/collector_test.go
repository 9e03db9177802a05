package ui

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-ci/slipway/pkg/store"
)

func logReads(e *env) int {
	n := 0
	for _, a := range e.kube.Actions() {
		if a.GetSubresource() == "log" {
			n++
		}
	}
	return n
}

func TestCollectorSavesTerminatedStepsOnce(t *testing.T) {
	e := newEnv(t, nil)
	c := NewCollector(e.tekton, e.kube, e.logs, ns, 16)
	tr := taskRun("build-push", []pipelinev1.StepState{
		terminated("build", 1, t0, t0.Add(time.Minute)),
		terminated("gone", 0, t0, t0.Add(time.Second)),
		running("push", t0.Add(time.Minute)),
	}, cond(corev1.ConditionUnknown, "Running", ""), t0, time.Time{})
	e.setPodLog("step-build", "step 1\nstep 2\nerror: <boom>\n") // 32 bytes, over the cap
	// step-gone has no log: its pod lost the container.
	if err := c.Collect(context.Background(), tr); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	got, err := e.logs.ListStepLogs(context.Background(), ns+"/"+runName)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.StepLog{{RunID: ns + "/" + runName, Task: "build-push", Step: "build", TaskRun: runName + "-build-push", ExitCode: 1,
		Log: "error: <boom>\n", Truncated: true, Size: 28, StartedAt: t0, FinishedAt: t0.Add(time.Minute)}}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(store.StepLog{}, "SavedAt")); diff != "" {
		t.Errorf("saved logs (-want +got):\n%s", diff)
	}
	reads := logReads(e)
	if reads != 2 {
		t.Errorf("%d log reads, want 2 (build and gone)", reads)
	}
	// An update of the same TaskRun reads nothing again; the step that
	// terminates since is saved.
	tr.Status.Steps[2] = terminated("push", 0, t0.Add(time.Minute), t0.Add(2*time.Minute))
	e.setPodLog("step-push", "pushed\n")
	if err := c.Collect(context.Background(), tr); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	if n := logReads(e) - reads; n != 1 {
		t.Errorf("%d log reads on update, want 1 (push)", n)
	}
	if l, err := e.logs.GetStepLog(context.Background(), ns+"/"+runName, "build-push", "push"); err != nil || l.Log != "pushed\n" || l.Truncated {
		t.Errorf("push log = %+v, %v", l, err)
	}
}

// runCollector runs a Collector over e's clients until the test ends;
// stopped is closed if Run returns early.
func runCollector(t *testing.T, e *env) (c *Collector, stopped <-chan struct{}) {
	t.Helper()
	c = NewCollector(e.tekton, e.kube, e.logs, ns, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var err error
	go func() { err = c.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if err != nil {
			t.Errorf("collector Run: %v", err)
		}
	})
	return c, done
}

func TestCollectorRun(t *testing.T) {
	e := newEnv(t, nil)
	e.setPodLog("step-clone", "cloned\n")
	_, stopped := runCollector(t, e)
	ctx := context.Background()
	tr := taskRuns(false)[0]
	if _, err := e.tekton.TektonV1().TaskRuns(ns).Create(ctx, tr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Wait for the informer and worker; the test's own deadline bounds it.
	for {
		l, err := e.logs.GetStepLog(ctx, ns+"/"+runName, "clone", "clone")
		if err == nil {
			if l.Log != "cloned\n" {
				t.Errorf("saved log %q", l.Log)
			}
			return
		}
		select {
		case <-stopped:
			t.Fatal("Run returned early")
		case <-time.After(10 * time.Millisecond):
		}
	}
}
