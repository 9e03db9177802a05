package faults

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/wait"
)

func testEvents(n int) []Send {
	out := make([]Send, n)
	for i := range out {
		out[i] = Send{Event: &Event{Index: i, Path: "/hooks/github", Delivery: fmt.Sprintf("d%d", i),
			Body: []byte(`{}`), Headers: map[string]string{"X-GitHub-Delivery": fmt.Sprintf("d%d", i)}}}
	}
	return out
}

var fastBackoff = wait.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 1000}

// A refused send (503, no answer) is delivered again up to the retries;
// a 4xx verdict is not; what is answered 2xx is acknowledged once.
func TestStreamRedeliversRefusedSendsOnly(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := r.Header.Get("X-GitHub-Delivery")
		mu.Lock()
		calls[d]++
		n := calls[d]
		mu.Unlock()
		switch {
		case d == "d1" && n <= 2:
			w.WriteHeader(http.StatusServiceUnavailable)
		case d == "d2":
			w.WriteHeader(http.StatusBadRequest)
		case d == "d3":
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	defer srv.Close()
	plan := testEvents(4)
	out, err := Stream(context.Background(), StreamConfig{URL: srv.URL, Rate: 1000, Retries: 3, Backoff: fastBackoff}, time.Now(), plan)
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		Attempts int
		Acked    bool
	}
	var gots []got
	for _, o := range out {
		_, ok := o.Acked()
		gots = append(gots, got{len(o.Attempts), ok})
	}
	want := []got{{1, true}, {3, true}, {1, false}, {4, false}}
	if diff := cmp.Diff(want, gots); diff != "" {
		t.Errorf("attempts and acknowledgement per send (-want +got)\n%s", diff)
	}
}

// Sends go out on schedule whatever the earlier answers: the server holds
// every answer until all have arrived, which a sender waiting for answers
// would never get to.
func TestStreamDoesNotWaitForAnswers(t *testing.T) {
	const n = 20
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrived++
		if arrived == n {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
			w.WriteHeader(http.StatusAccepted)
		case <-time.After(10 * time.Second):
			w.WriteHeader(http.StatusGatewayTimeout)
		}
	}))
	defer srv.Close()
	out, err := Stream(context.Background(), StreamConfig{URL: srv.URL, Rate: 500}, time.Now(), testEvents(n))
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range out {
		if _, ok := o.Acked(); !ok {
			t.Errorf("send %d not acknowledged: %+v", i, o.Attempts)
		}
	}
}

// A connection refused is an attempt without an answer, and refused.
func TestStreamCountsNoAnswerAsRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	out, err := Stream(context.Background(), StreamConfig{URL: url, Rate: 1000, Retries: 1, Backoff: fastBackoff}, time.Now(), testEvents(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(out[0].Attempts) != 2 || out[0].Attempts[0].Err == "" || !out[0].Attempts[0].refused() {
		t.Errorf("attempts = %+v, want 2 without an answer", out[0].Attempts)
	}
}

func TestStreamStopsWithContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) }))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out, err := Stream(ctx, StreamConfig{URL: srv.URL, Rate: 1}, time.Now().Add(time.Hour), testEvents(3))
	if err == nil {
		t.Error("no error from a cancelled stream")
	}
	for i, o := range out {
		if !o.Scheduled.IsZero() || len(o.Attempts) > 0 {
			t.Errorf("send %d went out after the cancel: %+v", i, o)
		}
	}
	if _, err := Stream(context.Background(), StreamConfig{URL: srv.URL, Rate: 0}, time.Now(), testEvents(1)); err == nil {
		t.Error("rate 0 accepted")
	}
}
