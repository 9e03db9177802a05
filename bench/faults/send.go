package faults

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/slipway-ci/slipway/pkg/retry"
)

// Attempt is one POST of a send and how it was answered.
type Attempt struct {
	Start, End time.Time
	Code       int    // 0 when there was no answer
	Err        string // the transport's error when there was no answer
}

// OK is a 2xx answer: the delivery is acknowledged.
func (a Attempt) OK() bool { return a.Err == "" && a.Code/100 == 2 }

// refused is an answer a sender tries again later: none at all, a 5xx,
// 408 or 429 (Slipway's 503 says "redeliver later"). Any other 4xx is a
// verdict on the delivery itself, which a second try would get again.
func (a Attempt) refused() bool {
	return a.Err != "" || a.Code >= 500 || a.Code == http.StatusRequestTimeout || a.Code == http.StatusTooManyRequests
}

// Outcome is one send of the plan and every attempt at it.
type Outcome struct {
	Send
	Scheduled time.Time // zero when the stream stopped before it
	Attempts  []Attempt
}

// Acked is when the send was first answered 2xx.
func (o Outcome) Acked() (time.Time, bool) {
	for _, a := range o.Attempts {
		if a.OK() {
			return a.End, true
		}
	}
	return time.Time{}, false
}

// StreamConfig says where and how fast to send.
type StreamConfig struct {
	URL  string  // Slipway's base URL
	Rate float64 // sends started per second
	// Retries is how often a refused send is delivered again (as a git
	// host's redelivery would, or Slipway's own recovery), spaced by
	// Backoff; 0 sends each once.
	Retries int
	Backoff wait.Backoff
	// Client sends; nil: one connection per delivery, as GitHub and GitLab
	// deliver, with a 30 s timeout.
	Client *http.Client
	// Progress, when set, is called after each send's last attempt with
	// the number of sends finished.
	Progress func(finished int)
}

// NewClient is the stream's default client: no keep-alive, so each
// delivery is routed by the Service anew (a kill or a rollout is seen by
// deliveries the way a host's would see it), and a 30 s timeout.
func NewClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
}

// Stream sends plan in an open loop: send i starts at start + i/Rate
// whether or not the earlier ones were answered, so a stall is not hidden
// by a slower sender. It returns when every started send has its last
// attempt; sends not started when ctx ended have no attempt.
func Stream(ctx context.Context, cfg StreamConfig, start time.Time, plan []Send) ([]Outcome, error) {
	if cfg.Rate <= 0 {
		return nil, fmt.Errorf("stream: rate must be positive, got %v", cfg.Rate)
	}
	if cfg.Retries < 0 {
		return nil, fmt.Errorf("stream: retries must not be negative, got %d", cfg.Retries)
	}
	client := cfg.Client
	if client == nil {
		client = NewClient()
	}
	out := make([]Outcome, len(plan))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		finished int
	)
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	for i := range plan {
		out[i].Send = plan[i]
		at := start.Add(time.Duration(i) * interval)
		if !sleepUntil(ctx, at) {
			break
		}
		out[i].Scheduled = at
		wg.Go(func() {
			o := &out[i]
			for attempt := 0; ; attempt++ {
				a := post(ctx, client, cfg.URL, o.Event)
				o.Attempts = append(o.Attempts, a)
				if a.OK() || !a.refused() || attempt >= cfg.Retries {
					break
				}
				if !sleepUntil(ctx, time.Now().Add(retry.Delay(cfg.Backoff, attempt+1))) {
					break
				}
			}
			if cfg.Progress != nil {
				mu.Lock()
				finished++
				n := finished
				mu.Unlock()
				cfg.Progress(n)
			}
		})
	}
	wg.Wait()
	return out, ctx.Err()
}

// post delivers ev once.
func post(ctx context.Context, client *http.Client, base string, ev *Event) Attempt {
	a := Attempt{Start: time.Now()}
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodPost, base+ev.Path, bytes.NewReader(ev.Body))
	if err != nil {
		a.Err, a.End = err.Error(), time.Now()
		return a
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range ev.Headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		a.Err, a.End = err.Error(), time.Now()
		return a
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	a.Code, a.End = resp.StatusCode, time.Now()
	return a
}

// sleepUntil waits for t; false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
