// Package dispatch measures webhook → PipelineRun against the client-go
// floor: signed GitHub pushes sent to a real `slipway serve` process, and
// the same PipelineRuns created directly with client-go, both timed up to
// the moment a watch opened before the burst sees the run.
package dispatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"

	"github.com/slipway-ci/slipway/e2e/fakescm"
	"github.com/slipway-ci/slipway/pkg/repoconfig"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// Config is one engine's measurement.
type Config struct {
	// Slipway is the path of the slipway binary to run.
	Slipway string
	// Rest reaches the kube-apiserver (the floor's client). Its QPS and
	// Burst are raised for the floor. Kubeconfig is the same for Slipway.
	Rest       *rest.Config
	Kubeconfig string
	// Proxy puts the counting proxy between Slipway and the apiserver, to
	// time each create as seen from outside Slipway and count its requests
	// independently of Slipway's own metrics. Off by default: the hop costs
	// Slipway latency and CPU the floor does not pay.
	Proxy bool
	// Engine names the store ("sqlite" or "postgres"); Store is its URL.
	Engine, Store string
	Events        int
	Concurrency   []int
	// Rates adds an open-loop burst per rate (events/s): a request starts
	// every 1/rate s whether or not the earlier ones were answered, and
	// latency counts from that scheduled start, so a stall cannot hide the
	// requests it delayed (no coordinated omission).
	Rates []float64
	// Workers is Slipway's --dispatch-workers.
	Workers int
	// DispatchWait is Slipway's --dispatch-wait; negative: its default.
	DispatchWait time.Duration
	// SIGTERM adds the shutdown burst: SIGTERM after half the answers,
	// restart, redeliver what was not accepted, count.
	SIGTERM bool
	// Dir holds the kubeconfig and Slipway's log.
	Dir string
	// Quiet is how long without a new PipelineRun ends the wait for the
	// rest of a burst; what is still missing then is lost. Default 30 s.
	Quiet time.Duration
}

// Stats are latencies and counts of one burst.
type Stats struct {
	Events             int
	Accepted, Rejected int // 2xx / anything else (Slipway), created / failed (floor)
	AnswerP50          time.Duration
	AnswerP99          time.Duration
	VisibleP50         time.Duration
	VisibleP99         time.Duration
	EventsPerSec       float64 // accepted / (last answer − first start)
	RunsPerSec         float64 // runs seen / (last seen − first start)
	Lost, Duplicates   int
	Errors             []string // the first few distinct errors
}

// Row is one load level: the floor, then Slipway.
type Row struct {
	Engine string
	// Concurrency is the closed loop's requests in flight; 0 in an
	// open-loop row, whose Rate (events/s) is set instead.
	Concurrency int
	Rate        float64
	Floor       Stats
	Slipway     Stats
	// CPU is Slipway's CPU time during its burst (until the last run was
	// seen); PeakRSSKiB its largest resident set so far.
	CPU        time.Duration
	PeakRSSKiB int64
	// APICalls are Slipway's requests to the apiserver during the burst,
	// from its slipway_kube_requests_total; ProxyCalls the same as the
	// proxy counted them (with Config.Proxy).
	APICalls, ProxyCalls []string
	// Creates are its PipelineRun creates: from Slipway's histogram (N,
	// Mean) or, with Config.Proxy, as the proxy timed them.
	Creates Creates
	// BadSignature is the status Slipway answered a push signed with the
	// wrong secret, sent just before the burst; BadSignatureRun whether a
	// PipelineRun was made from it all the same.
	BadSignature    int
	BadSignatureRun bool
}

// Shutdown is the SIGTERM burst.
type Shutdown struct {
	Engine           string
	Events           int
	AcceptedBefore   int           // 2xx before the restart
	Refused          int           // not answered 2xx by the first process
	ExitAfter        time.Duration // SIGTERM → process gone
	ExitErr          string        // how it exited, "" when code 0
	Grace            time.Duration // its --shutdown-timeout
	Redelivered      int
	Lost, Duplicates int
	Errors           []string
}

// Result is everything measured on one engine.
type Result struct {
	Engine   string
	Rows     []Row
	Shutdown *Shutdown
	// Namespace is where Slipway created its runs (deleted afterwards; the
	// floor used another).
	Namespace string
}

const secret = "dispatchbench-secret"

// imagePrefix only names images in the runs' parameters; no run starts a
// pod, so nothing is ever pushed there.
const imagePrefix = "registry.bench.invalid/ci"

// grace is the --shutdown-timeout Slipway runs with; Kubernetes' default
// terminationGracePeriodSeconds is 30 s.
const grace = 25 * time.Second

// Run measures one engine. The namespace it makes has no slipway-ci
// Pipeline, so Tekton fails each run at once without starting pods.
func Run(ctx context.Context, cfg Config) (res Result, err error) {
	res.Engine = cfg.Engine
	switch {
	case cfg.Slipway == "" || cfg.Rest == nil || cfg.Store == "" || cfg.Dir == "":
		return res, errors.New("dispatch bench: slipway binary, rest config, store and dir are required")
	case cfg.Events < 2:
		return res, fmt.Errorf("dispatch bench: events must be at least 2, got %d", cfg.Events)
	case len(cfg.Concurrency) == 0 && len(cfg.Rates) == 0:
		return res, errors.New("dispatch bench: no concurrency level and no rate")
	case len(cfg.Concurrency) > 0 && slices.Min(cfg.Concurrency) < 1:
		return res, fmt.Errorf("dispatch bench: concurrency levels must be at least 1, got %v", cfg.Concurrency)
	case len(cfg.Rates) > 0 && slices.Min(cfg.Rates) <= 0:
		return res, fmt.Errorf("dispatch bench: rates must be positive, got %v", cfg.Rates)
	case cfg.Workers < 1:
		return res, fmt.Errorf("dispatch bench: workers must be at least 1, got %d", cfg.Workers)
	}
	if cfg.Quiet <= 0 {
		cfg.Quiet = 30 * time.Second
	}
	floorCfg := unlimited(cfg.Rest)
	tc, kc, err := floorClients(floorCfg)
	if err != nil {
		return res, err
	}
	// The floor gets its own namespace: Slipway's reporter watches only
	// its namespace, so it does no work for the floor's runs.
	ns, err := benchNamespace(ctx, kc, cfg.Engine)
	if err != nil {
		return res, err
	}
	res.Namespace = ns
	defer func() { err = errors.Join(err, deleteNamespace(ctx, kc, ns)) }()
	floorNS, err := benchNamespace(ctx, kc, cfg.Engine+"-floor")
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, deleteNamespace(ctx, kc, floorNS)) }()

	seen, stopWatch, err := watchedNamespaces(ctx, tc, ns, floorNS)
	if err != nil {
		return res, err
	}
	defer stopWatch()

	scm := httptest.NewServer(fakescm.New(filepath.Join(cfg.Dir, "repos")).Handler())
	defer scm.Close()
	kubeconfig := cfg.Kubeconfig
	var proxy *counter
	if cfg.Proxy {
		if proxy, err = newCounter(cfg.Rest); err != nil {
			return res, err
		}
		defer func() { _ = proxy.close() }()
		kubeconfig = filepath.Join(cfg.Dir, "kubeconfig")
		if err := proxy.kubeconfig(kubeconfig); err != nil {
			return res, err
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return res, err
	}
	args := []string{"serve", "--addr", addr, "--public-url", "http://" + addr,
		"--store", cfg.Store, "--kubeconfig", kubeconfig, "--namespace", ns,
		"--install-pipelines=false", "--image-registry", imagePrefix, "--dispatch-workers", strconv.Itoa(cfg.Workers),
		"--github-webhook-secret", secret, "--github-token", "bench-token",
		"--github-api-url", scm.URL + "/github/api/v3/",
		"--shutdown-timeout", grace.String(), "--log-level", "warn"}
	if cfg.DispatchWait >= 0 {
		args = append(args, "--dispatch-wait", cfg.DispatchWait.String())
	}
	logPath := filepath.Join(cfg.Dir, "slipway-"+cfg.Engine+".log")
	sw, err := startSlipway(ctx, cfg.Slipway, args, addr, logPath)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, sw.stop()) }()

	client := benchClient()
	runOpts := benchRunOptions(floorNS)
	settle := func() { settleTekton(ctx, seen) }
	for _, lv := range loadLevels(cfg.Concurrency, cfg.Rates) {
		row := Row{Engine: cfg.Engine, Concurrency: lv.concurrency, Rate: lv.rate}
		settle()
		if row.Floor, err = floorBurst(ctx, tc, lv, cfg.Events, runOpts, seen, cfg.Quiet); err != nil {
			return res, err
		}

		// Slipway.
		ds, _, err := pushDeliveries(cfg.Events, []byte(secret), "slipway-"+lv.name)
		if err != nil {
			return res, err
		}
		settle()
		bad, err := badSignature(ctx, client, sw.url+"/hooks/github", "slipway-"+lv.name)
		if err != nil {
			return res, err
		}
		before, err := readProc(sw.pid())
		if err != nil {
			return res, err
		}
		var (
			calls map[string]int
			mark  int
		)
		if proxy != nil {
			calls, mark = proxy.snapshot(), proxy.createMark()
		}
		k0, err := scrapeKubeCalls(ctx, client, sw.url)
		if err != nil {
			return res, err
		}
		answers := lv.run(len(ds), func(i int) (bool, error) { return post(ctx, client, sw.url+"/hooks/github", ds[i]) })
		row.Slipway = measure(ctx, ds, answers, seen, cfg.Quiet)
		row.BadSignature, row.BadSignatureRun = bad.status, seen.runs(bad.sha) > 0
		after, err := readProc(sw.pid())
		if err != nil {
			return res, err
		}
		row.CPU, row.PeakRSSKiB = after.CPU-before.CPU, after.PeakKiB
		// The watch can show a run before its create's answer is counted.
		k1, err := waitKubeCreates(ctx, client, sw.url, k0.creates+row.Slipway.Accepted-row.Slipway.Lost, 5*time.Second)
		if err != nil {
			return res, err
		}
		row.APICalls, row.Creates = diff(k0.counts, k1.counts), k1.since(k0)
		if proxy != nil {
			proxy.waitCreates(ctx, mark+row.Slipway.Accepted-row.Slipway.Lost, 5*time.Second)
			row.Creates = proxy.createsSince(mark)
			row.ProxyCalls = diff(calls, proxy.snapshot())
		}
		res.Rows = append(res.Rows, row)
	}
	if cfg.SIGTERM {
		sd, err := shutdownBurst(ctx, cfg, sw, client, seen)
		res.Shutdown = &sd
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// FailingPipeline installs a slipway-ci Pipeline in ns that every run
// fails validation against (a required parameter no run passes): Tekton
// fails each run in one reconcile and starts nothing. With no Pipeline at
// all, Tekton retried the lookup for about half a second per run and fell
// thousands of runs behind, loading the apiserver through every later
// burst (the floor's backlog landed on Slipway's bursts).
func FailingPipeline(ctx context.Context, tc versioned.Interface, ns string) error {
	p := &pipelinev1.Pipeline{
		ObjectMeta: metav1.ObjectMeta{Name: tekton.CIPipeline, Namespace: ns},
		Spec: pipelinev1.PipelineSpec{
			Params: pipelinev1.ParamSpecs{{Name: "bench-never-passed", Type: pipelinev1.ParamTypeString}},
			Tasks: []pipelinev1.PipelineTask{{
				Name: "never-runs",
				TaskSpec: &pipelinev1.EmbeddedTask{TaskSpec: pipelinev1.TaskSpec{
					Steps: []pipelinev1.Step{{Name: "never-runs", Image: "busybox", Script: "exit 1"}},
				}},
			}},
		},
	}
	if _, err := tc.TektonV1().Pipelines(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the bench Pipeline in %s: %w", ns, err)
	}
	return nil
}

// benchNamespace creates a fresh bench-dispatch-<what>-xxxxx namespace.
func benchNamespace(ctx context.Context, kc kubernetes.Interface, what string) (string, error) {
	ns, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "bench-dispatch-" + what + "-",
		Labels:       map[string]string{"slipway.dev/bench": "dispatch"},
	}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("creating namespace: %w", err)
	}
	return ns.Name, nil
}

func deleteNamespace(ctx context.Context, kc kubernetes.Interface, ns string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
	defer cancel()
	if err := kc.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("deleting namespace %s: %w", ns, err)
	}
	// Wait until it is gone: deleting its thousands of runs loads the
	// apiserver, and the next engine's bursts must not pay for it.
	for {
		_, err := kc.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace %s still terminating: %w", ns, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// answer is one request: when it started and ended, and whether it was
// accepted (2xx, or created).
type answer struct {
	start, end time.Time
	ok         bool
	err        error
}

// burst runs do(0..n-1) with conc in flight, each worker taking the next
// index when its request is answered (closed loop).
func burst(n, conc int, do func(i int) (bool, error)) []answer {
	out := make([]answer, n)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				start := time.Now()
				ok, err := do(i)
				out[i] = answer{start: start, end: time.Now(), ok: ok, err: err}
			}
		}()
	}
	wg.Wait()
	return out
}

// openBurst starts do(0..n-1) at rate per second, each at its scheduled
// time whether or not the earlier ones were answered (open loop). A
// request's start is its scheduled time, so one that could not even be
// sent on time (a stalled sender) is charged for the wait.
func openBurst(n int, rate float64, do func(i int) (bool, error)) []answer {
	out := make([]answer, n)
	interval := time.Duration(float64(time.Second) / rate)
	t0 := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		at := t0.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(at))
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := do(i)
			out[i] = answer{start: at, end: time.Now(), ok: ok, err: err}
		}()
	}
	wg.Wait()
	return out
}

// send posts one delivery to url as GitHub would and returns the answer's
// status code.
func send(ctx context.Context, client *http.Client, url string, d delivery) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(d.body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", d.id)
	req.Header.Set("X-Hub-Signature-256", d.signature)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// post sends one delivery and reports whether it was accepted (2xx).
func post(ctx context.Context, client *http.Client, url string, d delivery) (bool, error) {
	code, err := send(ctx, client, url, d)
	if err != nil {
		return false, err
	}
	if code/100 != 2 {
		return false, fmt.Errorf("answered %d %s", code, http.StatusText(code))
	}
	return true, nil
}

// badPush is a push signed with the wrong secret and what it was answered.
type badPush struct {
	sha    string
	status int
}

// badSignature sends one push signed with the wrong secret. Its SHA is its
// own, so a run made from it anyway is seen on the watch.
func badSignature(ctx context.Context, client *http.Client, url, tag string) (badPush, error) {
	ds, _, err := pushDeliveries(1, []byte("not-"+secret), "badsig-"+tag)
	if err != nil {
		return badPush{}, err
	}
	code, err := send(ctx, client, url, ds[0])
	if err != nil {
		return badPush{}, fmt.Errorf("bad-signature push: %w", err)
	}
	return badPush{sha: ds[0].sha, status: code}, nil
}

// level is one load: closed loop at concurrency, or open loop at rate.
type level struct {
	concurrency int
	rate        float64
	name        string // tells bursts' SHAs apart
}

// loadLevels is each closed-loop level, then each open-loop rate.
func loadLevels(concurrency []int, rates []float64) []level {
	var out []level
	for _, c := range concurrency {
		out = append(out, level{concurrency: c, name: strconv.Itoa(c)})
	}
	for _, r := range rates {
		out = append(out, level{rate: r, name: fmt.Sprintf("r%g", r)})
	}
	return out
}

// run runs do(0..n-1) at this load.
func (l level) run(n int, do func(i int) (bool, error)) []answer {
	if l.rate > 0 {
		return openBurst(n, l.rate, do)
	}
	return burst(n, l.concurrency, do)
}

// floorBurst creates, at load lv, the PipelineRuns Slipway would make for
// n pushes, straight from client-go, and measures them.
func floorBurst(ctx context.Context, tc versioned.Interface, lv level, n int, runOpts tekton.RunOptions, seen *sightings, quiet time.Duration) (Stats, error) {
	ds, fx, err := pushDeliveries(n, []byte(secret), "floor-"+runOpts.Namespace+"-"+lv.name)
	if err != nil {
		return Stats{}, err
	}
	prs := make([]*pipelinev1.PipelineRun, len(ds))
	for i, d := range ds {
		if prs[i], err = tekton.NewCIRun(floorEvent(d, fx, int64(1_000_000+i)), &repoconfig.Config{}, runOpts); err != nil {
			return Stats{}, fmt.Errorf("floor PipelineRun: %w", err)
		}
	}
	answers := lv.run(len(ds), func(i int) (bool, error) {
		_, err := tc.TektonV1().PipelineRuns(runOpts.Namespace).Create(ctx, prs[i], metav1.CreateOptions{})
		return err == nil, err
	})
	return measure(ctx, ds, answers, seen, quiet), nil
}

// benchRunOptions are the options of every bench run in ns.
func benchRunOptions(ns string) tekton.RunOptions {
	return tekton.RunOptions{Namespace: ns, ImagePrefix: imagePrefix, SlipwayImage: "ghcr.io/slipway-ci/slipway:latest", Size: "1Gi",
		Timeout: time.Hour, BuildkitAddr: "tcp://buildkitd.slipway.svc:1234"}
}

// benchClient sends the pushes: enough keep-alive connections for the
// highest concurrency, as GitHub opens many.
func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}, Timeout: time.Minute}
}

// settleTekton lets the controller finish reconciling earlier runs first.
func settleTekton(ctx context.Context, seen *sightings) {
	if n := seen.waitReconciled(ctx, 5*time.Second); n > 0 {
		fmt.Fprintf(os.Stderr, "dispatch bench: %d runs still not reconciled by Tekton after 5s; measuring anyway\n", n)
	}
}

// measure waits for the accepted deliveries' runs and computes the stats.
func measure(ctx context.Context, ds []delivery, answers []answer, seen *sightings, quiet time.Duration) Stats {
	st := Stats{Events: len(ds)}
	var accepted []string
	var answerLat []time.Duration
	first, lastAnswer := answers[0].start, answers[0].end
	errs := map[string]bool{}
	for i, a := range answers {
		first = minTime(first, a.start)
		if !a.ok {
			st.Rejected++
			if a.err != nil && len(errs) < 3 && !errs[a.err.Error()] {
				errs[a.err.Error()] = true
				st.Errors = append(st.Errors, a.err.Error())
			}
			continue
		}
		st.Accepted++
		accepted = append(accepted, ds[i].sha)
		answerLat = append(answerLat, a.end.Sub(a.start))
		lastAnswer = maxTime(lastAnswer, a.end)
	}
	seen.waitAll(ctx, accepted, quiet)
	var visible []time.Duration
	lastSeen := first
	for i, a := range answers {
		if !a.ok {
			continue
		}
		at, ok := seen.at(ds[i].sha)
		if !ok {
			st.Lost++
			continue
		}
		visible = append(visible, at.Sub(a.start))
		lastSeen = maxTime(lastSeen, at)
		st.Duplicates += max(0, seen.runs(ds[i].sha)-1)
	}
	slices.Sort(answerLat)
	slices.Sort(visible)
	st.AnswerP50, st.AnswerP99 = percentile(answerLat, 50), percentile(answerLat, 99)
	st.VisibleP50, st.VisibleP99 = percentile(visible, 50), percentile(visible, 99)
	if d := lastAnswer.Sub(first); d > 0 {
		st.EventsPerSec = float64(st.Accepted) / d.Seconds()
	}
	if d := lastSeen.Sub(first); d > 0 {
		st.RunsPerSec = float64(len(visible)) / d.Seconds()
	}
	return st
}

// percentile is the nearest-rank p-th percentile of sorted; 0 if empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted)) + 0.999999)
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// slipwayProc is a running `slipway serve`, restartable on the same
// address (the SIGTERM burst).
type slipwayProc struct {
	bin, addr, logPath string
	args               []string
	url                string
	*child
}

func startSlipway(ctx context.Context, bin string, args []string, addr, logPath string) (*slipwayProc, error) {
	s := &slipwayProc{bin: bin, args: args, addr: addr, logPath: logPath, url: "http://" + addr}
	return s, s.start(ctx)
}

// start runs the process (in the bench's environment) and waits until
// /readyz answers 200.
func (s *slipwayProc) start(ctx context.Context) error {
	c, err := startChild(s.bin, s.args, nil, s.logPath)
	if err != nil {
		return err
	}
	s.child = c
	return c.waitFor(ctx, "ready (/readyz 200)", 30*time.Second, func() bool {
		resp, err := http.Get(s.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// term sends SIGTERM and waits for the process to exit, at most grace+10
// s; it returns how long the exit took and the exit's error.
func (s *slipwayProc) term() (time.Duration, error) {
	start := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, fmt.Errorf("SIGTERM: %w", err)
	}
	select {
	case <-s.exited:
		return time.Since(start), s.err
	case <-time.After(grace + 10*time.Second):
		_ = s.cmd.Process.Kill()
		return time.Since(start), fmt.Errorf("slipway did not exit within %s of SIGTERM; killed", grace+10*time.Second)
	}
}

// stop ends the process if it still runs; a non-zero exit is an error.
func (s *slipwayProc) stop() error {
	select {
	case <-s.exited:
		return nil
	default:
	}
	_, err := s.term()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("slipway exited with %w; see %s", err, s.logPath)
	}
	return err
}

// unlimited is cfg without client-side rate limits: the floor is the
// apiserver's own pace, not client-go's.
func unlimited(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = 1e6, 1e6
	return c
}

// floorClients are the Tekton and Kubernetes clients the floor creates and
// watches with.
func floorClients(cfg *rest.Config) (versioned.Interface, kubernetes.Interface, error) {
	tc, err := versioned.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("tekton client: %w", err)
	}
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return tc, kc, nil
}

// watchedNamespaces gives each namespace the failing slipway-ci Pipeline
// and watches the PipelineRuns made in them until stop is called.
func watchedNamespaces(ctx context.Context, tc versioned.Interface, namespaces ...string) (*sightings, context.CancelFunc, error) {
	for _, n := range namespaces {
		if err := FailingPipeline(ctx, tc, n); err != nil {
			return nil, nil, err
		}
	}
	wctx, stop := context.WithCancel(ctx)
	seen := newSightings()
	for _, n := range namespaces {
		if err := watchRuns(wctx, tc, n, seen); err != nil {
			stop()
			return nil, nil, err
		}
	}
	return seen, stop, nil
}
