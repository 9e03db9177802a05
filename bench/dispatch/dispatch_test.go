package dispatch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/slipway-ci/slipway/pkg/repoconfig"
	"github.com/slipway-ci/slipway/pkg/scm/github"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var out []time.Duration
		for _, n := range ns {
			out = append(out, time.Duration(n)*time.Millisecond)
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"p50 of 100", hundred, 50, 50 * time.Millisecond},
		{"p99 of 100", hundred, 99, 99 * time.Millisecond},
		{"p100 of 100", hundred, 100, 100 * time.Millisecond},
		{"p50 of 3", ms(1, 2, 3), 50, 2 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%v) = %s, want %s", tt.p, got, tt.want)
			}
		})
	}
}

func TestRequestKey(t *testing.T) {
	tests := []struct{ method, url, want string }{
		{"GET", "/api", "GET discovery"},
		{"GET", "/apis", "GET discovery"},
		{"GET", "/api/v1", "GET discovery"},
		{"GET", "/apis/tekton.dev/v1", "GET discovery"},
		{"GET", "/version", "GET discovery"},
		{"GET", "/readyz", "GET /readyz"},
		{"POST", "/apis/tekton.dev/v1/namespaces/ns/pipelineruns", "POST pipelineruns"},
		{"GET", "/apis/tekton.dev/v1/namespaces/ns/pipelineruns?watch=true&labelSelector=x", "WATCH pipelineruns"},
		{"GET", "/apis/tekton.dev/v1/pipelineruns?labelSelector=x", "GET pipelineruns"},
		{"PATCH", "/apis/tekton.dev/v1/namespaces/ns/pipelineruns/a", "PATCH pipelineruns"},
		{"GET", "/api/v1/namespaces/ns", "GET namespaces"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.url, nil)
		if got := requestKey(r); got != tt.want {
			t.Errorf("requestKey(%s %s) = %q, want %q", tt.method, tt.url, got, tt.want)
		}
	}
}

// TestCounterForwardsAndCounts runs a kubeconfig client through the proxy
// to a stand-in apiserver that checks the proxy added the credentials.
func TestCounterForwardsAndCounts(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer sekrit" {
			http.Error(w, "no credentials", http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "%s %s", r.Method, r.URL.Path)
	}))
	defer api.Close()
	c, err := newCounter(&rest.Config{Host: api.URL, BearerToken: "sekrit"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	path := t.TempDir() + "/kubeconfig"
	if err := c.kubeconfig(path); err != nil {
		t.Fatal(err)
	}
	kc, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	client, err := rest.HTTPClientFor(kc)
	if err != nil {
		t.Fatal(err)
	}
	before, mark := c.snapshot(), c.createMark()
	var bodies []string
	for _, p := range []string{"/apis", "/apis/tekton.dev/v1/namespaces/x/pipelineruns", "/apis/tekton.dev/v1/namespaces/x/pipelineruns"} {
		method := http.MethodPost
		if p == "/apis" {
			method = http.MethodGet
		}
		req, _ := http.NewRequest(method, kc.Host+p, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Errorf("%s %s: %s to the proxy, want HTTP/2 as to an apiserver", method, p, resp.Proto)
		}
		bodies = append(bodies, string(b))
	}
	want := []string{"GET /apis", "POST /apis/tekton.dev/v1/namespaces/x/pipelineruns", "POST /apis/tekton.dev/v1/namespaces/x/pipelineruns"}
	if d := cmp.Diff(want, bodies); d != "" {
		t.Errorf("answers through the proxy (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"GET discovery=1", "POST pipelineruns=2"}, diff(before, c.snapshot())); d != "" {
		t.Errorf("counts (-want +got):\n%s", d)
	}
	waitCreates(c, mark+2)
	if got := c.createsSince(mark); got.N != 2 {
		t.Errorf("creates timed: %+v, want 2", got)
	}
}

// waitCreates waits until the proxy has noted n creates: a client can
// read its answer before the proxy's handler has returned.
func waitCreates(c *counter, n int) {
	for c.createMark() < n {
		runtime.Gosched()
	}
}

// TestCounterCountsCreatesInFlight holds the stand-in apiserver's answers
// until all creates have arrived, so every one but the first starts while
// others are in flight; other requests are not creates.
func TestCounterCountsCreatesInFlight(t *testing.T) {
	const n = 4
	var arrived sync.WaitGroup
	arrived.Add(n)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			arrived.Done()
			arrived.Wait()
		}
	}))
	defer api.Close()
	c, err := newCounter(&rest.Config{Host: api.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	client := c.srv.Client()
	do := func(method string) error {
		req, _ := http.NewRequest(method, c.srv.URL+"/apis/tekton.dev/v1/namespaces/x/pipelineruns", nil)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	if err := do(http.MethodGet); err != nil {
		t.Fatal(err)
	}
	mark := c.createMark()
	errs := make(chan error, n)
	for range n {
		go func() { errs <- do(http.MethodPost) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	waitCreates(c, mark+n)
	got := c.createsSince(mark)
	if got.N != n || got.MaxInFlight != n || got.Overlapped != n-1 {
		t.Errorf("creates = %+v, want %d, all %d in flight at once, %d overlapped", got, n, n, n-1)
	}
}

// TestOpenBurstDoesNotWaitForAnswers holds every request until all have
// started: a loop that waited for answers would never get there. Starts
// are the schedule, not when the goroutine ran.
func TestOpenBurstDoesNotWaitForAnswers(t *testing.T) {
	const n, rate = 50, 1e6
	var started atomic.Int64
	release := make(chan struct{})
	var mu sync.Mutex
	done := map[int]int{}
	answers := openBurst(n, rate, func(i int) (bool, error) {
		if started.Add(1) == n {
			close(release)
		}
		<-release
		mu.Lock()
		done[i]++
		mu.Unlock()
		return i%2 == 0, nil
	})
	if len(done) != n {
		t.Errorf("%d distinct indexes done, want %d", len(done), n)
	}
	interval := time.Duration(float64(time.Second) / rate)
	for i, a := range answers {
		if done[i] != 1 {
			t.Errorf("index %d done %d times", i, done[i])
		}
		if got, want := a.start.Sub(answers[0].start), time.Duration(i)*interval; got != want {
			t.Errorf("request %d scheduled %s after the first, want %s", i, got, want)
		}
		if a.ok != (i%2 == 0) || a.end.Before(a.start) {
			t.Errorf("answer %d = %+v", i, a)
		}
	}
}

func TestBurstRunsEachOnceWithinConcurrency(t *testing.T) {
	const n, conc = 200, 8
	var inFlight, peak atomic.Int64
	var mu sync.Mutex
	done := map[int]int{}
	answers := burst(n, conc, func(i int) (bool, error) {
		cur := inFlight.Add(1)
		for {
			p := peak.Load()
			if cur <= p || peak.CompareAndSwap(p, cur) {
				break
			}
		}
		mu.Lock()
		done[i]++
		mu.Unlock()
		inFlight.Add(-1)
		if i%10 == 0 {
			return false, errors.New("refused")
		}
		return true, nil
	})
	if len(done) != n {
		t.Errorf("%d distinct indexes done, want %d", len(done), n)
	}
	for i, k := range done {
		if k != 1 {
			t.Errorf("index %d done %d times", i, k)
		}
	}
	if p := peak.Load(); p > conc {
		t.Errorf("%d in flight at once, want at most %d", p, conc)
	}
	for i, a := range answers {
		if a.ok != (i%10 != 0) || a.end.Before(a.start) {
			t.Errorf("answer %d = %+v", i, a)
		}
	}
}

// TestMeasureCountsLostAndDuplicates feeds sightings by hand: one push
// seen twice under two names, one accepted and never seen, one refused.
func TestMeasureCountsLostAndDuplicates(t *testing.T) {
	t0 := time.Now()
	ds := []delivery{{sha: "a"}, {sha: "b"}, {sha: "c"}, {sha: "d"}}
	answers := []answer{
		{start: t0, end: t0.Add(time.Millisecond), ok: true},
		{start: t0, end: t0.Add(2 * time.Millisecond), ok: true},
		{start: t0, end: t0.Add(3 * time.Millisecond), ok: true},
		{start: t0, end: t0.Add(time.Millisecond), err: errors.New("answered 500")},
	}
	s := newSightings()
	s.see("a", "run-a", t0.Add(10*time.Millisecond), false)
	s.see("b", "run-b", t0.Add(20*time.Millisecond), false)
	s.see("b", "run-b", t0.Add(30*time.Millisecond), true) // an update, not a duplicate
	s.see("b", "run-b2", t0.Add(40*time.Millisecond), false)
	got := measure(context.Background(), ds, answers, s, 10*time.Millisecond)
	want := Stats{
		Events: 4, Accepted: 3, Rejected: 1,
		AnswerP50: 2 * time.Millisecond, AnswerP99: 3 * time.Millisecond,
		VisibleP50: 10 * time.Millisecond, VisibleP99: 20 * time.Millisecond,
		EventsPerSec: 1000, RunsPerSec: 100,
		Lost: 1, Duplicates: 1, Errors: []string{"answered 500"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("measure (-want +got):\n%s", d)
	}
}

func TestPushDeliveriesAreDistinctAndSigned(t *testing.T) {
	ds, fx, err := pushDeliveries(50, []byte("s"), "t")
	if err != nil {
		t.Fatal(err)
	}
	if fx.repo == "" || fx.cloneURL == "" || !strings.HasPrefix(fx.ref, "refs/heads/") {
		t.Errorf("fixture = %+v, want repo, clone URL and a branch ref", fx)
	}
	ids, shas, names := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i, d := range ds {
		if ids[d.id] || shas[d.sha] {
			t.Errorf("delivery %d repeats an id or SHA", i)
		}
		ids[d.id], shas[d.sha] = true, true
		if !strings.Contains(string(d.body), d.sha) {
			t.Errorf("delivery %d body does not carry its SHA", i)
		}
		if d.signature != github.Sign([]byte("s"), d.body) {
			t.Errorf("delivery %d is not signed with the secret", i)
		}
		pr, err := tekton.NewCIRun(floorEvent(d, fx, int64(i+1)), &repoconfig.Config{}, tekton.RunOptions{
			Namespace: "ns", ImagePrefix: "r/p", SlipwayImage: "img", Size: "1Gi", Timeout: time.Hour, BuildkitAddr: "tcp://b:1"})
		if err != nil {
			t.Fatal(err)
		}
		if names[pr.Name] {
			t.Errorf("floor run %d repeats name %s", i, pr.Name)
		}
		names[pr.Name] = true
		if pr.Labels[tekton.LabelSHA] != d.sha {
			t.Errorf("floor run %d has SHA label %q, want %q", i, pr.Labels[tekton.LabelSHA], d.sha)
		}
	}
}

func TestParseProc(t *testing.T) {
	stat := []byte("42 (slip way) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 100 0 0")
	cpu, err := parseStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if cpu != 3*time.Second {
		t.Errorf("cpu = %s, want 3s", cpu)
	}
	ps, err := parseStatus([]byte("Name:\tslipway\nVmHWM:\t   2048 kB\nVmRSS:\t   1024 kB\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(procStat{RSSKiB: 1024, PeakKiB: 2048}, ps); d != "" {
		t.Errorf("parseStatus (-want +got):\n%s", d)
	}
	if _, err := parseStatus([]byte("Name:\tx\n")); err == nil {
		t.Error("parseStatus without VmRSS: want an error")
	}
	if _, err := parseStatCPU([]byte("no parens")); err == nil {
		t.Error("parseStatCPU without a command name: want an error")
	}
}

func TestReplaceSection(t *testing.T) {
	block := BeginMarker + "\nnew\n" + EndMarker
	tests := []struct{ name, doc, want, wantErr string }{
		{name: "empty", doc: "", want: block + "\n"},
		{name: "append", doc: "# R\nintake", want: "# R\nintake\n\n" + block + "\n"},
		{name: "replace", doc: "a\n" + BeginMarker + "\nold\n" + EndMarker + "\nz\n", want: "a\n" + block + "\nz\n"},
		{name: "unpaired", doc: EndMarker + BeginMarker, wantErr: "unpaired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReplaceSection(tt.doc, "new\n")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	ok := Config{Slipway: "x", Rest: &rest.Config{}, Engine: "sqlite", Store: "sqlite://x", Dir: "d", Events: 10, Concurrency: []int{1}, Workers: 1}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no binary", func(c *Config) { c.Slipway = "" }, "required"},
		{"one event", func(c *Config) { c.Events = 1 }, "events must be at least 2"},
		{"zero concurrency", func(c *Config) { c.Concurrency = []int{8, 0} }, "concurrency"},
		{"no load", func(c *Config) { c.Concurrency = nil }, "no concurrency level and no rate"},
		{"zero rate", func(c *Config) { c.Rates = []float64{0} }, "rates must be positive"},
		{"no workers", func(c *Config) { c.Workers = 0 }, "workers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mutate(&cfg)
			_, err := Run(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestWaitReconciledWaitsForEveryRunTektonHasNotSeen(t *testing.T) {
	s := newSightings()
	s.see("a", "run-a", time.Now(), true)
	s.see("b", "run-b", time.Now(), false)
	if n := s.waitReconciled(context.Background(), 50*time.Millisecond); n != 1 {
		t.Fatalf("waitReconciled with run-b unreconciled = %d, want 1", n)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		s.see("b", "run-b", time.Now(), true)
	}()
	if n := s.waitReconciled(context.Background(), 5*time.Second); n != 0 {
		t.Fatalf("waitReconciled after run-b was reconciled = %d, want 0", n)
	}
}
