package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/slipway-ci/slipway/pkg/rollout"
)

var appLabels = map[string]string{"app": "shop"}

func TestValidate(t *testing.T) {
	ok := Spec{Strategy: rollout.Rolling, Namespace: "ns", App: "shop", Image: newImage}
	max := 0.5
	tests := []struct {
		name    string
		change  func(*Spec)
		wantErr string
	}{
		{"valid", func(*Spec) {}, ""},
		{"unknown strategy", func(s *Spec) { s.Strategy = "recreate" }, `unknown strategy "recreate"`},
		{"missing app", func(s *Spec) { s.App = "" }, "namespace and app are required"},
		{"tag refused", func(s *Spec) { s.Image = "registry.test/shop:v1" }, "must be REPO@sha256:<digest>"},
		{"tag and digest refused", func(s *Spec) { s.Image = "registry.test/shop:v1@sha256:" + strings.Repeat("1", 64) }, "without a tag"},
		{"short digest refused", func(s *Spec) { s.Image = "registry.test/shop@sha256:1234" }, "must be REPO@sha256:<digest>"},
		{"registry with port", func(s *Spec) { s.Image = "10.244.0.1:5000/shop@sha256:" + strings.Repeat("a", 64) }, ""},
		{"steps not ascending", func(s *Spec) { s.Steps = []int{50, 10} }, "greater than the one before"},
		{"step above 100", func(s *Spec) { s.Steps = []int{10, 150} }, "1..100"},
		{"negative pause", func(s *Spec) { s.Pause = -time.Second }, "must not be negative"},
		{"query without bound", func(s *Spec) { s.Analysis.Queries = []Query{{Name: "errors", Query: "up"}} }, `analysis query "errors"`},
		{"query with bound", func(s *Spec) { s.Analysis.Queries = []Query{{Name: "errors", Query: "up", Max: &max}} }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.change(&s)
			err := s.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestCanarySplit(t *testing.T) {
	tests := []struct {
		total          int32
		pct            int
		canary, stable int32
	}{
		{10, 10, 1, 9},
		{10, 50, 5, 5},
		{10, 100, 10, 0},
		{10, 14, 1, 9},  // 1.4 rounds down
		{10, 15, 2, 8},  // 1.5 rounds up
		{10, 99, 9, 1},  // stable keeps a pod below 100 %
		{3, 10, 1, 2},   // 0.3: at least one canary
		{3, 50, 2, 1},   // 1.5 rounds up
		{3, 90, 2, 1},   // 2.7 would leave stable no pod
		{4, 25, 1, 3},   // exact
		{1, 10, 1, 1},   // one pod: the nearest share is half
		{1, 100, 1, 0},  // one pod at 100 %
		{0, 50, 1, 0},   // a scaled-to-zero app still gets a canary to analyse
		{20, 33, 7, 13}, // 6.6 rounds up
	}
	for _, tt := range tests {
		c, s := canarySplit(tt.total, tt.pct)
		if c != tt.canary || s != tt.stable {
			t.Errorf("canarySplit(%d, %d) = %d canary + %d stable, want %d + %d", tt.total, tt.pct, c, s, tt.canary, tt.stable)
		}
	}
}

// rollback returns err as a *RollbackError, failing the test otherwise.
func rollback(t *testing.T, err error) *RollbackError {
	t.Helper()
	var rb *RollbackError
	if !errors.As(err, &rb) {
		t.Fatalf("err = %v, want a *RollbackError", err)
	}
	return rb
}

func TestRollingSucceeds(t *testing.T) {
	c := newCluster(t, deployment("shop", 3, appLabels, oldImage))
	err := c.deployer().Run(context.Background(), Spec{Strategy: rollout.Rolling, Namespace: testNS, App: "shop", Image: newImage})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := image(c.deployment("shop")); got != newImage {
		t.Errorf("image = %s, want %s", got, newImage)
	}
	if got := len(c.podUIDs("shop")); got != 3 {
		t.Errorf("%d pods, want 3", got)
	}
}

func TestRollingRollsBack(t *testing.T) {
	tests := []struct {
		name       string
		waiting    string
		restarts   int32
		wantReason string
	}{
		{"crash loop", "CrashLoopBackOff", 0, "crash loop"},
		{"image pull", "ImagePullBackOff", 0, "cannot pull its image"},
		{"restarts", "", 1, "1 container restarts"},
		{"never ready", "", 0, "not ready after 1m0s (1 updated, 3 available of 3)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t, deployment("shop", 3, appLabels, oldImage))
			before := c.podUIDs("shop")
			c.bad[newImage] = tt.waiting
			c.restarts[newImage] = tt.restarts
			start := c.now
			err := c.deployer().Run(context.Background(), Spec{Strategy: rollout.Rolling, Namespace: testNS, App: "shop", Image: newImage, ProgressDeadline: time.Minute})
			rb := rollback(t, err)
			if !rb.Restored || !strings.Contains(rb.Reason, tt.wantReason) {
				t.Errorf("rollback = %+v, want restored with a reason containing %q", rb, tt.wantReason)
			}
			if got := image(c.deployment("shop")); got != oldImage {
				t.Errorf("image after rollback = %s, want the previous %s", got, oldImage)
			}
			if diff := cmp.Diff(before, c.podUIDs("shop")); diff != "" {
				t.Errorf("pods after rollback (-want +got):\n%s", diff)
			}
			if tt.name == "never ready" && c.now.Sub(start) < time.Minute {
				t.Errorf("gave up after %s, before the 1m progress deadline", c.now.Sub(start))
			}
		})
	}
}

func TestRolledOut(t *testing.T) {
	three := int32(3)
	dep := func(gen, observed int64, replicas, updated, available int32, conds ...appsv1.DeploymentCondition) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "shop", Generation: gen},
			Spec:       appsv1.DeploymentSpec{Replicas: &three},
			Status: appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: replicas,
				UpdatedReplicas: updated, AvailableReplicas: available, Conditions: conds},
		}
	}
	tests := []struct {
		name    string
		dep     *appsv1.Deployment
		want    bool
		wantErr string
	}{
		{"done", dep(2, 2, 3, 3, 3), true, ""},
		{"generation not observed yet", dep(3, 2, 3, 3, 3), false, ""},
		{"old pods left", dep(2, 2, 4, 3, 3), false, ""},
		{"not all updated", dep(2, 2, 3, 2, 3), false, ""},
		{"not all available", dep(2, 2, 3, 3, 2), false, ""},
		{"progress deadline exceeded", dep(2, 2, 4, 1, 3, appsv1.DeploymentCondition{
			Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: "timed out"}),
			false, "deployment shop exceeded its progress deadline: timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rolledOut(tt.dep)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if got != tt.want || gotErr != tt.wantErr {
				t.Errorf("rolledOut = %v, %q; want %v, %q", got, gotErr, tt.want, tt.wantErr)
			}
		})
	}
}

func TestRollingMissingDeployment(t *testing.T) {
	c := newCluster(t)
	err := c.deployer().Run(context.Background(), Spec{Strategy: rollout.Rolling, Namespace: testNS, App: "shop", Image: newImage})
	if err == nil || !strings.Contains(err.Error(), "reading deployment shop/shop") {
		t.Fatalf("Run = %v, want a missing deployment error", err)
	}
	var rb *RollbackError
	if errors.As(err, &rb) {
		t.Errorf("a missing deployment is not a rollback: %v", err)
	}
}

func blueGreenCluster(t *testing.T, withGreen bool) *cluster {
	objs := []any{
		service("shop", map[string]string{"app": "shop", LabelColor: "blue"}),
		deployment("shop-blue", 3, map[string]string{"app": "shop", LabelColor: "blue"}, oldImage),
	}
	if withGreen {
		objs = append(objs, deployment("shop-green", 0, map[string]string{"app": "shop", LabelColor: "green"}, oldImage))
	}
	return newCluster(t, objs...)
}

func TestBlueGreen(t *testing.T) {
	smokeOK := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer smokeOK.Close()
	smokeBad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer smokeBad.Close()

	type state struct {
		Color            string
		Blue, Green      int32
		GreenImage       string
		BlueImage        string
		Rollback, Reason string
	}
	tests := []struct {
		name      string
		withGreen bool
		bad       string // waiting reason of the new image; "-" for good
		smoke     string
		failLate  bool // the new colour crashes after the switch
		want      state
	}{
		{name: "switches", withGreen: true, bad: "-",
			want: state{Color: "green", Blue: 0, Green: 3, BlueImage: oldImage, GreenImage: newImage}},
		{name: "creates the idle colour", bad: "-",
			want: state{Color: "green", Blue: 0, Green: 3, BlueImage: oldImage, GreenImage: newImage}},
		{name: "smoke passes", withGreen: true, bad: "-", smoke: smokeOK.URL,
			want: state{Color: "green", Blue: 0, Green: 3, BlueImage: oldImage, GreenImage: newImage}},
		{name: "not ready stays blue", withGreen: true, bad: "CrashLoopBackOff",
			want: state{Color: "blue", Blue: 3, Green: 0, BlueImage: oldImage, GreenImage: newImage, Rollback: "restored", Reason: "crash loop"}},
		{name: "smoke fails stays blue", withGreen: true, bad: "-", smoke: smokeBad.URL,
			want: state{Color: "blue", Blue: 3, Green: 0, BlueImage: oldImage, GreenImage: newImage, Rollback: "restored", Reason: "smoke test failed"}},
		{name: "fails after switch switches back", withGreen: true, bad: "-", failLate: true,
			want: state{Color: "blue", Blue: 3, Green: 0, BlueImage: oldImage, GreenImage: newImage, Rollback: "restored", Reason: "shop-green has 0 of 3 replicas available"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := blueGreenCluster(t, tt.withGreen)
			if tt.bad != "-" {
				c.bad[newImage] = tt.bad
			}
			if tt.failLate {
				c.onSleep = func(c *cluster) {
					if c.selector("shop")[LabelColor] == "green" {
						c.bad[newImage] = ""
					}
				}
			}
			err := c.deployer().Run(context.Background(), Spec{Strategy: rollout.BlueGreen, Namespace: testNS, App: "shop", Image: newImage,
				SmokeURL: tt.smoke, ScaleDownDelay: 30 * time.Second, ProgressDeadline: time.Minute})
			blue, green := c.deployment("shop-blue"), c.deployment("shop-green")
			got := state{Color: c.selector("shop")[LabelColor], Blue: *blue.Spec.Replicas, Green: *green.Spec.Replicas,
				BlueImage: image(blue), GreenImage: image(green)}
			var rb *RollbackError
			if errors.As(err, &rb) {
				got.Rollback = "failed"
				if rb.Restored {
					got.Rollback = "restored"
				}
				if strings.Contains(rb.Error(), tt.want.Reason) {
					got.Reason = tt.want.Reason
				} else {
					got.Reason = rb.Error()
				}
			} else if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("after the rollout (-want +got):\n%s", diff)
			}
			if got := c.selector("shop")["app"]; got != "shop" {
				t.Errorf("service lost its app selector: %v", c.selector("shop"))
			}
		})
	}
}

func TestBlueGreenKeepsOldColourForDelay(t *testing.T) {
	c := blueGreenCluster(t, true)
	var switchedAt, scaledAt time.Time
	c.onSleep = func(c *cluster) {
		if switchedAt.IsZero() && c.selector("shop")[LabelColor] == "green" {
			switchedAt = c.now
		}
	}
	d := c.deployer(WithProgress(func(s string) {
		if strings.Contains(s, "shop-blue scaled down") {
			scaledAt = c.now
		}
	}))
	if err := d.Run(context.Background(), Spec{Strategy: rollout.BlueGreen, Namespace: testNS, App: "shop", Image: newImage, ScaleDownDelay: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if switchedAt.IsZero() || scaledAt.Sub(switchedAt) < time.Minute-time.Second {
		t.Errorf("blue scaled down %s after the switch, want at least the 1m delay", scaledAt.Sub(switchedAt))
	}
}

func TestBlueGreenNeedsColourSelector(t *testing.T) {
	c := newCluster(t, service("shop", map[string]string{"app": "shop"}))
	err := c.deployer().Run(context.Background(), Spec{Strategy: rollout.BlueGreen, Namespace: testNS, App: "shop", Image: newImage})
	if err == nil || !strings.Contains(err.Error(), "selector must hold slipway.dev/color=blue") {
		t.Fatalf("Run = %v, want a selector error", err)
	}
}

type fakeMetrics struct {
	values map[string]float64
	err    error
}

func (f *fakeMetrics) Query(_ context.Context, q string) (float64, error) { return f.values[q], f.err }

func TestCanary(t *testing.T) {
	maxErr := 0.05
	tests := []struct {
		name       string
		bad        string // "-" for good
		restarts   int32
		metrics    *fakeMetrics
		wantSizes  []int32
		wantReason string // "" for success
	}{
		{name: "promotes", bad: "-", wantSizes: []int32{1, 5, 10}},
		{name: "metrics within threshold", bad: "-", metrics: &fakeMetrics{values: map[string]float64{"errs": 0.01}}, wantSizes: []int32{1, 5, 10}},
		{name: "readiness fails", bad: "", wantSizes: []int32{1}, wantReason: "not ready after"},
		{name: "crash loop", bad: "CrashLoopBackOff", wantSizes: []int32{1}, wantReason: "crash loop"},
		{name: "restarts", bad: "-", restarts: 2, wantSizes: []int32{1}, wantReason: "2 container restarts"},
		{name: "metrics over threshold", bad: "-", metrics: &fakeMetrics{values: map[string]float64{"errs": 0.2}}, wantSizes: []int32{1}, wantReason: "analysis error-rate = 0.2, above the maximum 0.05"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t, service("shop", appLabels), deployment("shop", 10, appLabels, oldImage))
			stableBefore := c.podUIDs("shop")
			if tt.bad != "-" {
				c.bad[newImage] = tt.bad
			}
			c.restarts[newImage] = tt.restarts
			var sizes []int32
			c.onSleep = func(c *cluster) {
				if !c.exists("shop-canary") {
					return
				}
				n := *c.deployment("shop-canary").Spec.Replicas
				if len(sizes) == 0 || sizes[len(sizes)-1] != n {
					sizes = append(sizes, n)
				}
			}
			spec := Spec{Strategy: rollout.Canary, Namespace: testNS, App: "shop", Image: newImage, Steps: []int{10, 50, 100}, Pause: 30 * time.Second, ProgressDeadline: time.Minute}
			var opts []Option
			if tt.metrics != nil {
				spec.Analysis.Queries = []Query{{Name: "error-rate", Query: "errs", Max: &maxErr}}
				opts = append(opts, WithMetrics(tt.metrics))
			}
			start := c.now
			err := c.deployer(opts...).Run(context.Background(), spec)
			if diff := cmp.Diff(tt.wantSizes, sizes); diff != "" {
				t.Errorf("canary sizes (-want +got):\n%s", diff)
			}
			if c.exists("shop-canary") {
				t.Errorf("the canary deployment is still there")
			}
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				if got := image(c.deployment("shop")); got != newImage {
					t.Errorf("stable image = %s, want %s", got, newImage)
				}
				if elapsed := c.now.Sub(start); elapsed < 90*time.Second {
					t.Errorf("rollout took %s, want at least 3 pauses of 30s", elapsed)
				}
				return
			}
			rb := rollback(t, err)
			if !rb.Restored || !strings.Contains(rb.Error(), tt.wantReason) {
				t.Errorf("rollback = %v (restored %v), want restored with %q", rb, rb.Restored, tt.wantReason)
			}
			if got := image(c.deployment("shop")); got != oldImage {
				t.Errorf("stable image = %s, want it untouched (%s)", got, oldImage)
			}
			if diff := cmp.Diff(stableBefore, c.podUIDs("shop")); diff != "" {
				t.Errorf("stable pods replaced (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCanaryAbort(t *testing.T) {
	c := newCluster(t, service("shop", appLabels), deployment("shop", 4, appLabels, oldImage))
	stableBefore := c.podUIDs("shop")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.onSleep = func(c *cluster) {
		if c.exists("shop-canary") && *c.deployment("shop-canary").Spec.Replicas == 2 {
			cancel()
		}
	}
	err := c.deployer().Run(ctx, Spec{Strategy: rollout.Canary, Namespace: testNS, App: "shop", Image: newImage, Steps: []int{25, 50, 100}, Pause: time.Minute})
	rb := rollback(t, err)
	if !rb.Restored || !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want a restored rollback caused by the cancellation", err)
	}
	if c.exists("shop-canary") {
		t.Errorf("the canary deployment is still there")
	}
	if diff := cmp.Diff(stableBefore, c.podUIDs("shop")); diff != "" {
		t.Errorf("stable pods replaced (-want +got):\n%s", diff)
	}
}

func TestCanaryNeedsMetricsForQueries(t *testing.T) {
	c := newCluster(t)
	one := 1.0
	err := c.deployer().Run(context.Background(), Spec{Strategy: rollout.Canary, Namespace: testNS, App: "shop", Image: newImage,
		Analysis: Analysis{Queries: []Query{{Name: "q", Query: "up", Min: &one}}}})
	if err == nil || !strings.Contains(err.Error(), "need a metrics source") {
		t.Fatalf("Run = %v, want a missing metrics source error", err)
	}
}

// Foreground deletion keeps the canary until its pods are gone; the
// rollout ends only once it is.
func TestCanaryWaitsForRemoval(t *testing.T) {
	c := newCluster(t, service("shop", appLabels), deployment("shop", 2, appLabels, oldImage))
	c.bad[newImage] = "CrashLoopBackOff"
	deleting, polls := false, 0
	c.client.PrependReactor("delete", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		// The tracker, not the client: reactors run under the client's lock.
		_, err := c.client.Tracker().Get(appsv1.SchemeGroupVersion.WithResource("deployments"), testNS, "shop-canary")
		if a.(k8stesting.DeleteAction).GetName() != "shop-canary" || deleting || err != nil {
			return false, nil, nil
		}
		deleting = true
		return true, nil, nil // accepted; the object stays while pods terminate
	})
	c.onSleep = func(c *cluster) {
		if !deleting {
			return
		}
		if polls++; polls == 3 {
			if err := c.client.Tracker().Delete(appsv1.SchemeGroupVersion.WithResource("deployments"), testNS, "shop-canary"); err != nil {
				t.Fatal(err)
			}
		}
	}
	err := c.deployer().Run(context.Background(), Spec{Strategy: rollout.Canary, Namespace: testNS, App: "shop", Image: newImage, Steps: []int{50}})
	if rb := rollback(t, err); !rb.Restored {
		t.Errorf("rollback not restored: %v", err)
	}
	if polls < 3 || c.exists("shop-canary") {
		t.Errorf("returned after %d polls with the canary present=%v; want it gone", polls, c.exists("shop-canary"))
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// The smoke test reaches the new colour through the preview Service
// before the switch; a failing one leaves the app Service untouched.
func TestBlueGreenPreviewService(t *testing.T) {
	type seen struct {
		Host                    string
		Preview, Live           map[string]string // selectors during the smoke test
		AfterPreview, AfterLive map[string]string
	}
	blueSel := map[string]string{"app": "shop", LabelColor: blue}
	greenSel := map[string]string{"app": "shop", LabelColor: green}
	tests := []struct {
		name   string
		status int
		want   seen
	}{
		{"smoke passes", http.StatusOK, seen{Host: "shop-preview." + testNS + ".svc:8080",
			Preview: greenSel, Live: blueSel, AfterPreview: blueSel, AfterLive: greenSel}},
		{"smoke fails", http.StatusServiceUnavailable, seen{Host: "shop-preview." + testNS + ".svc:8080",
			Preview: greenSel, Live: blueSel, AfterPreview: greenSel, AfterLive: blueSel}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			live := service("shop", map[string]string{"app": "shop", LabelColor: blue})
			live.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 8080}}
			c := newCluster(t, live, deployment("shop-blue", 2, blueSel, oldImage))
			var got seen
			client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				got.Host, got.Preview, got.Live = r.URL.Host, c.selector("shop-preview"), c.selector("shop")
				return &http.Response{StatusCode: tt.status, Status: http.StatusText(tt.status), Body: http.NoBody, Request: r}, nil
			})}
			err := c.deployer(WithHTTPClient(client)).Run(context.Background(), Spec{Strategy: rollout.BlueGreen, Namespace: testNS, App: "shop",
				Image: newImage, SmokeURL: "http://{preview}:8080/healthz"})
			if tt.status == http.StatusOK && err != nil {
				t.Fatalf("Run: %v", err)
			}
			if tt.status != http.StatusOK {
				if rb := rollback(t, err); !rb.Restored || rb.Reason != "smoke test failed" {
					t.Errorf("rollback = %+v", rb)
				}
			}
			got.AfterPreview, got.AfterLive = c.selector("shop-preview"), c.selector("shop")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			svc, err := c.client.CoreV1().Services(testNS).Get(context.Background(), "shop-preview", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(live.Spec.Ports, svc.Spec.Ports); svc.Labels[LabelApp] != "shop" || diff != "" {
				t.Errorf("preview service labels %v, ports (-want +got):\n%s", svc.Labels, diff)
			}
		})
	}
}

func TestSmokeURL(t *testing.T) {
	preview := func(ip string, port int32) *corev1.Service {
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "web-preview", Namespace: "prod"},
			Spec:       corev1.ServiceSpec{ClusterIP: ip, Ports: []corev1.ServicePort{{Port: port}}},
		}
	}
	tests := []struct {
		raw     string
		preview *corev1.Service
		want    string
	}{
		{"/healthz", preview("10.96.0.12", 80), "http://10.96.0.12/healthz"},
		{"/healthz", preview("10.96.0.12", 8080), "http://10.96.0.12:8080/healthz"},
		{"http://{preview}:9090/ready", preview("10.96.0.12", 80), "http://10.96.0.12:9090/ready"},
		{"/healthz", preview("fd00::12", 80), "http://[fd00::12]/healthz"},
		{"/healthz", preview(corev1.ClusterIPNone, 80), "http://web-preview.prod.svc/healthz"},
		{"https://smoke.example/web", preview("10.96.0.12", 80), "https://smoke.example/web"},
	}
	for _, tt := range tests {
		if got := SmokeURL(tt.raw, tt.preview); got != tt.want {
			t.Errorf("SmokeURL(%q, %s) = %q, want %q", tt.raw, tt.preview.Spec.ClusterIP, got, tt.want)
		}
	}
}

// The preview Service's endpoints follow the new pods by a moment: a smoke
// URL that does not answer yet is tried again (for a while); one that
// answers with an error fails at once.
func TestBlueGreenSmokeWaitsForAnAnswer(t *testing.T) {
	tests := []struct {
		name      string
		answers   []int // 0: no answer (a connection error)
		wantCalls int
		wantErr   string // "" = switched
	}{
		{name: "unreachable, then ok", answers: []int{0, 0, 200}, wantCalls: 3},
		{name: "error status at once", answers: []int{503, 200}, wantCalls: 1, wantErr: "status 503"},
		{name: "never reachable", answers: nil, wantErr: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := blueGreenCluster(t, true)
			calls := 0
			client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				calls++
				if calls > len(tt.answers) || tt.answers[calls-1] == 0 {
					return nil, errors.New("connection refused")
				}
				code := tt.answers[calls-1]
				return &http.Response{StatusCode: code, Status: fmt.Sprint(code), Body: http.NoBody, Request: r}, nil
			})}
			err := c.deployer(WithHTTPClient(client)).Run(context.Background(), Spec{Strategy: rollout.BlueGreen, Namespace: testNS, App: "shop",
				Image: newImage, SmokeURL: "/healthz"})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				if calls != tt.wantCalls {
					t.Errorf("smoke calls = %d, want %d", calls, tt.wantCalls)
				}
				return
			}
			if rb := rollback(t, err); !rb.Restored || !strings.Contains(rb.Error(), tt.wantErr) {
				t.Errorf("rollback = %v, want a restored one mentioning %q", rb, tt.wantErr)
			}
			if tt.wantCalls > 0 && calls != tt.wantCalls {
				t.Errorf("smoke calls = %d, want %d", calls, tt.wantCalls)
			}
			if tt.answers == nil && calls < 2 {
				t.Errorf("an unreachable smoke URL was tried %d times, want it tried again", calls)
			}
			if got := c.selector("shop")[LabelColor]; got != blue {
				t.Errorf("service selects %s after a failed smoke test, want blue", got)
			}
		})
	}
}

// Stable shrinks as the canary grows, so every step's share of pods is
// the declared one (1/9, 5/5, 10/0 for 10 replicas); on abort stable gets its full size back and the pods
// it kept throughout were never replaced.
func TestCanaryExactShare(t *testing.T) {
	type split struct{ Canary, Stable int32 }
	tests := []struct {
		name      string
		failAt    int32 // canary size at which analysis fails; 0: never
		want      []split
		wantImage string
	}{
		// The canary grows first, then stable shrinks: capacity never drops.
		{"promotes", 0, []split{{1, 10}, {1, 9}, {5, 9}, {5, 5}, {10, 5}, {10, 0}, {10, 10}}, newImage},
		{"aborts at 50%", 5, []split{{1, 10}, {1, 9}, {5, 9}, {5, 5}, {5, 10}}, oldImage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t, service("shop", appLabels), deployment("shop", 10, appLabels, oldImage))
			before := c.podUIDs("shop")
			metrics := &fakeMetrics{values: map[string]float64{"errs": 0}}
			maxErr := 0.05
			var got []split
			kept := before
			c.onSleep = func(c *cluster) {
				if !c.exists("shop-canary") {
					return
				}
				s := split{*c.deployment("shop-canary").Spec.Replicas, *c.deployment("shop").Spec.Replicas}
				if len(got) == 0 || got[len(got)-1] != s {
					got = append(got, s)
				}
				if uids := c.podUIDs("shop"); len(uids) < len(kept) {
					kept = uids
				}
				if tt.failAt != 0 && s.Canary == tt.failAt && s.Stable == 10-tt.failAt {
					metrics.values["errs"] = 1
				}
			}
			spec := Spec{Strategy: rollout.Canary, Namespace: testNS, App: "shop", Image: newImage, Steps: []int{10, 50, 100}, Pause: 30 * time.Second, ProgressDeadline: time.Minute,
				Analysis: Analysis{Queries: []Query{{Name: "error-rate", Query: "errs", Max: &maxErr}}}}
			err := c.deployer(WithMetrics(metrics)).Run(context.Background(), spec)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("canary + stable replicas per step (-want +got):\n%s", diff)
			}
			if tt.failAt == 0 && err != nil {
				t.Fatalf("Run: %v", err)
			}
			if tt.failAt != 0 {
				if rb := rollback(t, err); !rb.Restored {
					t.Fatalf("rollback not restored: %v", err)
				}
				// The stable pods that stayed while it shrank are still there.
				for _, uid := range kept {
					if !slices.Contains(c.podUIDs("shop"), uid) {
						t.Errorf("stable pod %s was replaced", uid)
					}
				}
			}
			dep := c.deployment("shop")
			if *dep.Spec.Replicas != 10 || image(dep) != tt.wantImage {
				t.Errorf("stable = %d replicas of %s, want 10 of %s", *dep.Spec.Replicas, image(dep), tt.wantImage)
			}
			if _, ok := dep.Annotations[AnnotationStableReplicas]; ok {
				t.Errorf("annotation %s left on stable", AnnotationStableReplicas)
			}
			if c.exists("shop-canary") {
				t.Errorf("the canary deployment is still there")
			}
		})
	}
}

// A canary killed mid-rollout leaves stable shrunk; RemoveCanary gives it
// its recorded size back.
func TestRemoveCanaryRestoresStable(t *testing.T) {
	dep := deployment("shop", 5, appLabels, oldImage)
	dep.Annotations = map[string]string{AnnotationStableReplicas: "10"}
	canary := deployment("shop-canary", 5, map[string]string{"app": "shop", LabelTrack: trackCanary}, newImage)
	c := newCluster(t, service("shop", appLabels), dep, canary)
	if err := c.deployer().RemoveCanary(context.Background(), Spec{Namespace: testNS, App: "shop"}); err != nil {
		t.Fatalf("RemoveCanary: %v", err)
	}
	got := c.deployment("shop")
	if *got.Spec.Replicas != 10 || got.Annotations[AnnotationStableReplicas] != "" {
		t.Errorf("stable = %d replicas, annotations %v; want 10 and no recorded size", *got.Spec.Replicas, got.Annotations)
	}
	if c.exists("shop-canary") {
		t.Errorf("the canary deployment is still there")
	}
}
