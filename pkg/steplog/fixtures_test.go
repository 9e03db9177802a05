package steplog

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tektonfake "github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	"github.com/tektoncd/pipeline/pkg/client/informers/externalversions"
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

	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/store/storetest"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

const (
	ns      = "slipway-builds"
	runName = "web-3f786850-abc"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func cond(status corev1.ConditionStatus, reason, msg string) duckv1.Status {
	return duckv1.Status{Conditions: duckv1.Conditions{{Type: apis.ConditionSucceeded, Status: status, Reason: reason, Message: msg}}}
}

func taskRun(task string, steps []pipelinev1.StepState, c duckv1.Status) *pipelinev1.TaskRun {
	tr := &pipelinev1.TaskRun{ObjectMeta: metav1.ObjectMeta{Name: runName + "-" + task, Namespace: ns,
		Labels: map[string]string{tekton.LabelManaged: "true", "tekton.dev/pipelineRun": runName, "tekton.dev/pipelineTask": task}}}
	tr.UID = types.UID("uid-" + tr.Name)
	tr.Status.Status = c
	tr.Status.PodName = tr.Name + "-pod"
	tr.Status.Steps = steps
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

// env is a SQLite store, fake clusters whose pods answer the logs set with
// setPodLog, and the factory the server would share.
type env struct {
	st      *store.DB
	tekton  *tektonfake.Clientset
	kube    *kubefake.Clientset
	factory externalversions.SharedInformerFactory

	mu     sync.Mutex
	podLog map[string]string // by container
}

func newEnv(t *testing.T, objs ...runtime.Object) *env {
	t.Helper()
	e := &env{
		st:     storetest.Open(t, "sqlite://"+filepath.Join(t.TempDir(), "slipway.db"), store.WithClock(clocktesting.NewFakePassiveClock(t0))),
		tekton: tektonfake.NewSimpleClientset(objs...), kube: kubefake.NewSimpleClientset(), podLog: map[string]string{},
	}
	e.factory = externalversions.NewSharedInformerFactoryWithOptions(e.tekton, 0, externalversions.WithNamespace(ns))
	t.Cleanup(e.factory.Shutdown)
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
			return true, nil, apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, o.Container)
		}
		return true, &runtime.Unknown{Raw: []byte(text)}, nil
	})
	return e
}

func (e *env) setPodLog(container, text string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.podLog[container] = text
}

func (e *env) logReads() int {
	n := 0
	for _, a := range e.kube.Actions() {
		if a.GetSubresource() == "log" {
			n++
		}
	}
	return n
}
