package server

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	tektonfake "github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	k8stesting "k8s.io/client-go/testing"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/slipway-ci/slipway/pkg/tekton"
)

// The installer retries a cluster that refuses it, on the backoff's
// delays, is not ready until it succeeds, and then stops.
func TestInstallerRetries(t *testing.T) {
	tc := tektonfake.NewSimpleClientset()
	var mu sync.Mutex
	refusals := 3
	tc.PrependReactor("*", "*", func(k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		if refusals > 0 {
			refusals--
			return true, nil, errors.New("connection refused")
		}
		return true, nil, nil // applied (Install reads nothing back)
	})
	clk := testingclock.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	b := wait.Backoff{Duration: time.Second, Factor: 2, Cap: 3 * time.Second, Steps: 100}
	i := &installer{client: tc, targets: []installTarget{{"ci", []string{tekton.CIPipeline}}}, enabled: true, backoff: &b, clock: clk}
	if err := i.check(context.Background()); err == nil {
		t.Error("ready before the first attempt")
	}
	done := make(chan error, 1)
	go func() { done <- i.Run(context.Background()) }()

	left := func() int { mu.Lock(); defer mu.Unlock(); return refusals }
	// The delays double up to the cap. Each refusal leaves the installer
	// waiting on the clock: not a moment before its delay, and the next
	// attempt comes once it passed. The test's own deadline bounds the
	// waits.
	for n, d := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second} {
		for !clk.HasWaiters() {
			time.Sleep(time.Millisecond)
		}
		if err := i.check(context.Background()); err == nil {
			t.Fatal("ready while refused")
		}
		clk.Step(d - time.Nanosecond)
		if !clk.HasWaiters() {
			t.Fatalf("retry %d came before its delay %s", n+1, d)
		}
		before := left()
		clk.Step(time.Nanosecond)
		for left() == before && before > 0 {
			time.Sleep(time.Millisecond)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if err := i.check(context.Background()); err != nil {
		t.Errorf("not ready after installing: %v", err)
	}
	// Disabled: ready at once, nothing applied.
	off := &installer{client: tektonfake.NewSimpleClientset()}
	if err := off.Run(context.Background()); err != nil || off.check(context.Background()) != nil {
		t.Errorf("disabled installer: Run %v, check %v", err, off.check(context.Background()))
	}
}

// Each namespace gets its own pipeline and that pipeline's Tasks: the
// builds namespace nothing of the deploy pipeline, the deploy namespace
// nothing of CI.
func TestInstallerInstallsEachNamespacesPipeline(t *testing.T) {
	tc := tektonfake.NewSimpleClientset()
	var mu sync.Mutex
	applied := map[string][]string{}
	tc.PrependReactor("patch", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		p := a.(k8stesting.PatchAction)
		applied[p.GetNamespace()] = append(applied[p.GetNamespace()], p.GetResource().Resource+"/"+p.GetName())
		return true, nil, nil
	})
	i := &installer{client: tc, enabled: true, targets: []installTarget{
		{"slipway-builds", []string{tekton.CIPipeline}}, {"slipway", []string{tekton.DeployPipeline}}}}
	if err := i.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := i.check(context.Background()); err != nil {
		t.Errorf("not ready after installing: %v", err)
	}
	want := map[string][]string{
		"slipway-builds": {"tasks/slipway-build-push", "tasks/slipway-generate-dockerfile", "tasks/slipway-git-clone",
			"tasks/slipway-policy", "tasks/slipway-unit-test", "pipelines/" + tekton.CIPipeline},
		"slipway": {"tasks/slipway-deploy", "pipelines/" + tekton.DeployPipeline},
	}
	if diff := cmp.Diff(want, applied); diff != "" {
		t.Errorf("applied per namespace (-want +got):\n%s", diff)
	}
}
