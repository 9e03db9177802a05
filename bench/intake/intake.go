// Package intake measures Slipway's webhook intake end to end: signed GitHub
// push deliveries over real TCP to the real echo handler, recorded in a real
// store, answered 202. It reports latency, throughput, CPU and memory, and
// checks afterwards that every accepted delivery is in the store once.
//
// The load generator runs in the same process as the server, so the CPU
// and memory figures include the client's share.
package intake

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/scm/github"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/webhook"
	"github.com/slipway-ci/slipway/webhooks"
)

// Config is one measured burst.
type Config struct {
	// Events is how many distinct push deliveries to send (> 0).
	Events int
	// Concurrency is how many requests are in flight at once (> 0): the
	// senders of a closed-loop burst, the connections of an open-loop one.
	Concurrency int
	// Rate, if positive, makes the burst open-loop: deliveries start at
	// this many per second whether or not earlier ones were answered, so
	// latency is measured at that offered load rather than at saturation.
	// Default 0: closed loop, each sender sends its next delivery when its
	// previous one is answered.
	Rate float64
	// Store is read after the burst to check for loss. It must be empty of
	// queued events at the start: a fresh database per burst.
	Store store.Events
	// Recorder is what the handler records into. Default: Store. Tests
	// put a faulty one here to prove the loss check sees it.
	Recorder webhook.Recorder
	// RequestTimeout bounds one request. Default: 30s.
	RequestTimeout time.Duration
}

// Result is what one burst measured.
type Result struct {
	Events      int
	Concurrency int
	Rate        float64

	// Accepted counts 202 answers; Failed counts everything else,
	// including transport errors. Errors holds a few of their messages.
	Accepted int
	Failed   int
	Errors   []string

	// Lost counts accepted deliveries whose id is not in the store with
	// that delivery; Duplicated counts those present more than once.
	// Queued is the number of queued events in the store after the burst.
	Lost       int
	Duplicated int
	Queued     int

	// Latencies of the accepted requests: from just before the request is
	// written to the end of the answer's body.
	P50, P90, P99, Max time.Duration
	// StoreP50 and StoreP99 are the latencies of RecordEvent alone, as the
	// handler sees them: what the store costs out of the total.
	StoreP50, StoreP99 time.Duration
	// Wall is the burst from the first send to the last answer.
	Wall time.Duration
	// CPU is user+system time of the whole process over the burst.
	CPU time.Duration
	// RSSBeforeKiB is the resident set before the burst, RSSPeakKiB the
	// highest seen while sampling during it.
	RSSBeforeKiB, RSSPeakKiB int64
}

// PerSecond is the accepted deliveries per second of wall time.
func (r Result) PerSecond() float64 {
	if r.Wall <= 0 {
		return 0
	}
	return float64(r.Accepted) / r.Wall.Seconds()
}

// NoLoss reports whether every delivery was accepted and stored once, and
// the queue holds exactly the deliveries sent.
func (r Result) NoLoss() bool {
	return r.Failed == 0 && r.Lost == 0 && r.Duplicated == 0 && r.Accepted == r.Events && r.Queued == r.Events
}

// Aim is a target for one burst.
type Aim struct {
	P99       time.Duration
	PerSecond float64
}

// Met reports whether r meets the aim without loss. An open-loop burst
// meets the throughput aim when it offered at least that rate: its p99
// then shows whether the intake kept up.
func (r Result) Met(a Aim) bool {
	rate := r.PerSecond()
	if r.Rate > 0 {
		rate = r.Rate
	}
	return r.NoLoss() && r.P99 <= a.P99 && rate >= a.PerSecond
}

// rssSampleEvery is how often the resident set is read during a burst.
const rssSampleEvery = 10 * time.Millisecond

// maxErrors bounds the error messages kept in a Result.
const maxErrors = 5

// Run serves the webhook handler on a loopback listener, sends the burst
// and checks the store.
func Run(ctx context.Context, cfg Config) (Result, error) {
	switch {
	case cfg.Events <= 0:
		return Result{}, fmt.Errorf("intake bench: events must be positive, got %d", cfg.Events)
	case cfg.Concurrency <= 0:
		return Result{}, fmt.Errorf("intake bench: concurrency must be positive, got %d", cfg.Concurrency)
	case cfg.Rate < 0:
		return Result{}, fmt.Errorf("intake bench: rate must not be negative, got %g", cfg.Rate)
	case cfg.Store == nil:
		return Result{}, errors.New("intake bench: no store")
	}
	rec := cfg.Recorder
	if rec == nil {
		rec = cfg.Store
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return Result{}, fmt.Errorf("intake bench: secret: %w", err)
	}
	deliveries, err := pushDeliveries(cfg.Events, secret)
	if err != nil {
		return Result{}, fmt.Errorf("intake bench: %w", err)
	}

	timed := &timedRecorder{next: rec, took: make([]time.Duration, 0, cfg.Events)}
	base, stop, err := serve(timed, secret)
	if err != nil {
		return Result{}, fmt.Errorf("intake bench: %w", err)
	}
	defer stop()

	client := &http.Client{
		Timeout: cfg.RequestTimeout,
		Transport: &http.Transport{
			MaxIdleConnsPerHost: cfg.Concurrency,
			MaxConnsPerHost:     cfg.Concurrency,
			DisableCompression:  true,
		},
	}
	defer client.CloseIdleConnections()
	// Open the connections with pings (answered without touching the
	// store) so the burst measures intake, not TCP handshakes.
	if err := warmUp(ctx, client, base, secret, cfg.Concurrency); err != nil {
		return Result{}, fmt.Errorf("intake bench: warm-up: %w", err)
	}
	runtime.GC()

	res := Result{Events: cfg.Events, Concurrency: cfg.Concurrency, Rate: cfg.Rate}
	answers, err := burst(ctx, client, base, deliveries, cfg.Concurrency, cfg.Rate, &res)
	if err != nil {
		return res, fmt.Errorf("intake bench: %w", err)
	}
	storeLat := timed.sorted()
	res.StoreP50, res.StoreP99 = percentile(storeLat, 0.50), percentile(storeLat, 0.99)
	if err := check(ctx, cfg.Store, deliveries, answers, &res); err != nil {
		return res, fmt.Errorf("intake bench: %w", err)
	}
	return res, nil
}

// timedRecorder times each RecordEvent that succeeds.
type timedRecorder struct {
	next webhook.Recorder
	mu   sync.Mutex
	took []time.Duration
}

func (t *timedRecorder) RecordEvent(ctx context.Context, ev *event.Event) (int64, bool, error) {
	start := time.Now()
	id, dup, err := t.next.RecordEvent(ctx, ev)
	d := time.Since(start)
	if err == nil {
		t.mu.Lock()
		t.took = append(t.took, d)
		t.mu.Unlock()
	}
	return id, dup, err
}

func (t *timedRecorder) sorted() []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := slices.Clone(t.took)
	slices.Sort(out)
	return out
}

// serve starts the real handler on a real TCP listener on loopback.
func serve(rec webhook.Recorder, secret []byte) (base string, stop func(), err error) {
	h, err := webhook.New(rec, webhook.WithGitHubSecret(secret))
	if err != nil {
		return "", nil, err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	h.Register(e)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen on loopback: %w", err)
	}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln) // returns ErrServerClosed on Shutdown
	}()
	return "http://" + ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}

func warmUp(ctx context.Context, client *http.Client, base string, secret []byte, n int) error {
	ping, err := webhooks.FS.ReadFile("github/ping.json")
	if err != nil {
		return fmt.Errorf("read ping fixture: %w", err)
	}
	errs := make(chan error, n)
	for range n {
		go func() {
			id, err := uuid()
			if err != nil {
				errs <- err
				return
			}
			a := send(ctx, client, base, "ping", delivery{id: id, body: ping, signature: github.Sign(secret, ping)})
			if a.err == nil && a.status != http.StatusOK {
				a.err = fmt.Errorf("ping answered %d: %s", a.status, a.body)
			}
			errs <- a.err
		}()
	}
	var all []error
	for range n {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// answer is what one request got back.
type answer struct {
	status  int
	id      int64
	body    []byte
	latency time.Duration
	err     error
}

func send(ctx context.Context, client *http.Client, base, eventType string, d delivery) answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/hooks/github", bytes.NewReader(d.body))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/intakebench")
	req.Header.Set(github.EventHeader, eventType)
	req.Header.Set(github.DeliveryHeader, d.id)
	req.Header.Set(github.SignatureHeader, d.signature)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	a := answer{status: resp.StatusCode, body: body, latency: time.Since(start)}
	if err != nil {
		a.err = fmt.Errorf("reading the answer: %w", err)
		return a
	}
	var r webhook.Response
	if err := json.Unmarshal(body, &r); err != nil {
		a.err = fmt.Errorf("answer %d is not the handler's JSON: %w", resp.StatusCode, err)
		return a
	}
	a.id = r.ID
	return a
}

// burst sends every delivery, with conc senders or at rate per second, and
// fills the timing fields of res. answers[i] is the answer to
// deliveries[i].
func burst(ctx context.Context, client *http.Client, base string, deliveries []delivery, conc int, rate float64, res *Result) ([]answer, error) {
	cpu0, err := cpuTime()
	if err != nil {
		return nil, err
	}
	mem0, err := readMemory()
	if err != nil {
		return nil, err
	}
	peak := make(chan int64, 1)
	stopSampling := make(chan struct{})
	go sampleRSS(mem0.RSSKiB, stopSampling, peak)

	answers := make([]answer, len(deliveries))
	var wg sync.WaitGroup
	start := time.Now()
	if rate > 0 {
		// Open loop: one goroutine per delivery at its own start time; a
		// slow answer delays nothing after it.
		interval := time.Duration(float64(time.Second) / rate)
		for i := range deliveries {
			time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers[i] = send(ctx, client, base, "push", deliveries[i])
			}()
		}
	} else {
		next := make(chan int)
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					answers[i] = send(ctx, client, base, "push", deliveries[i])
				}
			}()
		}
		for i := range deliveries {
			next <- i
		}
		close(next)
	}
	wg.Wait()
	res.Wall = time.Since(start)
	close(stopSampling)
	res.RSSPeakKiB = <-peak
	res.RSSBeforeKiB = mem0.RSSKiB

	cpu1, err := cpuTime()
	if err != nil {
		return nil, err
	}
	res.CPU = cpu1 - cpu0

	var lat []time.Duration
	for _, a := range answers {
		if a.err == nil && a.status == http.StatusAccepted {
			res.Accepted++
			lat = append(lat, a.latency)
			continue
		}
		res.Failed++
		if len(res.Errors) < maxErrors {
			msg := fmt.Sprintf("status %d: %s", a.status, bytes.TrimSpace(a.body))
			if a.err != nil {
				msg = a.err.Error()
			}
			res.Errors = append(res.Errors, msg)
		}
	}
	slices.Sort(lat)
	res.P50, res.P90, res.P99 = percentile(lat, 0.50), percentile(lat, 0.90), percentile(lat, 0.99)
	if len(lat) > 0 {
		res.Max = lat[len(lat)-1]
	}
	return answers, nil
}

// sampleRSS sends the highest resident set seen until stop is closed.
func sampleRSS(start int64, stop <-chan struct{}, peak chan<- int64) {
	highest := start
	t := time.NewTicker(rssSampleEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			if m, err := readMemory(); err == nil {
				highest = max(highest, m.RSSKiB)
			}
			peak <- highest
			return
		case <-t.C:
			if m, err := readMemory(); err == nil {
				highest = max(highest, m.RSSKiB)
			}
		}
	}
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// check reads the whole store back and counts, for every accepted
// delivery, how often its id holds that delivery.
func check(ctx context.Context, st store.Events, deliveries []delivery, answers []answer, res *Result) error {
	all, err := st.ListEvents(ctx, store.EventFilter{})
	if err != nil {
		return fmt.Errorf("reading the store back: %w", err)
	}
	type key struct {
		id       int64
		delivery string
	}
	stored := make(map[key]int, len(all))
	for _, ev := range all {
		stored[key{ev.ID, ev.Delivery}]++
		if ev.State == event.Queued {
			res.Queued++
		}
	}
	for i, a := range answers {
		if a.err != nil || a.status != http.StatusAccepted {
			continue
		}
		switch n := stored[key{a.id, deliveries[i].id}]; {
		case n == 0:
			res.Lost++
		case n > 1:
			res.Duplicated++
		}
	}
	return nil
}
