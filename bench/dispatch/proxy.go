package dispatch

import (
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// counter is a loopback reverse proxy in front of the kube-apiserver that
// counts the requests Slipway makes, by verb and resource, so the report
// can show there is one API call per event and no discovery. It serves TLS
// with HTTP/2, as the apiserver does: over plain HTTP/1.1 client-go keeps
// at most 25 idle connections per host, so 32 dispatch workers kept
// dialling new ones (7% of Slipway's CPU in a c=32 burst, perf), a cost
// the floor, which talks HTTP/2 to the apiserver, never pays.
//
// It also times each PipelineRun create it forwards and notes how many
// were in flight when it started: at one in flight Slipway's creates take
// what the floor's do, and the gap to the floor at low concurrency is
// creates overlapping on a saturated apiserver (bench/RESULTS.md,
// "Dispatch at concurrency 1").
type counter struct {
	mu       sync.Mutex
	counts   map[string]int
	inFlight int
	creates  []createTiming
	srv      *httptest.Server
}

// createTiming is one POST pipelineruns through the proxy.
type createTiming struct {
	took time.Duration // request in → upstream answer copied back
	busy int           // other creates in flight when it started
}

// Creates summarises the PipelineRun creates of one burst as the proxy
// saw them: the apiserver's round trip plus the proxy's own hop.
type Creates struct {
	N             int
	Mean          time.Duration // from Slipway's histogram, without the proxy
	P50, P99      time.Duration
	MaxInFlight   int
	Overlapped    int           // started while another was in flight
	AloneP50      time.Duration // p50 of those that started alone
	OverlappedP50 time.Duration
}

// newCounter forwards to the apiserver of cfg with cfg's credentials.
func newCounter(cfg *rest.Config) (*counter, error) {
	target, err := url.Parse(cfg.Host)
	if err != nil {
		return nil, fmt.Errorf("apiserver URL %q: %w", cfg.Host, err)
	}
	if target.Scheme == "" {
		target.Scheme = "https"
	}
	tr, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("apiserver transport: %w", err)
	}
	c := &counter{counts: map[string]int{}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
		},
		Transport:     tr,
		FlushInterval: -1, // watches stream
	}
	c.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := requestKey(r)
		c.add(key)
		if key != "POST pipelineruns" {
			rp.ServeHTTP(w, r)
			return
		}
		busy := c.enter()
		start := time.Now()
		rp.ServeHTTP(w, r)
		c.leave(createTiming{took: time.Since(start), busy: busy})
	}))
	c.srv.EnableHTTP2 = true
	c.srv.StartTLS()
	return c, nil
}

// requestKey names a request "VERB resource", e.g. "POST pipelineruns",
// "GET discovery", "WATCH pipelineruns".
func requestKey(r *http.Request) string {
	p := strings.Trim(r.URL.Path, "/")
	parts := strings.Split(p, "/")
	verb := r.Method
	if r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1" {
		verb = "WATCH"
	}
	// /api, /apis, /apis/GROUP, /apis/GROUP/VERSION are discovery.
	switch {
	case p == "api" || p == "apis" || p == "version" || p == "openapi/v2" || strings.HasPrefix(p, "openapi/"):
		return verb + " discovery"
	case parts[0] == "api" && len(parts) <= 2, parts[0] == "apis" && len(parts) <= 3:
		return verb + " discovery"
	case parts[0] != "api" && parts[0] != "apis":
		return verb + " /" + p // e.g. /readyz, /healthz
	}
	rest := parts[2:] // after api/v1 or apis/group/version
	if parts[0] == "apis" {
		rest = parts[3:]
	}
	if len(rest) >= 2 && rest[0] == "namespaces" && len(rest) > 2 {
		rest = rest[2:]
	}
	return verb + " " + rest[0]
}

func (c *counter) add(key string) {
	c.mu.Lock()
	c.counts[key]++
	c.mu.Unlock()
}

// enter counts a create in flight and returns how many others were.
func (c *counter) enter() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inFlight++
	return c.inFlight - 1
}

func (c *counter) leave(t createTiming) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inFlight--
	c.creates = append(c.creates, t)
}

// createMark is where the next burst's creates start in c.creates.
func (c *counter) createMark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.creates)
}

// waitCreates waits until n creates have finished in all, at most wait.
func (c *counter) waitCreates(ctx context.Context, n int, wait time.Duration) {
	deadline := time.Now().Add(wait)
	for c.createMark() < n && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
}

// createsSince summarises the creates finished since mark.
func (c *counter) createsSince(mark int) Creates {
	c.mu.Lock()
	ts := slices.Clone(c.creates[mark:])
	c.mu.Unlock()
	var all, alone, overlapped []time.Duration
	out := Creates{N: len(ts)}
	for _, t := range ts {
		all = append(all, t.took)
		out.MaxInFlight = max(out.MaxInFlight, t.busy+1)
		if t.busy == 0 {
			alone = append(alone, t.took)
		} else {
			overlapped = append(overlapped, t.took)
		}
	}
	out.Overlapped = len(overlapped)
	for _, d := range [][]time.Duration{all, alone, overlapped} {
		slices.Sort(d)
	}
	out.P50, out.P99 = percentile(all, 50), percentile(all, 99)
	out.AloneP50, out.OverlappedP50 = percentile(alone, 50), percentile(overlapped, 50)
	return out
}

// snapshot returns the counts so far.
func (c *counter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

// diff returns after − before, without zero entries, as "KEY=N" sorted.
func diff(before, after map[string]int) []string {
	var out []string
	for k, v := range after {
		if n := v - before[k]; n != 0 {
			out = append(out, fmt.Sprintf("%s=%d", k, n))
		}
	}
	sort.Strings(out)
	return out
}

// kubeconfig writes a kubeconfig that points at the proxy (loopback, its
// own certificate; the proxy holds the credentials).
func (c *counter) kubeconfig(path string) error {
	cfg := clientcmdapi.NewConfig()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.srv.Certificate().Raw})
	cfg.Clusters["bench"] = &clientcmdapi.Cluster{Server: c.srv.URL, CertificateAuthorityData: ca}
	cfg.AuthInfos["bench"] = &clientcmdapi.AuthInfo{}
	cfg.Contexts["bench"] = &clientcmdapi.Context{Cluster: "bench", AuthInfo: "bench"}
	cfg.CurrentContext = "bench"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("writing kubeconfig: %w", err)
	}
	return os.Chmod(path, 0o600)
}

func (c *counter) close() error {
	c.srv.Close()
	return nil
}
