package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway-ci/slipway/pkg/logging"
)

type component struct {
	started, stopped chan struct{}
}

func (c *component) Run(ctx context.Context) error {
	close(c.started)
	<-ctx.Done()
	close(c.stopped)
	return ctx.Err()
}

func TestServeHealthAndShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	comp := &component{started: make(chan struct{}), stopped: make(chan struct{})}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "slipway_test_total"}))
	s := &Server{
		Echo: echo.New(), Listener: ln,
		Components: map[string]Component{"worker": comp},
		Checks: map[string]Check{
			"store":      func(context.Context) error { return nil },
			"kubernetes": func(context.Context) error { return errors.New("dial tcp 10.0.0.1:443: connection refused") },
		},
		Gatherer: reg, ShutdownTimeout: 5 * time.Second,
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(logging.Into(context.Background(), slog.New(slog.NewTextHandler(logs, nil))))
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-comp.started
	base := "http://" + ln.Addr().String()

	get := func(path string) (int, string) {
		t.Helper()
		var resp *http.Response
		for i := 0; i < 100; i++ {
			if resp, err = http.Get(base + path); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	code, body := get("/readyz")
	if code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d, want 503", code)
	}
	var got map[string]string
	_ = json.Unmarshal([]byte(body), &got)
	want := map[string]string{"store": "ok", "kubernetes": "unreachable"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("/readyz (-want +got)\n%s", diff)
	}
	// The why is in the log, once, and never in the public answer.
	get("/readyz")
	if strings.Contains(body, "10.0.0.1") {
		t.Errorf("/readyz tells the internal address: %s", body)
	}
	if n := strings.Count(logs.String(), "connection refused"); n != 1 {
		t.Errorf("the failing check's error logged %d times, want 1:\n%s", n, logs.String())
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "slipway_test_total") {
		t.Errorf("/metrics = %d %q", code, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop")
	}
	select {
	case <-comp.stopped:
	default:
		t.Error("component was not stopped")
	}
	if resp, err := http.Get(base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("server still accepting after shutdown")
	}
}

// syncBuffer is a log sink the server's goroutines and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestReadyzDegradedStaysReady(t *testing.T) {
	s := &Server{Echo: echo.New(), Checks: map[string]Check{
		"store":       func(context.Context) error { return nil },
		"base-images": func(context.Context) error { return Degraded(errors.New("image r/base/node:20 does not exist")) },
	}}
	s.routes()
	rec := httptest.NewRecorder()
	s.Echo.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("/readyz = %d, want 200: a degraded check does not make the intake unready", rec.Code)
	}
	var got map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"store": "ok", "base-images": "degraded"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("/readyz (-want +got)\n%s", diff)
	}
	if Degraded(nil) != nil {
		t.Error("Degraded(nil) != nil")
	}
}
