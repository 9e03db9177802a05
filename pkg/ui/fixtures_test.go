package ui

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tektonfake "github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/store/storetest"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

const (
	ns      = "slipway-builds"
	runName = "web-3f786850-abc"
	sha     = "3f786850e387550fdab836ed7e6dc881de23001b"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func mt(t time.Time) *metav1.Time { m := metav1.NewTime(t); return &m }

func cond(status corev1.ConditionStatus, reason, msg string) duckv1.Status {
	return duckv1.Status{Conditions: duckv1.Conditions{{Type: apis.ConditionSucceeded, Status: status, Reason: reason, Message: msg}}}
}

// pipelineRun is a CI run with three tasks: clone done, generate-dockerfile
// running (or done), build-push not started.
func pipelineRun(done bool) *pipelinev1.PipelineRun {
	pr := &pipelinev1.PipelineRun{
		ObjectMeta: metav1.ObjectMeta{Name: runName, Namespace: ns, CreationTimestamp: metav1.NewTime(t0),
			Labels: map[string]string{tekton.LabelManaged: "true", tekton.LabelApp: "web", tekton.LabelProvider: "github",
				tekton.LabelKind: "push", tekton.LabelSHA: sha, tekton.LabelEventID: "1"},
			Annotations: map[string]string{tekton.AnnotationRepo: "acme/web", tekton.AnnotationRef: "refs/heads/main"}},
	}
	pr.Status.Status = cond(corev1.ConditionUnknown, "Running", "Tasks Completed: 1 (Failed: 0, Cancelled 0), Incomplete: 2")
	pr.Status.StartTime = mt(t0)
	pr.Status.PipelineSpec = &pipelinev1.PipelineSpec{Tasks: []pipelinev1.PipelineTask{{Name: "clone"}, {Name: "generate-dockerfile"}, {Name: "build-push"}}}
	pr.Status.ChildReferences = []pipelinev1.ChildStatusReference{
		{Name: runName + "-clone", PipelineTaskName: "clone"},
		{Name: runName + "-generate-dockerfile", PipelineTaskName: "generate-dockerfile"},
	}
	if done {
		pr.Status.Status = cond(corev1.ConditionFalse, "Failed", "Tasks Completed: 3 (Failed: 1)")
		pr.Status.CompletionTime = mt(t0.Add(90 * time.Second))
		pr.Status.SkippedTasks = []pipelinev1.SkippedTask{{Name: "build-push", Reason: "Parent Tasks were skipped"}}
	}
	return pr
}

func taskRun(task string, steps []pipelinev1.StepState, c duckv1.Status, start, end time.Time) *pipelinev1.TaskRun {
	tr := &pipelinev1.TaskRun{ObjectMeta: metav1.ObjectMeta{Name: runName + "-" + task, Namespace: ns,
		Labels: map[string]string{tekton.LabelManaged: "true", "tekton.dev/pipelineRun": runName, "tekton.dev/pipelineTask": task}}}
	tr.UID = types.UID("uid-" + tr.Name)
	tr.Status.Status = c
	tr.Status.PodName = tr.Name + "-pod"
	tr.Status.StartTime = mt(start)
	if !end.IsZero() {
		tr.Status.CompletionTime = mt(end)
	}
	tr.Status.Steps = steps
	var specSteps []pipelinev1.Step
	for _, s := range steps {
		specSteps = append(specSteps, pipelinev1.Step{Name: s.Name})
	}
	tr.Status.TaskSpec = &pipelinev1.TaskSpec{Steps: specSteps}
	return tr
}

func terminated(name string, code int32, start, end time.Time) pipelinev1.StepState {
	return pipelinev1.StepState{Name: name, Container: "step-" + name, ContainerState: corev1.ContainerState{
		Terminated: &corev1.ContainerStateTerminated{ExitCode: code, StartedAt: metav1.NewTime(start), FinishedAt: metav1.NewTime(end)}}}
}

func running(name string, start time.Time) pipelinev1.StepState {
	return pipelinev1.StepState{Name: name, Container: "step-" + name, ContainerState: corev1.ContainerState{
		Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(start)}}}
}

func taskRuns(done bool) []*pipelinev1.TaskRun {
	clone := taskRun("clone", []pipelinev1.StepState{terminated("clone", 0, t0, t0.Add(5*time.Second))},
		cond(corev1.ConditionTrue, "Succeeded", ""), t0, t0.Add(6*time.Second))
	gen := taskRun("generate-dockerfile", []pipelinev1.StepState{running("render", t0.Add(7*time.Second))},
		cond(corev1.ConditionUnknown, "Running", ""), t0.Add(6*time.Second), time.Time{})
	if done {
		gen = taskRun("generate-dockerfile", []pipelinev1.StepState{terminated("render", 2, t0.Add(7*time.Second), t0.Add(80*time.Second))},
			cond(corev1.ConditionFalse, "Failed", `"step-render" exited with code 2`), t0.Add(6*time.Second), t0.Add(81*time.Second))
	}
	return []*pipelinev1.TaskRun{clone, gen}
}

// env is a UI over a SQLite store and fake clusters.
type env struct {
	t      *testing.T
	st     *store.DB
	logs   store.RunLogs
	tekton *tektonfake.Clientset
	kube   *kubefake.Clientset
	ui     *UI
	srv    *httptest.Server

	mu     sync.Mutex
	podLog map[string]string // by container
}

func newEnv(t *testing.T, objs []runtime.Object, opts ...Option) *env {
	t.Helper()
	return newEnvWith(t, objs, func(*store.DB) []Option { return opts })
}

// newEnvWith is newEnv with options that need the env's store.
func newEnvWith(t *testing.T, objs []runtime.Object, options func(st *store.DB) []Option) *env {
	t.Helper()
	st := storetest.Open(t, "sqlite://"+filepath.Join(t.TempDir(), "slipway.db"), store.WithClock(clocktesting.NewFakePassiveClock(t0)))
	opts := options(st)
	e := &env{t: t, st: st, logs: st, tekton: tektonfake.NewSimpleClientset(objs...), kube: kubefake.NewSimpleClientset(),
		podLog: map[string]string{}}
	e.kube.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		ga, ok := a.(k8stesting.GenericAction)
		if !ok || a.GetSubresource() != "log" {
			return false, nil, nil
		}
		o, _ := ga.GetValue().(*corev1.PodLogOptions)
		e.mu.Lock()
		defer e.mu.Unlock()
		text, ok := e.podLog[o.Container]
		if !ok {
			return true, nil, apiNotFound(o.Container)
		}
		return true, &runtime.Unknown{Raw: []byte(text)}, nil
	})
	opts = append([]Option{WithClock(clocktesting.NewFakePassiveClock(t0.Add(2 * time.Minute))), WithPollInterval(time.Millisecond)}, opts...)
	u, err := New(st, e.logs, e.tekton, e.kube, ns, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.ui = u
	ec := echo.New()
	u.Register(ec)
	e.srv = httptest.NewServer(ec)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) setPodLog(container, text string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.podLog[container] = text
}

// recordRun records the push event and the run as the dispatcher does.
func (e *env) recordRun(state run.State) {
	e.t.Helper()
	ev := storetest.Event("d-1")
	ev.Repo, ev.SHA, ev.Author = "acme/web", sha, "ada"
	id, _, err := e.st.RecordEvent(context.Background(), ev)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.st.CreateRun(context.Background(), &run.Run{ID: ns + "/" + runName, EventID: id, Provider: event.GitHub, Kind: event.Push,
		Repo: "acme/web", App: "web", Ref: "refs/heads/main", SHA: sha, State: state, CreatedAt: t0}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) get(path string, hdr ...string) (int, string, http.Header) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		b.WriteString(sc.Text())
		b.WriteByte('\n')
	}
	return resp.StatusCode, b.String(), resp.Header
}

func objects(done bool) []runtime.Object {
	out := []runtime.Object{pipelineRun(done)}
	for _, tr := range taskRuns(done) {
		out = append(out, tr)
	}
	return out
}

func apiNotFound(container string) error {
	return apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, container)
}
