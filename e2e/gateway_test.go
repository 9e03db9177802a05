//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/slipway-ci/slipway/e2e/framework"
	"github.com/slipway-ci/slipway/pkg/cli"
	"github.com/slipway-ci/slipway/pkg/deploy"
	"github.com/slipway-ci/slipway/pkg/rollout"
)

// The stack's Gateway API implementation (e2e/stack/gateway.sh): Traefik
// serving Gateway slipway-gateway/slipway on the bridge, its API on the
// host's loopback.
const (
	gatewayURL       = "http://" + framework.HostIP + ":8000/"
	gatewayAPI       = "http://127.0.0.1:8001"
	gatewayNamespace = "slipway-gateway"
	gatewayName      = "slipway"
	// traefikProvider suffixes the names of what the kubernetesGateway
	// provider configures.
	traefikProvider = "@kubernetesgateway"
)

// How the split is measured. A proxy that picks each request's backend at
// random with probability p gives, over n requests, a share whose
// standard deviation is sqrt(p(1-p)/n). At n = 1600 that is 1 point at
// p = 0.2 and 1.25 points at p = 0.5 (the worst case), so the ±5-point
// tolerance is 5σ and 4σ: a correct random splitter fails a step with
// probability below 1e-4 (two-sided 4σ: 6.3e-5). At n = 400 the same
// tolerance would be 2σ at p = 0.5, and a correct splitter would fail
// one run of three steps in eight. Traefik's weighted round robin is
// deterministic (earliest deadline first), so its counts are within one
// request of the weights; the tolerance is for any implementation.
const (
	splitRequests  = 1600
	splitTolerance = 5.0 // percentage points
	// checkRequests is the size of a streamWindow whose answers must all come
	// from one version (before and after a rollout, after a switch).
	checkRequests = 400
	// streamWorkers send the stream, at most streamRate requests a second
	// together: steady, and light on the shared machine.
	streamWorkers = 8
	streamRate    = 200
)

// A canary through the real gateway: Slipway sets the HTTPRoute's weights
// at 20, 50 and 100 %; at each step (held by a manual pause until it is
// measured) the share of a steady stream the canary answers is within
// ±5 points of the weight, and not one request fails over the whole
// rollout, the stable pods' scale-down and the canary's removal included.
func TestGatewayCanarySplit(t *testing.T) {
	ns := framework.NewNamespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const oldBody, newBody = "gateway canary v1", "gateway canary v2"
	v1, v2 := pushWebApp(t, oldBody, true), pushWebApp(t, newBody, true)
	labels := map[string]string{"app": "web"}
	deployFixture(ctx, t, ns, webService(ns, "web", labels), gatewayWebDeployment(ns, "web", 2, labels, v1))
	host := createHTTPRoute(ctx, t, ns, "web", "web")
	g := newGatewayChecker(t, ns, "web")
	waitServed(ctx, t, host, oldBody)
	g.waitApplied(ctx, nil, map[string]int{"web": 1})

	s := startGatewayStream(host, oldBody, newBody)
	defer s.stop()
	if w := s.measure(ctx, t, "stable before the rollout", checkRequests); w.share(newBody) != 0 {
		t.Fatalf("before the rollout: %s, want every answer from %q", w, oldBody)
	}

	run := runDeployCLI(ctx, t, "--strategy", "canary", "--image", v2, "--namespace", ns, "--app", "web",
		"--http-route", "web", "--steps", "20,50,100", "--pause", "manual",
		"--progress-deadline", "2m", "--poll-interval", "1s")
	for _, pct := range []int{20, 50, 100} {
		g.waitApplied(ctx, run, map[string]int{"web": 100 - pct, "web-canary": pct})
		w := s.measure(ctx, t, fmt.Sprintf("canary %d%%", pct), splitRequests)
		if got := w.share(newBody); math.Abs(got-float64(pct)) > splitTolerance {
			t.Errorf("canary %d%%: the canary answered %.2f%% (%s), want %d ± %.0f", pct, got, w, pct, splitTolerance)
		}
		if err := deploy.Signal(ctx, framework.Get(t).Kube, ns, "web", rollout.SignalContinue, "", ""); err != nil {
			t.Fatalf("signalling continue at %d%%: %v", pct, err)
		}
	}
	if err := run.wait(); err != nil {
		t.Fatalf("slipway deploy --strategy canary --http-route: %v", err)
	}

	// Promoted: the route is back to stable alone, which runs v2.
	g.waitApplied(ctx, nil, map[string]int{"web": 1})
	if w := s.measure(ctx, t, "stable after the rollout", checkRequests); w.share(newBody) != 100 {
		t.Errorf("after the rollout: %s, want every answer from %q", w, newBody)
	}
	s.stop()
	s.requireNoFailures(t)
	if got := deploymentImage(ctx, t, ns, "web"); got != v2 {
		t.Errorf("stable runs %s, want %s", got, v2)
	}
	// The Gateway API CRD defaults an absent weight to 1, so the route the
	// test made without one reads [web:1] before the rollout as after it.
	if refs := httpRouteBackends(ctx, t, ns, "web"); !slices.Equal(refs, []string{"web:-"}) && !slices.Equal(refs, []string{"web:1"}) {
		t.Errorf("route backends after the rollout = %v, want [web:1] (the canary's ref gone, stable's weight as before)", refs)
	}
}

// A blue-green switch behind the real gateway: the HTTPRoute sends
// everything to Service web, whose selector Slipway moves from blue to
// green. Before it every answer is blue's, once the gateway has the green
// pods every answer is green's, and not one request fails, the switch and
// blue's scale-down included.
func TestGatewayBlueGreenSwitch(t *testing.T) {
	ns := framework.NewNamespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const oldBody, newBody = "gateway bluegreen v1", "gateway bluegreen v2"
	v1, v2 := pushWebApp(t, oldBody, true), pushWebApp(t, newBody, true)
	blue := map[string]string{"app": "web", deploy.LabelColor: "blue"}
	deployFixture(ctx, t, ns, webService(ns, "web", blue), gatewayWebDeployment(ns, "web-blue", 2, blue, v1))
	host := createHTTPRoute(ctx, t, ns, "web", "web")
	g := newGatewayChecker(t, ns, "web")
	waitServed(ctx, t, host, oldBody)
	g.waitApplied(ctx, nil, map[string]int{"web": 1})

	s := startGatewayStream(host, oldBody, newBody)
	defer s.stop()
	if w := s.measure(ctx, t, "blue before the switch", checkRequests); w.share(newBody) != 0 {
		t.Fatalf("before the switch: %s, want every answer from %q", w, oldBody)
	}

	s.setPhase("switching")
	run := runDeployCLI(ctx, t, "--strategy", "bluegreen", "--image", v2, "--namespace", ns, "--app", "web",
		"--scale-down-delay", "5s", "--progress-deadline", "2m", "--poll-interval", "1s")
	waitSelects(ctx, t, run, ns, "web", "green")
	// The Service selects green; once the gateway's backends for it are
	// exactly the ready green pods, nothing may reach blue any more.
	g.waitApplied(ctx, run, map[string]int{"web": 1})
	if w := s.measure(ctx, t, "green after the switch", splitRequests); w.share(newBody) != 100 {
		t.Errorf("after the switch: %s, want every answer from %q", w, newBody)
	}
	s.setPhase("until blue is scaled down")
	if err := run.wait(); err != nil {
		t.Fatalf("slipway deploy --strategy bluegreen: %v", err)
	}
	if w := s.measure(ctx, t, "green after blue is gone", checkRequests); w.share(newBody) != 100 {
		t.Errorf("after blue's scale-down: %s, want every answer from %q", w, newBody)
	}
	s.stop()
	s.requireNoFailures(t)
	if got := deploymentImage(ctx, t, ns, "web-green"); got != v2 {
		t.Errorf("web-green runs %s, want %s", got, v2)
	}
}

// gatewayWebDeployment is webDeployment as an app behind a proxy runs: a
// preStop pause, so a terminating pod keeps answering for the moment the
// gateway takes to drop it from its backends (on this loaded machine,
// seconds at worst), and a readiness probe that one slow answer does not
// turn unready (a pod out of the backends cannot answer the stream).
func gatewayWebDeployment(ns, name string, replicas int32, labels map[string]string, image string) *appsv1.Deployment {
	dep := webDeployment(ns, name, replicas, labels, image)
	grace := int64(8)
	dep.Spec.Template.Spec.TerminationGracePeriodSeconds = &grace
	c := &dep.Spec.Template.Spec.Containers[0]
	c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}}
	c.ReadinessProbe.FailureThreshold = 3
	return dep
}

func gatewayDynamicClient(t *testing.T) dynamic.Interface {
	t.Helper()
	dc, err := dynamic.NewForConfig(framework.Get(t).Config)
	if err != nil {
		t.Fatalf("dynamic client: %v", err)
	}
	return dc
}

// createHTTPRoute attaches HTTPRoute name, for a host of the test's own, to
// the stack's Gateway with one backendRef to Service svc, and returns
// the host.
func createHTTPRoute(ctx context.Context, t *testing.T, ns, name, svc string) string {
	t.Helper()
	host := ns + ".gateway.test"
	route := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1",
		"kind":       "HTTPRoute",
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"parentRefs": []any{map[string]any{"name": gatewayName, "namespace": gatewayNamespace}},
			"hostnames":  []any{host},
			"rules": []any{map[string]any{
				"matches":     []any{map[string]any{"path": map[string]any{"type": "PathPrefix", "value": "/"}}},
				"backendRefs": []any{map[string]any{"name": svc, "port": int64(80)}},
			}},
		},
	}}
	if _, err := gatewayDynamicClient(t).Resource(deploy.HTTPRouteGVR).Namespace(ns).Create(ctx, route, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating httproute %s/%s (is the stack's gateway up? e2e/stack/up.sh gateway): %v", ns, name, err)
	}
	return host
}

// httpRouteBackends returns "name:weight" ("-" for none) of the route's first rule.
func httpRouteBackends(ctx context.Context, t *testing.T, ns, name string) []string {
	t.Helper()
	u, err := gatewayDynamicClient(t).Resource(deploy.HTTPRouteGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading httproute %s/%s: %v", ns, name, err)
	}
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	if len(rules) == 0 {
		return nil
	}
	rule, _ := rules[0].(map[string]any)
	refs, _, _ := unstructured.NestedSlice(rule, "backendRefs")
	var out []string
	for _, r := range refs {
		m, _ := r.(map[string]any)
		w := "-"
		if v, ok, _ := unstructured.NestedInt64(m, "weight"); ok {
			w = fmt.Sprint(v)
		}
		out = append(out, fmt.Sprintf("%v:%s", m["name"], w))
	}
	return out
}

// waitServed waits until the gateway answers host with body.
func waitServed(ctx context.Context, t *testing.T, host, body string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	var last string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		got, err := gatewayGet(ctx, client, host)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = fmt.Sprintf("%q", got)
		return got == body, nil
	})
	if err != nil {
		t.Fatalf("the gateway (%s, Host %s) never answered %q; last: %s", gatewayURL, host, body, last)
	}
}

func gatewayGet(ctx context.Context, client *http.Client, host string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, gatewayURL, nil)
	if err != nil {
		return "", err
	}
	req.Host = host
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

// waitSelects waits until Service name selects colour, while run goes on.
func waitSelects(ctx context.Context, t *testing.T, run *deployRun, ns, name, color string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := run.failed(); err != nil {
			return false, err
		}
		svc, err := framework.Get(t).Kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return svc.Spec.Selector[deploy.LabelColor] == color, nil
	})
	if err != nil {
		t.Fatalf("service %s/%s never selected %s: %v", ns, name, color, err)
	}
}

// deployRun is `slipway deploy` running in the background.
type deployRun struct {
	finished chan struct{}
	err      error
}

// wait returns the command's error once it has ended.
func (r *deployRun) wait() error {
	<-r.finished
	return r.err
}

// failed is the error of a command that has ended, or nil (running, or
// ended well; nil itself for no command).
func (r *deployRun) failed() error {
	if r == nil {
		return nil
	}
	select {
	case <-r.finished:
		if r.err != nil {
			return fmt.Errorf("slipway deploy ended: %w", r.err)
		}
	default:
	}
	return nil
}

// runDeployCLI runs `slipway deploy ARGS` (the deploy Task's command) in
// the background; its output goes to the log when it ends.
func runDeployCLI(ctx context.Context, t *testing.T, args ...string) *deployRun {
	t.Helper()
	kubeconfig := os.Getenv("E2E_KUBECONFIG")
	if kubeconfig == "" {
		kubeconfig = framework.StackKubeconfig()
	}
	cmd := cli.NewDeployCmd()
	cmd.SilenceUsage = true
	out := &lockedBuffer{}
	cmd.SetOut(out)
	cmd.SetErr(out)
	cmd.SetArgs(append([]string{"--kubeconfig", kubeconfig}, args...))
	r := &deployRun{finished: make(chan struct{})}
	go func() {
		defer close(r.finished)
		r.err = cmd.ExecuteContext(ctx)
		t.Logf("slipway deploy output:\n%s", out.String())
	}()
	// A test that stops early cancels ctx on its way out; the rollout then
	// rolls back, and its namespace goes only after (cleanups run in
	// reverse order).
	t.Cleanup(func() { <-r.finished })
	return r
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *lockedBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *lockedBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gatewayChecker reads from Traefik's API what the gateway applies for
// one HTTPRoute: its rule's weighted services and their servers.
type gatewayChecker struct {
	t         *testing.T
	ns, route string
	client    *http.Client
}

func newGatewayChecker(t *testing.T, ns, route string) *gatewayChecker {
	return &gatewayChecker{t: t, ns: ns, route: route, client: &http.Client{Timeout: 5 * time.Second}}
}

// traefikService is the part of Traefik's /api/http/services answer read here.
type traefikService struct {
	Name     string `json:"name"`
	Weighted *struct {
		Services []struct {
			Name   string `json:"name"`
			Weight *int   `json:"weight"`
		} `json:"services"`
	} `json:"weighted"`
	LoadBalancer *struct {
		Servers []struct {
			URL string `json:"url"`
		} `json:"servers"`
	} `json:"loadBalancer"`
}

// traefikName is Traefik's provider.Normalize: runs of characters other
// than letters and digits become one "-".
func traefikName(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) }), "-")
}

// backendService is the name Traefik gives Service svc (port 80) of the namespace.
func (g *gatewayChecker) backendService(svc string) string {
	return traefikName(g.ns+"-"+svc+"-http") + "-80"
}

// applied says how what Traefik serves for the route differs from want
// (Service name → weight; a weight of 0 is configured and never picked),
// "" when it is the same: the rule's weighted round robin has exactly
// these weights, and every backend with a weight has exactly the ready,
// not terminating, pods of its Service as servers (a backend Traefik
// could not load has no load balancer: it would answer 500).
func (g *gatewayChecker) applied(ctx context.Context, want map[string]int) (string, error) {
	q := url.Values{"search": {g.ns}, "per_page": {"1000"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, gatewayAPI+"/api/http/services?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return fmt.Sprintf("traefik's API: %v", err), nil
	}
	defer resp.Body.Close()
	var svcs []traefikService
	if err := json.NewDecoder(resp.Body).Decode(&svcs); err != nil {
		return fmt.Sprintf("traefik's API: %s: %v", resp.Status, err), nil
	}
	byName := map[string]traefikService{}
	var wrr *traefikService
	prefix := traefikName("httproute-"+g.ns+"-"+g.route+"-gw") + "-"
	for i, s := range svcs {
		byName[strings.TrimSuffix(s.Name, traefikProvider)] = s
		if strings.HasPrefix(s.Name, prefix) && s.Weighted != nil {
			wrr = &svcs[i]
		}
	}
	if wrr == nil {
		return fmt.Sprintf("no weighted service %s… for the route", prefix), nil
	}
	got := map[string]int{}
	for _, c := range wrr.Weighted.Services {
		w := 1
		if c.Weight != nil {
			w = *c.Weight
		}
		got[strings.TrimSuffix(c.Name, traefikProvider)] = w
	}
	wantNames := map[string]int{}
	for svc, w := range want {
		wantNames[g.backendService(svc)] = w
	}
	if fmt.Sprint(got) != fmt.Sprint(wantNames) {
		return fmt.Sprintf("weights %v, want %v", got, wantNames), nil
	}
	for svc, w := range want {
		if w == 0 {
			continue
		}
		lb := byName[g.backendService(svc)]
		var servers []string
		if lb.LoadBalancer != nil {
			for _, s := range lb.LoadBalancer.Servers {
				servers = append(servers, s.URL)
			}
		}
		slices.Sort(servers)
		pods, err := g.readyPods(ctx, svc)
		if err != nil {
			return "", err
		}
		if len(pods) == 0 || !slices.Equal(servers, pods) {
			return fmt.Sprintf("service %s: servers %v, ready pods %v", svc, servers, pods), nil
		}
	}
	return "", nil
}

// readyPods are http://IP:8080 of the ready, not terminating, pods Service svc selects.
func (g *gatewayChecker) readyPods(ctx context.Context, svc string) ([]string, error) {
	kube := framework.Get(g.t).Kube
	s, err := kube.CoreV1().Services(g.ns).Get(ctx, svc, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading service %s: %w", svc, err)
	}
	pods, err := kube.CoreV1().Pods(g.ns).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(s.Spec.Selector).String()})
	if err != nil {
		return nil, fmt.Errorf("listing the pods of service %s: %w", svc, err)
	}
	var out []string
	for _, p := range pods.Items {
		if ok, _ := framework.PodReady(&p); ok && p.DeletionTimestamp == nil && p.Status.PodIP != "" {
			out = append(out, "http://"+p.Status.PodIP+":8080")
		}
	}
	slices.Sort(out)
	return out, nil
}

// waitApplied waits until the gateway serves want for the route, while
// run (if any) goes on.
func (g *gatewayChecker) waitApplied(ctx context.Context, run *deployRun, want map[string]int) {
	g.t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := run.failed(); err != nil {
			return false, err
		}
		var err error
		last, err = g.applied(ctx, want)
		return last == "" && err == nil, err
	})
	if err != nil {
		g.t.Fatalf("the gateway never applied %v for httproute %s/%s: %v; last: %s (traefik's log: .cache/stack/logs/traefik.log)", want, g.ns, g.route, err, last)
	}
}

// gatewayStream sends a steady stream of GETs through the gateway from the
// moment it starts until stop, and tallies the answers per phase: a
// request counts in the phase current when it was sent.
type gatewayStream struct {
	bodies []string
	phase  atomic.Pointer[string]
	mu     sync.Mutex
	tally  map[string]*streamWindow
	order  []string
	halt   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

// streamWindow is what one phase of the stream got.
type streamWindow struct {
	answers  map[string]int
	failures []string
}

func (w streamWindow) total() int {
	n := len(w.failures)
	for _, c := range w.answers {
		n += c
	}
	return n
}

// share is the percentage of the answers that were body.
func (w streamWindow) share(body string) float64 {
	ok := 0
	for _, c := range w.answers {
		ok += c
	}
	if ok == 0 {
		return math.NaN()
	}
	return 100 * float64(w.answers[body]) / float64(ok)
}

func (w streamWindow) String() string {
	keys := make([]string, 0, len(w.answers))
	for k := range w.answers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%q %d", k, w.answers[k]))
	}
	return fmt.Sprintf("%d requests: %s, %d failed", w.total(), strings.Join(parts, ", "), len(w.failures))
}

func startGatewayStream(host string, bodies ...string) *gatewayStream {
	s := &gatewayStream{bodies: bodies, tally: map[string]*streamWindow{}, halt: make(chan struct{})}
	s.setPhase("start")
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: streamWorkers}}
	tick := time.NewTicker(time.Second / streamRate)
	for range streamWorkers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for {
				select {
				case <-s.halt:
					return
				case <-tick.C:
				}
				phase := *s.phase.Load()
				body, err := gatewayGet(context.Background(), client, host)
				if err == nil && !slices.Contains(s.bodies, body) {
					err = fmt.Errorf("unexpected answer %q", body)
				}
				s.record(phase, body, err)
			}
		}()
	}
	go func() {
		<-s.halt
		tick.Stop()
	}()
	return s
}

func (s *gatewayStream) setPhase(name string) { s.phase.Store(&name) }

func (s *gatewayStream) record(phase, body string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.tally[phase]
	if w == nil {
		w = &streamWindow{answers: map[string]int{}}
		s.tally[phase] = w
		s.order = append(s.order, phase)
	}
	if err != nil {
		w.failures = append(w.failures, time.Now().UTC().Format("15:04:05.000")+" "+err.Error())
		return
	}
	w.answers[body]++
}

// measure makes name the current phase until n requests sent in it have
// been answered (or failed), then returns what they got; later requests
// count in the phase "after NAME".
func (s *gatewayStream) measure(ctx context.Context, t *testing.T, name string, n int) streamWindow {
	t.Helper()
	s.setPhase(name)
	var w streamWindow
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 3*time.Minute, true, func(context.Context) (bool, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if cur := s.tally[name]; cur != nil && cur.total() >= n {
			w = streamWindow{answers: maps.Clone(cur.answers), failures: slices.Clone(cur.failures)}
			return true, nil
		}
		return false, nil
	})
	s.setPhase("after " + name)
	if err != nil {
		t.Fatalf("%s: %d requests not answered: %v", name, n, err)
	}
	t.Logf("%s: %s", name, w)
	return w
}

func (s *gatewayStream) stop() {
	s.once.Do(func() { close(s.halt) })
	s.wg.Wait()
}

// requireNoFailures fails the test if any request of the stream failed.
func (s *gatewayStream) requireNoFailures(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	failed := 0
	for _, name := range s.order {
		w := s.tally[name]
		t.Logf("stream, %s: %s", name, w)
		if len(w.failures) > 0 {
			failed += len(w.failures)
			t.Errorf("%s: %d requests failed, first: %s", name, len(w.failures), w.failures[0])
		}
	}
	if failed == 0 {
		t.Logf("stream: no request failed")
	}
}
