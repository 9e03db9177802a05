package deploy

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/slipway-ci/slipway/pkg/rollout"
)

const (
	runNS   = "slipway-builds"
	runName = "deploy-shop-prod-local-7-abcdef01"
)

// runClient is a dynamic fake holding the deploy PipelineRun, as the
// deploy pod sees its own cluster.
func runClient(t *testing.T, ann map[string]string) *dynamicfake.FakeDynamicClient {
	t.Helper()
	pr := &unstructured.Unstructured{}
	pr.SetAPIVersion("tekton.dev/v1")
	pr.SetKind("PipelineRun")
	pr.SetNamespace(runNS)
	pr.SetName(runName)
	pr.SetAnnotations(ann)
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{PipelineRuns: "PipelineRunList"}, pr)
}

// signalRun does what the server does: merge-patch the PipelineRun's
// annotations with rollout.SignalPatch.
func signalRun(t *testing.T, dc *dynamicfake.FakeDynamicClient, sig rollout.Signal, reason string) {
	t.Helper()
	ctx := context.Background()
	r := run{client: dc, ns: runNS, name: runName}
	ann, _, err := r.annotations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, err := rollout.SignalPatch(ann, sig, "", reason)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.patch(ctx, "", p); err != nil {
		t.Fatal(err)
	}
}

func runProgress(t *testing.T, dc *dynamicfake.FakeDynamicClient) string {
	t.Helper()
	u, err := dc.Resource(PipelineRuns).Namespace(runNS).Get(context.Background(), runName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rollout.Progress(u.GetAnnotations())
}

// The server steers a rollout through its PipelineRun only: continues
// and the progress line go through it, the target cluster's annotations
// still work beside it.
func TestRunChannelContinuesAndReportsProgress(t *testing.T) {
	c := newCluster(t, service("shop", appLabels), deployment("shop", 10, appLabels, oldImage))
	dc := runClient(t, map[string]string{rollout.AnnotationContinue: "4"}) // counts from where it is
	var sizes []int32
	var pausedSeen []string
	paused := 0
	c.onSleep = func(c *cluster) {
		if !c.exists("shop-canary") {
			return
		}
		n := *c.deployment("shop-canary").Spec.Replicas
		if len(sizes) == 0 || sizes[len(sizes)-1] != n {
			sizes, paused = append(sizes, n), 0
		}
		if paused++; paused == 10 {
			pausedSeen = append(pausedSeen, runProgress(t, dc))
			// The first step is continued on the target (kubectl), the
			// others on the PipelineRun (the server).
			if len(sizes) == 1 {
				if err := Signal(context.Background(), c.client, testNS, "shop", rollout.SignalContinue, "", ""); err != nil {
					t.Fatal(err)
				}
			} else {
				signalRun(t, dc, rollout.SignalContinue, "")
			}
		}
	}
	spec := Spec{Strategy: rollout.Canary, Namespace: testNS, App: "shop", Image: newImage, Steps: []int{50, 100}, ManualPause: true,
		ProgressDeadline: time.Minute, RolloutID: runName, RunNamespace: runNS}
	if err := c.deployer(WithRunClient(dc)).Run(context.Background(), spec); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if diff := cmp.Diff([]int32{5, 10}, sizes); diff != "" {
		t.Errorf("canary sizes (-want +got):\n%s", diff)
	}
	want := []string{"paused at canary 50%: waiting for continue", "paused at canary 100%: waiting for continue"}
	if diff := cmp.Diff(want, pausedSeen); diff != "" {
		t.Errorf("progress on the PipelineRun while paused (-want +got):\n%s", diff)
	}
	if got := runProgress(t, dc); got != "done" {
		t.Errorf("final progress on the PipelineRun = %q, want done", got)
	}
}

// An abort on the PipelineRun is always its rollout's: set before the pod
// started, it stops the rollout with nothing changed; set while it runs,
// it rolls back.
func TestRunChannelAbort(t *testing.T) {
	for _, early := range []bool{true, false} {
		name := "while running"
		if early {
			name = "before the start"
		}
		t.Run(name, func(t *testing.T) {
			c := newCluster(t, service("shop", appLabels), deployment("shop", 2, appLabels, oldImage))
			dc := runClient(t, nil)
			if early {
				signalRun(t, dc, rollout.SignalAbort, "aborted by rita")
			} else {
				c.onSleep = func(c *cluster) {
					if c.exists("shop-canary") {
						signalRun(t, dc, rollout.SignalAbort, "aborted by rita")
					}
				}
			}
			spec := Spec{Strategy: rollout.Canary, Namespace: testNS, App: "shop", Image: newImage, Steps: []int{50, 100}, Pause: time.Minute,
				ProgressDeadline: time.Minute, RolloutID: runName, RunNamespace: runNS}
			rb := rollback(t, c.deployer(WithRunClient(dc)).Run(context.Background(), spec))
			if !rb.Aborted || rb.Reason != "aborted: aborted by rita" {
				t.Errorf("error = %+v, want an abort by rita", rb)
			}
			if got := image(c.deployment("shop")); got != oldImage {
				t.Errorf("stable image = %s, want the untouched %s", got, oldImage)
			}
			if c.exists("shop-canary") {
				t.Error("the canary is still there")
			}
		})
	}
}

func TestRunChannelNeedsItsClient(t *testing.T) {
	c := newCluster(t, deployment("shop", 2, appLabels, oldImage))
	spec := Spec{Strategy: rollout.Rolling, Namespace: testNS, App: "shop", Image: newImage, RolloutID: runName, RunNamespace: runNS}
	if err := c.deployer().Run(context.Background(), spec); err == nil {
		t.Fatal("a rollout signalled through its PipelineRun ran without a client of that cluster")
	}
}
