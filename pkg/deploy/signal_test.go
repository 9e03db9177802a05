package deploy

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-ci/slipway/pkg/rollout"
)

func TestSignalAndProgress(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		objs []any
		// read returns the annotations of the object that must carry them.
		read func(c *cluster) map[string]string
	}{
		{
			name: "deployment",
			objs: []any{service("shop", appLabels), deployment("shop", 1, appLabels, oldImage)},
			read: func(c *cluster) map[string]string { return c.deployment("shop").Annotations },
		},
		{
			name: "blue-green service",
			objs: []any{service("shop", map[string]string{"app": "shop", LabelColor: blue})},
			read: func(c *cluster) map[string]string {
				svc, err := c.client.CoreV1().Services(testNS).Get(ctx, "shop", metav1.GetOptions{})
				if err != nil {
					c.t.Fatal(err)
				}
				return svc.Annotations
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t, tt.objs...)
			for range 2 {
				if err := Signal(ctx, c.client, testNS, "shop", rollout.SignalContinue, "", ""); err != nil {
					t.Fatal(err)
				}
			}
			if err := Signal(ctx, c.client, testNS, "shop", rollout.SignalAbort, "", "bad metrics"); err != nil {
				t.Fatal(err)
			}
			got := tt.read(c)
			want := map[string]string{rollout.AnnotationContinue: "2", rollout.AnnotationAbort: "bad metrics"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("annotations (-want +got):\n%s", diff)
			}
			if p, err := Progress(ctx, c.client, testNS, "shop"); err != nil || p != "" {
				t.Errorf("Progress before any rollout = %q, %v; want empty", p, err)
			}
			line := "canary 50%: analysing 30s"
			if err := (target{client: c.client, ns: testNS, app: "shop"}).patch(ctx, "", map[string]*string{rollout.AnnotationProgress: &line}); err != nil {
				t.Fatal(err)
			}
			if p, err := Progress(ctx, c.client, testNS, "shop"); err != nil || p != line {
				t.Errorf("Progress = %q, %v; want %q", p, err, line)
			}
		})
	}
}

func TestSignalRejects(t *testing.T) {
	c := newCluster(t, deployment("shop", 1, appLabels, oldImage))
	ctx := context.Background()
	if err := Signal(ctx, c.client, testNS, "shop", rollout.SignalAbort, "", ""); err == nil || !strings.Contains(err.Error(), "needs a reason") {
		t.Errorf("abort without reason = %v", err)
	}
	if err := Signal(ctx, c.client, testNS, "shop", "pause", "", ""); err == nil || !strings.Contains(err.Error(), "unknown signal") {
		t.Errorf("unknown signal = %v", err)
	}
	if err := Signal(ctx, c.client, testNS, "nope", rollout.SignalContinue, "", ""); err == nil || !strings.Contains(err.Error(), "neither a deployment nor a service") {
		t.Errorf("signal to a missing app = %v", err)
	}
}

// progressLog records every distinct progress annotation value of shop.
func progressLog(c *cluster) *[]string {
	var seen []string
	prev := c.onSleep
	c.onSleep = func(c *cluster) {
		if prev != nil {
			prev(c)
		}
		p, err := Progress(context.Background(), c.client, testNS, "shop")
		if err == nil && p != "" && (len(seen) == 0 || seen[len(seen)-1] != p) {
			seen = append(seen, p)
		}
	}
	return &seen
}

func TestCanaryManualPauseWaitsForEachContinue(t *testing.T) {
	c := newCluster(t, service("shop", appLabels), deployment("shop", 10, appLabels, oldImage))
	// A continue given before the rollout started belongs to an older one.
	if err := Signal(context.Background(), c.client, testNS, "shop", rollout.SignalContinue, "", ""); err != nil {
		t.Fatal(err)
	}
	var sizes []int32
	paused := 0
	c.onSleep = func(c *cluster) {
		if !c.exists("shop-canary") {
			return
		}
		n := *c.deployment("shop-canary").Spec.Replicas
		if len(sizes) == 0 || sizes[len(sizes)-1] != n {
			sizes, paused = append(sizes, n), 0
		}
		// Each step is left waiting for a while before its continue.
		if paused++; paused == 20 {
			if err := Signal(context.Background(), c.client, testNS, "shop", rollout.SignalContinue, "", ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	seen := progressLog(c)
	spec := Spec{Strategy: rollout.Canary, Namespace: testNS, App: "shop", Image: newImage, Steps: []int{10, 50, 100}, ManualPause: true, ProgressDeadline: time.Minute}
	if err := c.deployer().Run(context.Background(), spec); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if diff := cmp.Diff([]int32{1, 5, 10}, sizes); diff != "" {
		t.Errorf("canary sizes (-want +got):\n%s", diff)
	}
	if got := image(c.deployment("shop")); got != newImage {
		t.Errorf("stable image = %s, want %s", got, newImage)
	}
	for _, want := range []string{"paused at canary 10%: waiting for continue", "paused at canary 50%: waiting for continue", "paused at canary 100%: waiting for continue"} {
		if !slices.Contains(*seen, want) {
			t.Errorf("progress never said %q; saw %q", want, *seen)
		}
	}
	if p, _ := Progress(context.Background(), c.client, testNS, "shop"); p != "done" {
		t.Errorf("final progress = %q, want done", p)
	}
}

func TestAbortRollsBackEveryStrategy(t *testing.T) {
	tests := []struct {
		name  string
		objs  []any
		spec  Spec
		bad   bool // the new image never becomes ready: the abort lands in the readiness wait
		after func(t *testing.T, c *cluster, stableBefore []string)
	}{
		{
			name: "rolling",
			objs: []any{deployment("shop", 3, appLabels, oldImage)},
			spec: Spec{Strategy: rollout.Rolling},
			bad:  true,
			after: func(t *testing.T, c *cluster, _ []string) {
				if got := image(c.deployment("shop")); got != oldImage {
					t.Errorf("image = %s, want the previous %s", got, oldImage)
				}
			},
		},
		{
			name: "bluegreen during the scale-down delay",
			objs: []any{
				service("shop", map[string]string{"app": "shop", LabelColor: blue}),
				deployment("shop-blue", 2, map[string]string{"app": "shop", LabelColor: blue}, oldImage),
			},
			spec: Spec{Strategy: rollout.BlueGreen, ScaleDownDelay: 10 * time.Minute},
			after: func(t *testing.T, c *cluster, _ []string) {
				if got := c.selector("shop")[LabelColor]; got != blue {
					t.Errorf("service selects %s, want traffic back on blue", got)
				}
				if n := *c.deployment("shop-green").Spec.Replicas; n != 0 {
					t.Errorf("green has %d replicas, want 0", n)
				}
			},
		},
		{
			name: "canary in a manual pause",
			objs: []any{service("shop", appLabels), deployment("shop", 4, appLabels, oldImage)},
			spec: Spec{Strategy: rollout.Canary, Steps: []int{25, 100}, ManualPause: true},
			after: func(t *testing.T, c *cluster, stableBefore []string) {
				if c.exists("shop-canary") {
					t.Errorf("the canary is still there")
				}
				if got := image(c.deployment("shop")); got != oldImage {
					t.Errorf("stable image = %s, want untouched", got)
				}
				if diff := cmp.Diff(stableBefore, c.podUIDs("shop")); diff != "" {
					t.Errorf("stable pods replaced (-want +got):\n%s", diff)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t, tt.objs...)
			ctx := context.Background()
			// A stale abort of an earlier rollout must not stop this one at once.
			if err := Signal(ctx, c.client, testNS, "shop", rollout.SignalAbort, "", "old"); err != nil {
				t.Fatal(err)
			}
			stableBefore := c.podUIDs("shop")
			if tt.bad {
				c.bad[newImage] = ""
			}
			sleeps := 0
			c.onSleep = func(c *cluster) {
				if sleeps++; sleeps == 5 {
					if err := Signal(ctx, c.client, testNS, "shop", rollout.SignalAbort, "", "release manager said no"); err != nil {
						t.Fatal(err)
					}
				}
			}
			s := tt.spec
			s.Namespace, s.App, s.Image, s.ProgressDeadline = testNS, "shop", newImage, time.Hour
			err := c.deployer().Run(ctx, s)
			rb := rollback(t, err)
			if !rb.Aborted || !rb.Restored || rb.Reason != "aborted: release manager said no" {
				t.Errorf("rollback = %+v, want a restored abort with the reason", rb)
			}
			if sleeps < 5 {
				t.Errorf("ended after %d polls, before the abort", sleeps)
			}
			tt.after(t, c, stableBefore)
			if p, _ := Progress(ctx, c.client, testNS, "shop"); p != "rolled back: aborted: release manager said no" {
				t.Errorf("final progress = %q", p)
			}
		})
	}
}

// An abort that lands before its rollout starts (the deploy pod not yet
// running) stops that rollout with nothing changed; an abort tagged for
// another rollout is stale and cleared.
func TestAbortBeforeStart(t *testing.T) {
	const rolloutID = "shop-prod-east-7"
	tests := []struct {
		name    string
		objs    []any
		spec    Spec
		tag     string
		aborted bool
		// live is the image serving traffic afterwards.
		live func(c *cluster) string
	}{
		{
			name:    "rolling, tagged for this rollout",
			objs:    []any{deployment("shop", 2, appLabels, oldImage)},
			spec:    Spec{Strategy: rollout.Rolling},
			tag:     rolloutID,
			aborted: true,
			live:    func(c *cluster) string { return image(c.deployment("shop")) },
		},
		{
			name: "bluegreen, tagged for this rollout",
			objs: []any{
				service("shop", map[string]string{"app": "shop", LabelColor: blue}),
				deployment("shop-blue", 2, map[string]string{"app": "shop", LabelColor: blue}, oldImage),
			},
			spec:    Spec{Strategy: rollout.BlueGreen},
			tag:     rolloutID,
			aborted: true,
			live:    func(c *cluster) string { return image(c.deployment("shop-" + c.selector("shop")[LabelColor])) },
		},
		{
			name:    "canary, tagged for this rollout",
			objs:    []any{service("shop", appLabels), deployment("shop", 2, appLabels, oldImage)},
			spec:    Spec{Strategy: rollout.Canary, Steps: []int{50, 100}},
			tag:     rolloutID,
			aborted: true,
			live:    func(c *cluster) string { return image(c.deployment("shop")) },
		},
		{
			name: "rolling, tagged for an earlier rollout",
			objs: []any{deployment("shop", 2, appLabels, oldImage)},
			spec: Spec{Strategy: rollout.Rolling},
			tag:  "shop-prod-east-6",
			live: func(c *cluster) string { return image(c.deployment("shop")) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t, tt.objs...)
			ctx := context.Background()
			if err := Signal(ctx, c.client, testNS, "shop", rollout.SignalAbort, tt.tag, "aborted by rita"); err != nil {
				t.Fatal(err)
			}
			s := tt.spec
			s.Namespace, s.App, s.Image, s.RolloutID = testNS, "shop", newImage, rolloutID
			err := c.deployer().Run(ctx, s)
			if !tt.aborted {
				if err != nil {
					t.Fatalf("Run with a stale abort: %v", err)
				}
				if got := tt.live(c); got != newImage {
					t.Errorf("live image = %s, want %s", got, newImage)
				}
				if ann := c.deployment("shop").Annotations; ann[rollout.AnnotationAbort] != "" || ann[rollout.AnnotationAbortRollout] != "" {
					t.Errorf("stale abort not cleared: %v", ann)
				}
				return
			}
			rb := rollback(t, err)
			want := RollbackError{Strategy: s.Strategy, Reason: "aborted: aborted by rita", Restored: true, Aborted: true}
			if diff := cmp.Diff(want, *rb); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if got := tt.live(c); got != oldImage {
				t.Errorf("live image = %s, want the untouched %s", got, oldImage)
			}
			if c.exists("shop-canary") || c.exists("shop-green") {
				t.Errorf("a canary or idle colour was created")
			}
			if p, _ := Progress(ctx, c.client, testNS, "shop"); p != "aborted before it started: aborted by rita" {
				t.Errorf("final progress = %q", p)
			}
		})
	}
}
