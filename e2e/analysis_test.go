//go:build e2e

package e2e

// Canary analysis on the stack's real Prometheus (e2e/stack/prometheus.sh):
// the sample Go app (pkg/dockerfile/testdata/apps/go), told by its image
// to fail 20 % of its requests, is scraped through its pods' annotation,
// and the test sends it the traffic that makes the error rate exist.

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/slipway-ci/slipway/e2e/framework"
	"github.com/slipway-ci/slipway/pkg/deploy"
	"github.com/slipway-ci/slipway/pkg/rollout"
)

var sampleBinary = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "slipway-e2e-sample-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "hello")
	// Its own module (go.mod names no dependency): nothing to download.
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
	cmd.Dir = filepath.Join(framework.RepoRoot(), "pkg", "dockerfile", "testdata", "apps", "go")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build of the sample app: %w\n%s", err, b)
	}
	return os.ReadFile(out)
})

// pushSample pushes the sample Go app (a static binary on the busybox
// base) with env in its image config, and returns it by digest. The
// image, not the pod template, carries FAIL_PERCENT: a canary copies the
// stable template and changes only the image.
func pushSample(t *testing.T, env ...string) string {
	t.Helper()
	bin, err := sampleBinary()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "hello", Mode: 0o755, Size: int64(len(bin)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(bin); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	base, err := remote.Image(mustRef(t, framework.Registry+"/base/busybox:latest"))
	if err != nil {
		t.Fatalf("reading the busybox base: %v", err)
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.Cmd = []string{"/hello"}
	cf.Config.Env = append(cf.Config.Env, env...)
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	repo := framework.Registry + "/e2e/sample-go"
	if err := remote.Write(mustRef(t, repo+"@"+d.String()), img); err != nil {
		t.Fatalf("pushing the sample app: %v", err)
	}
	return repo + "@" + d.String()
}

// sampleDeployment runs the sample app, probed on /healthz (which never
// fails) and annotated for the stack's Prometheus.
func sampleDeployment(ns, name string, replicas int32, labels map[string]string, image string) *appsv1.Deployment {
	dep := webDeployment(ns, name, replicas, labels, image)
	dep.Spec.Template.Annotations = map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "8080"}
	dep.Spec.Template.Spec.Containers[0].ReadinessProbe.HTTPGet = &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}
	return dep
}

// needPrometheus fails the test early when the stack's Prometheus does not
// answer, instead of a rollout waiting on inconclusive looks.
func needPrometheus(t *testing.T) deploy.MetricsQuerier {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(framework.PrometheusURL + "/-/ready")
	if err == nil {
		resp.Body.Close()
	}
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the stack's Prometheus at %s is not ready (%v): start it with e2e/stack/up.sh prometheus", framework.PrometheusURL, err)
	}
	p, err := deploy.NewPrometheus(framework.PrometheusURL, &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// traffic GETs / of every ready pod matching selector, straight at the pod
// IPs (the host is on the pods' bridge), and counts the answers by track.
type traffic struct {
	mu    sync.Mutex
	codes map[string]map[int]int // track ("canary" or "stable") → status → count
	errs  int
	stop  context.CancelFunc
	done  chan struct{}
}

func startTraffic(t *testing.T, ns, selector string) *traffic {
	ctx, cancel := context.WithCancel(context.Background())
	tr := &traffic{codes: map[string]map[int]int{}, stop: cancel, done: make(chan struct{})}
	kube := framework.Get(t).Kube
	client := &http.Client{Timeout: 2 * time.Second}
	go func() {
		defer close(tr.done)
		var pods []corev1.Pod
		var listed time.Time
		for ctx.Err() == nil {
			if time.Since(listed) > time.Second {
				if l, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector}); err == nil {
					pods, listed = l.Items, time.Now()
				}
			}
			for _, p := range pods {
				if p.Status.PodIP == "" || p.DeletionTimestamp != nil || !podIsReady(&p) {
					continue
				}
				track := "stable"
				if p.Labels[deploy.LabelTrack] == "canary" {
					track = "canary"
				}
				resp, err := client.Get("http://" + p.Status.PodIP + ":8080/")
				tr.mu.Lock()
				if err != nil {
					tr.errs++
				} else {
					if tr.codes[track] == nil {
						tr.codes[track] = map[int]int{}
					}
					tr.codes[track][resp.StatusCode]++
				}
				tr.mu.Unlock()
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return tr
}

// Stop ends the traffic and returns the answers by track and status.
func (tr *traffic) Stop() map[string]map[int]int {
	tr.stop()
	<-tr.done
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.codes
}

func podIsReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// errorRatio is the canary's (or, with canary false, stable's) share of
// 500s over the last 30 s in ns, as the analysis reads it.
func errorRatio(ns string, canary bool) string {
	track := `slipway_dev_track="canary"`
	if !canary {
		track = `slipway_dev_track!="canary"`
	}
	return fmt.Sprintf(`sum(rate(http_requests_total{namespace=%q,%s,code=~"5.."}[30s])) / sum(rate(http_requests_total{namespace=%q,%s}[30s]))`, ns, track, ns, track)
}

var analysisValue = regexp.MustCompile(`analysis errors = ([0-9.e+-]+), above the maximum 0\.05`)

// A canary whose image answers 20 % of its requests with 500, while it
// passes readiness, is rolled back by its Prometheus analysis (error ratio
// over 30 s at most 0.05, one failed look tolerated), through `slipway
// deploy` as the deploy Task runs it; stable's pods are never replaced.
func TestAnalysisRollsBackCanaryAnsweringErrors(t *testing.T) {
	t.Parallel()
	prom := needPrometheus(t)
	ns := framework.NewNamespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	v1, failing := pushSample(t), pushSample(t, "FAIL_PERCENT=20")
	labels := map[string]string{"app": "web"}
	deployFixture(ctx, t, ns, webService(ns, "web", labels), sampleDeployment(ns, "web", 2, labels, v1))
	stable := "app=web," + deploy.LabelTrack + "!=canary"
	before, _ := podsOf(ctx, t, ns, stable)
	template := waitAvailable(ctx, t, ns, "web").Spec.Template.DeepCopy()

	tr := startTraffic(t, ns, "app=web")
	defer tr.Stop()
	// Warming up (no scrape of the canary yet, or no request between two)
	// is inconclusive, not a failure: the limit covers it.
	analysis := "errors=" + errorRatio(ns, true) + " <= 0.05 failureLimit=1 inconclusiveLimit=60"
	out, err := slipwayDeploy(ctx, t, "--strategy", "canary", "--image", failing, "--namespace", ns, "--app", "web",
		"--steps", "50,100", "--pause", "2m", "--prometheus-url", framework.PrometheusURL, "--analysis", analysis)
	// The same query on stable, which had traffic all along, reads 0: the
	// analysis tells them apart.
	var stableRatio float64
	stableErr := wait.PollUntilContextTimeout(ctx, time.Second, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		v, err := prom.Query(ctx, errorRatio(ns, false))
		stableRatio = v
		return err == nil, nil
	})
	codes := tr.Stop()
	t.Logf("answers by track and status: %v", codes)

	var rb *deploy.RollbackError
	if !errors.As(err, &rb) || !rb.Restored || rb.Aborted {
		t.Fatalf("canary answering 20%% errors = %v, want a completed rollback by the analysis", err)
	}
	m := analysisValue.FindStringSubmatch(rb.Reason)
	if m == nil || !strings.Contains(out, "ROLLED BACK: analysis errors = ") {
		t.Fatalf("rollback reason %q: want the analysis of errors above 0.05", rb.Reason)
	}
	// The value is the app's real error rate, as Prometheus measured it.
	if v, _ := strconv.ParseFloat(m[1], 64); v < 0.1 || v > 0.3 {
		t.Errorf("analysed error ratio %s, want about 0.2 (FAIL_PERCENT=20)", m[1])
	}
	if !strings.Contains(rb.Reason, "(2 failures, 1 allowed)") {
		t.Errorf("rollback reason %q: want it after the second failed look (failureLimit=1)", rb.Reason)
	}
	// It failed while ready: the traffic only goes to ready pods.
	c := codes["canary"]
	if c[http.StatusInternalServerError] == 0 || c[http.StatusOK] == 0 {
		t.Errorf("the ready canary answered %v, want both 200s and 500s", c)
	}
	if s := codes["stable"]; s[http.StatusInternalServerError] != 0 || s[http.StatusOK] == 0 {
		t.Errorf("stable answered %v, want only 200s", s)
	}
	if stableErr != nil || stableRatio != 0 {
		t.Errorf("stable's error ratio in Prometheus = %v (%v); want 0", stableRatio, stableErr)
	}

	// At 50 % of 2 replicas stable shrank to one pod; that one stayed.
	after, _ := podsOf(ctx, t, ns, stable)
	var kept []string
	for _, uid := range before {
		if slices.Contains(after, uid) {
			kept = append(kept, uid)
		}
	}
	if len(kept) == 0 {
		t.Errorf("no stable pod of %v is left (now %v): the one kept during the step was replaced", before, after)
	}
	checkStableRestored(ctx, t, ns, v1, 2, template, kept)
}

// checkStableRestored checks that after a rolled-back canary stable runs
// replicas pods of image with its pod template unchanged, that the pods in
// kept (stable's while the canary ran) are still there, and that the
// canary is gone.
func checkStableRestored(ctx context.Context, t *testing.T, ns, image string, replicas int32, template *corev1.PodTemplateSpec, kept []string) {
	t.Helper()
	dep := waitAvailable(ctx, t, ns, "web")
	if *dep.Spec.Replicas != replicas || deploymentImage(ctx, t, ns, "web") != image {
		t.Errorf("stable = %d replicas of %s, want %d of %s", *dep.Spec.Replicas, deploymentImage(ctx, t, ns, "web"), replicas, image)
	}
	if !equality.Semantic.DeepEqual(template, &dep.Spec.Template) {
		t.Errorf("stable's pod template changed:\nbefore %+v\nafter  %+v", template, &dep.Spec.Template)
	}
	after, images := podsOf(ctx, t, ns, "app=web,"+deploy.LabelTrack+"!=canary")
	for _, uid := range kept {
		if !slices.Contains(after, uid) {
			t.Errorf("stable pod %s was replaced", uid)
		}
	}
	if !slices.Equal(images, []string{image}) {
		t.Errorf("stable pods run %v, want only %s", images, image)
	}
	if _, err := framework.Get(t).Kube.AppsV1().Deployments(ns).Get(ctx, "web-canary", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("web-canary: %v, want it gone", err)
	}
}

// progressLines collects a rollout's progress lines for a test to wait on.
type progressLines struct {
	t     *testing.T
	mu    sync.Mutex
	lines []string
}

func (p *progressLines) add(s string) {
	p.t.Log(s)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, s)
}

// count is how many lines start with prefix.
func (p *progressLines) count(prefix string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// waitCount waits until n lines start with prefix, or fails when the
// rollout r ended first.
func (p *progressLines) waitCount(ctx context.Context, r *background, prefix string, n int) error {
	return wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(context.Context) (bool, error) {
		if p.count(prefix) >= n {
			return true, nil
		}
		select {
		case <-r.done:
			if r.err == nil {
				return false, errors.New("the rollout succeeded first")
			}
			return false, fmt.Errorf("the rollout ended first: %w", r.err)
		default:
			return false, nil
		}
	})
}

// background is a rollout running on its own goroutine.
type background struct {
	done chan struct{}
	err  error // set before done closes
}

func runInBackground(f func() error) *background {
	b := &background{done: make(chan struct{})}
	go func() {
		defer close(b.done)
		b.err = f()
	}()
	return b
}

// wait returns the rollout's result.
func (b *background) wait() error {
	<-b.done
	return b.err
}

// A query that returns nothing (a metric no app exports) is inconclusive:
// beyond its inconclusiveLimit the step holds, paused for a human, with
// the canary still running, instead of aborting or going on. A continue
// resumes the step (which, still without data, holds again); an abort
// then rolls back, stable untouched.
func TestAnalysisEmptyQueryPausesForHuman(t *testing.T) {
	t.Parallel()
	prom := needPrometheus(t)
	ns := framework.NewNamespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	v1, v2 := pushSample(t), pushSample(t, "SAMPLE_VERSION=2")
	labels := map[string]string{"app": "web"}
	deployFixture(ctx, t, ns, webService(ns, "web", labels), sampleDeployment(ns, "web", 2, labels, v1))
	template := waitAvailable(ctx, t, ns, "web").Spec.Template.DeepCopy()
	kube := framework.Get(t).Kube

	q, err := rollout.ParseQuery(fmt.Sprintf(`missing=sum(rate(slipway_e2e_no_such_metric_total{namespace=%q}[30s])) <= 1 inconclusiveLimit=2`, ns))
	if err != nil {
		t.Fatal(err)
	}
	progress := &progressLines{t: t}
	d := deploy.New(kube, deploy.WithPollInterval(time.Second), deploy.WithProgress(progress.add), deploy.WithMetrics(prom))
	r := runInBackground(func() error {
		return d.Run(ctx, deploy.Spec{Strategy: rollout.Canary, Namespace: ns, App: "web", Image: v2,
			Steps: []int{50, 100}, Pause: 2 * time.Minute, ProgressDeadline: 2 * time.Minute,
			Analysis: deploy.Analysis{Queries: []deploy.Query{q}}})
	})
	// Whichever way the test ends, the rollout (and its cleanup, which
	// logs) ends before it.
	defer func() { cancel(); r.wait() }()
	// The third empty look exceeds the limit of 2.
	const held = "paused at canary 50%: analysis missing inconclusive 3 times"
	if err := progress.waitCount(ctx, r, held, 1); err != nil {
		t.Fatalf("no hold on the empty query: %v", err)
	}
	// Held, not aborted: the canary runs and the progress says paused, as
	// the server and the UI read it.
	// (The annotation is written just after the line is reported.)
	var annotated string
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := deploy.Progress(ctx, kube, ns, "web")
		annotated = p
		return err == nil && rollout.Paused(p), nil
	}); err != nil {
		t.Errorf("progress annotation = %q, want paused", annotated)
	}
	if c, err := kube.AppsV1().Deployments(ns).Get(ctx, "web-canary", metav1.GetOptions{}); err != nil || c.Status.ReadyReplicas != 1 {
		t.Errorf("web-canary while held: %v (ready %d), want 1 ready replica", err, readyOf(c))
	}
	kept, _ := podsOf(ctx, t, ns, "app=web,"+deploy.LabelTrack+"!=canary")
	if len(kept) != 1 {
		t.Errorf("stable pods while held: %v, want 1 (50 %% of 2)", kept)
	}
	select {
	case <-r.done:
		t.Fatalf("the rollout ended while held: %v", r.err)
	default:
	}

	if err := deploy.Signal(ctx, kube, ns, "web", rollout.SignalContinue, "", ""); err != nil {
		t.Fatal(err)
	}
	if err := progress.waitCount(ctx, r, "canary 50%: analysing again after a continue", 1); err != nil {
		t.Fatalf("the continue did not resume the step: %v", err)
	}
	if err := progress.waitCount(ctx, r, held, 2); err != nil {
		t.Fatalf("no second hold after the continue: %v", err)
	}
	if err := deploy.Signal(ctx, kube, ns, "web", rollout.SignalAbort, "", "e2e: no data after a continue"); err != nil {
		t.Fatal(err)
	}
	err = r.wait()
	var rb *deploy.RollbackError
	if !errors.As(err, &rb) || !rb.Restored || !rb.Aborted {
		t.Fatalf("aborted held canary = %v, want a restored rollback after the abort", err)
	}
	if got := progress.count("canary: step"); got != 0 {
		t.Errorf("%d canary steps passed, want none (the only one held)", got)
	}
	checkStableRestored(ctx, t, ns, v1, 2, template, kept)
}

func readyOf(d *appsv1.Deployment) int32 {
	if d == nil {
		return 0
	}
	return d.Status.ReadyReplicas
}
