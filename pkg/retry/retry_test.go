package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
)

func TestIsTransient(t *testing.T) {
	gr := schema.GroupResource{Group: "tekton.dev", Resource: "pipelineruns"}
	type got struct {
		Transient bool
		After     time.Duration
		Terminal  bool
	}
	tests := []struct {
		name string
		err  error
		want got
	}{
		{"nil", nil, got{}},
		{"plain error", errors.New("boom"), got{}},
		{"marked transient, wrapped", fmt.Errorf("reading: %w", &TransientError{Err: errors.New("502"), RetryAfter: 3 * time.Second}), got{Transient: true, After: 3 * time.Second}},
		{"Transient helper", Transient(errors.New("store busy")), got{Transient: true}},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), got{Transient: true}},
		{"cut connection", io.ErrUnexpectedEOF, got{Transient: true}},
		{"refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, got{Transient: true}},
		{"API 429 with Retry-After", apierrors.NewTooManyRequests("slow down", 7), got{Transient: true, After: 7 * time.Second}},
		{"API conflict", apierrors.NewConflict(gr, "a", errors.New("x")), got{Transient: true}},
		{"API 500", apierrors.NewInternalError(errors.New("x")), got{Transient: true}},
		{"API forbidden", apierrors.NewForbidden(gr, "a", errors.New("x")), got{}},
		{"API already exists", apierrors.NewAlreadyExists(gr, "a"), got{}},
		{"terminal", Terminal(errors.New("bad address")), got{Terminal: true}},
		{"terminal wins over transient", Terminal(fmt.Errorf("smtp: %w", io.EOF)), got{Terminal: true}},
		{"transient around terminal", Transient(Terminal(errors.New("x"))), got{Terminal: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g got
			g.Transient, g.After = IsTransient(tt.err)
			g.Terminal = IsTerminal(tt.err)
			if d := cmp.Diff(tt.want, g); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
	if Terminal(nil) != nil || Transient(nil) != nil {
		t.Error("wrapping nil must give nil")
	}
}

func TestDelay(t *testing.T) {
	b := Exponential(time.Second, 10*time.Second)
	b.Jitter = 0
	var got []time.Duration
	for attempt := 1; attempt <= 6; attempt++ {
		got = append(got, Delay(b, attempt))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("delays (-want +got):\n%s", d)
	}
	if d := Delay(b, 0); d != time.Second {
		t.Errorf("Delay(attempt 0) = %s, want the first wait", d)
	}
	if d := Delay(b, 1000); d != 10*time.Second {
		t.Errorf("Delay(attempt 1000) = %s, want the cap", d)
	}
}

// Jitter stays within [d, d·(1+Jitter)] and leaves b alone.
func TestDelayJitter(t *testing.T) {
	b := Exponential(time.Second, 8*time.Second)
	for attempt := 1; attempt <= 6; attempt++ {
		base := Delay(wait.Backoff{Duration: b.Duration, Factor: b.Factor, Cap: b.Cap, Steps: b.Steps}, attempt)
		for range 50 {
			if d := Delay(b, attempt); d < base || d > base+base/2 {
				t.Fatalf("attempt %d: %s outside [%s, %s]", attempt, d, base, base+base/2)
			}
		}
	}
	if b.Duration != time.Second {
		t.Errorf("Delay changed the caller's backoff: %+v", b)
	}
}
