package server

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"
	clocktesting "k8s.io/utils/clock/testing"
)

// On SIGTERM the replica first turns unready while still serving, for
// DrainDelay, and only then closes the listener. /readyz says whether it
// leads, in one word.
func TestDrainBeforeClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	comp := &component{started: make(chan struct{}), stopped: make(chan struct{})}
	s := &Server{
		Echo: echo.New(), Listener: ln, Clock: clk, DrainDelay: 10 * time.Second, ShutdownTimeout: 5 * time.Second,
		Components: map[string]Component{"worker": comp},
		Checks:     map[string]Check{"store": func(context.Context) error { return nil }},
		Leading:    func() bool { return true },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-comp.started
	base := "http://" + ln.Addr().String()
	get := func(path string) (int, map[string]string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var body map[string]string
		_ = json.Unmarshal(b, &body)
		return resp.StatusCode, body
	}
	code, body := get("/readyz")
	if code != http.StatusOK {
		t.Errorf("/readyz before SIGTERM = %d", code)
	}
	if diff := cmp.Diff(map[string]string{"store": "ok", "leader": "leading"}, body); diff != "" {
		t.Errorf("/readyz before SIGTERM (-want +got):\n%s", diff)
	}

	cancel() // SIGTERM
	// The drain waits on the clock: until it moves, the listener serves.
	for !clk.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	if code, _ := get("/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz while draining = %d, want 503", code)
	}
	code, body = get("/readyz")
	if code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while draining = %d, want 503", code)
	}
	if diff := cmp.Diff(map[string]string{"store": "ok", "leader": "leading", "shutdown": "draining"}, body); diff != "" {
		t.Errorf("/readyz while draining (-want +got):\n%s", diff)
	}
	select {
	case <-comp.stopped:
		t.Fatal("components stopped before the drain ended")
	default:
	}
	clk.Step(10 * time.Second)
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	<-comp.stopped
	if resp, err := http.Get(base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("listener still open after shutdown")
	}
}
