package steplog

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
	"github.com/slipway-ci/slipway/pkg/tekton"
)

func TestCollectorSavesTerminatedStepsOnce(t *testing.T) {
	e := newEnv(t)
	c := NewCollector(e.factory, e.kube, e.st, ns, 16)
	tr := taskRun("build-push", []pipelinev1.StepState{
		terminated("build", 1, t0, t0.Add(time.Minute)),
		terminated("gone", 0, t0, t0.Add(time.Second)),
		running("push", t0.Add(time.Minute)),
	}, cond(corev1.ConditionUnknown, "Running", ""))
	e.setPodLog("step-build", "step 1\nstep 2\nerror: <boom>\n") // 32 bytes, over the cap
	// step-gone has no log: its pod lost the container.
	if err := c.Collect(context.Background(), tr); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	got, err := e.st.ListStepLogs(context.Background(), ns+"/"+runName)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.StepLog{{RunID: ns + "/" + runName, Task: "build-push", Step: "build", TaskRun: runName + "-build-push", ExitCode: 1,
		Log: "error: <boom>\n", Truncated: true, Size: 28, StartedAt: t0, FinishedAt: t0.Add(time.Minute)}}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(store.StepLog{}, "SavedAt")); diff != "" {
		t.Errorf("saved logs (-want +got):\n%s", diff)
	}
	reads := e.logReads()
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
	if n := e.logReads() - reads; n != 1 {
		t.Errorf("%d log reads on update, want 1 (push)", n)
	}
	if l, err := e.st.GetStepLog(context.Background(), ns+"/"+runName, "build-push", "push"); err != nil || l.Log != "pushed\n" || l.Truncated {
		t.Errorf("push log = %+v, %v", l, err)
	}
}

// runCollector runs a Collector over e's clients until the test ends;
// stopped is closed if Run returns early.
func runCollector(t *testing.T, e *env) (c *Collector, stopped <-chan struct{}) {
	t.Helper()
	c = NewCollector(e.factory, e.kube, e.st, ns, 0)
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

// CachedTaskRuns answers from the watch once it synced, for the watched
// namespace only.
func TestCachedTaskRuns(t *testing.T) {
	tr := taskRun("clone", []pipelinev1.StepState{terminated("clone", 0, t0, t0.Add(5*time.Second))}, cond(corev1.ConditionTrue, "Succeeded", ""))
	e := newEnv(t, tr)
	c, stopped := runCollector(t, e)
	for !c.synced.Load() { // until the watch synced; the test's deadline bounds it
		select {
		case <-stopped:
			t.Fatal("collector Run returned early")
		case <-time.After(5 * time.Millisecond):
		}
	}
	got, ok := c.CachedTaskRuns(ns, runName)
	if !ok || len(got) != 1 || got[0].Name != tr.Name {
		t.Errorf("CachedTaskRuns = %v, %v; want %s", got, ok, tr.Name)
	}
	if _, ok := c.CachedTaskRuns("elsewhere", runName); ok {
		t.Error("CachedTaskRuns answered for a namespace it does not watch")
	}
}

func TestCollectorRun(t *testing.T) {
	e := newEnv(t)
	e.setPodLog("step-clone", "cloned\n")
	_, stopped := runCollector(t, e)
	ctx := context.Background()
	tr := taskRun("clone", []pipelinev1.StepState{terminated("clone", 0, t0, t0.Add(5*time.Second))}, cond(corev1.ConditionTrue, "Succeeded", ""))
	if _, err := e.tekton.TektonV1().TaskRuns(ns).Create(ctx, tr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Wait for the informer and worker; the test's own deadline bounds it.
	for {
		l, err := e.st.GetStepLog(ctx, ns+"/"+runName, "clone", "clone")
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

// The shared factory also watches deploy runs; the collector keeps the
// logs of CI steps only.
func TestCollectorSkipsDeployRuns(t *testing.T) {
	e := newEnv(t)
	e.setPodLog("step-clone", "cloned\n")
	c := NewCollector(e.factory, e.kube, e.st, ns, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	deploy := taskRun("clone", []pipelinev1.StepState{terminated("clone", 0, t0, t0.Add(time.Second))}, cond(corev1.ConditionTrue, "Succeeded", ""))
	deploy.Name, deploy.UID = "deploy-shop-qa-clone", "uid-deploy"
	deploy.Labels = map[string]string{tekton.LabelPipeline: tekton.KindDeploy, "tekton.dev/pipelineRun": "deploy-shop-qa", "tekton.dev/pipelineTask": "clone"}
	ci := taskRun("clone", []pipelinev1.StepState{terminated("clone", 0, t0, t0.Add(time.Second))}, cond(corev1.ConditionTrue, "Succeeded", ""))
	for _, tr := range []*pipelinev1.TaskRun{deploy, ci} {
		if _, err := e.tekton.TektonV1().TaskRuns(ns).Create(ctx, tr, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for { // until the CI log is saved; the test's deadline bounds it
		if _, err := e.st.GetStepLog(ctx, ns+"/"+runName, "clone", "clone"); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Run returns once its workers have handled everything queued.
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if l, err := e.st.GetStepLog(context.Background(), ns+"/deploy-shop-qa", "clone", "clone"); err == nil {
		t.Errorf("deploy run's log saved: %q", l.Log)
	}
	if n := e.logReads(); n != 1 {
		t.Errorf("pod log reads = %d, want 1 (the CI step's)", n)
	}
}
