package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/rollout"
)

// scriptMetrics answers the n-th look (from 0) with script(n).
type scriptMetrics struct {
	n      int
	script func(n int) (float64, error)
}

func (m *scriptMetrics) Query(context.Context, string) (float64, error) {
	v, err := m.script(m.n)
	m.n++
	return v, err
}

// Failure and inconclusive limits per query: failures beyond the limit
// abort; no data, NaN and unanswered queries are inconclusive and, beyond
// their limit, hold the step for a human instead of aborting; a continue
// resumes it, an abort rolls back. A canary never hangs unseen: a held
// step says so in its progress line (the promotion shows "paused").
func TestCanaryAnalysisLimits(t *testing.T) {
	noData := fmt.Errorf("prometheus query %q: %w", "errs", ErrNoData)
	refused := errors.New("dial tcp 10.0.0.9:9090: connection refused")
	tests := []struct {
		name     string
		query    string // after "error-rate=errs<=0.05"
		script   func(n int) (float64, error)
		signal   rollout.Signal // sent once the step holds ("" none)
		wantErr  string         // "" promotes
		wantSeen []string       // progress lines that must appear
	}{
		{
			name: "one failure within its limit promotes", query: " failureLimit=1",
			script: func(n int) (float64, error) {
				if n == 2 {
					return 0.5, nil
				}
				return 0.01, nil
			},
		},
		{
			name: "failures beyond the limit abort", query: " failureLimit=1",
			script: func(n int) (float64, error) {
				if n == 1 || n == 3 {
					return 0.5, nil
				}
				return 0.01, nil
			},
			wantErr: "analysis error-rate = 0.5, above the maximum 0.05 (2 failures, 1 allowed)",
		},
		{
			name: "the limit counts per step", query: " failureLimit=1",
			// One failure in each of the three steps (7 looks per 30 s step at 5 s).
			script: func(n int) (float64, error) {
				if n%7 == 1 {
					return 0.5, nil
				}
				return 0.01, nil
			},
		},
		{
			name: "no data within its limit is not a failure", query: " inconclusiveLimit=2",
			script: func(n int) (float64, error) {
				if n < 2 {
					return 0, noData
				}
				return 0.01, nil
			},
		},
		{
			name: "no data beyond the limit holds until continued", query: "",
			script: func(n int) (float64, error) {
				if n == 0 {
					return 0, noData
				}
				return 0.01, nil
			},
			signal:   rollout.SignalContinue,
			wantSeen: []string{`paused at canary 10%: analysis error-rate inconclusive 1 times (prometheus query "errs": no data); continue to go on, abort to roll back`},
		},
		{
			name: "an unreachable Prometheus holds, an abort rolls back", query: " inconclusiveLimit=1",
			script: func(int) (float64, error) { return 0, refused },
			signal: rollout.SignalAbort, wantErr: "aborted: analysis stuck",
			wantSeen: []string{"paused at canary 10%: analysis error-rate inconclusive 2 times (dial tcp 10.0.0.9:9090: connection refused); continue to go on, abort to roll back"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t, service("shop", appLabels), deployment("shop", 10, appLabels, oldImage))
			q, err := rollout.ParseQuery("error-rate=errs<=0.05" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			signalled := false
			c.onSleep = func(c *cluster) {
				p, _ := Progress(context.Background(), c.client, testNS, "shop")
				if tt.signal == "" || signalled || !strings.HasPrefix(p, "paused at") {
					return
				}
				signalled = true
				if err := Signal(context.Background(), c.client, testNS, "shop", tt.signal, "", "analysis stuck"); err != nil {
					t.Fatal(err)
				}
			}
			seen := progressLog(c)
			metrics := &scriptMetrics{script: tt.script}
			spec := Spec{Strategy: rollout.Canary, Namespace: testNS, App: "shop", Image: newImage, Steps: []int{10, 50, 100},
				Pause: 30 * time.Second, ProgressDeadline: time.Minute, Analysis: Analysis{Queries: []Query{q}}}
			err = c.deployer(WithMetrics(metrics), WithPollInterval(5*time.Second)).Run(context.Background(), spec)
			for _, want := range tt.wantSeen {
				if !slices.Contains(*seen, want) {
					t.Errorf("progress never said %q; saw:\n%s", want, strings.Join(*seen, "\n"))
				}
			}
			if tt.signal != "" && !signalled {
				t.Errorf("the step never held for a human")
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				if got := image(c.deployment("shop")); got != newImage {
					t.Errorf("stable image = %s, want %s", got, newImage)
				}
				return
			}
			rb := rollback(t, err)
			if !rb.Restored || !strings.Contains(rb.Error(), tt.wantErr) {
				t.Errorf("rollback = %v (restored %v), want restored with %q", rb, rb.Restored, tt.wantErr)
			}
			if diff := cmp.Diff(oldImage, image(c.deployment("shop"))); diff != "" {
				t.Errorf("stable image (-want +got):\n%s", diff)
			}
		})
	}
}

// A step that held and was continued gets the rest of its pause, not a
// fresh one and not none: the looks after the continue cover the time
// the step had left.
func TestCanaryHoldResumesRemainingPause(t *testing.T) {
	c := newCluster(t, service("shop", appLabels), deployment("shop", 10, appLabels, oldImage))
	var heldAt, resumedAt, stepEnd time.Time
	c.onSleep = func(c *cluster) {
		p, _ := Progress(context.Background(), c.client, testNS, "shop")
		switch {
		case strings.HasPrefix(p, "paused at") && heldAt.IsZero():
			heldAt = c.now
		case strings.HasPrefix(p, "paused at") && c.now.Sub(heldAt) >= 10*time.Minute && resumedAt.IsZero():
			resumedAt = c.now
			if err := Signal(context.Background(), c.client, testNS, "shop", rollout.SignalContinue, "", ""); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(p, "canary promoting") || (c.exists("shop-canary") && *c.deployment("shop-canary").Spec.Replicas == 10 && stepEnd.IsZero()):
			stepEnd = c.now
		}
	}
	metrics := &scriptMetrics{script: func(n int) (float64, error) {
		if n == 2 { // 10 s into the 30 s step
			return 0, ErrNoData
		}
		return 0.01, nil
	}}
	q, _ := rollout.ParseQuery("error-rate=errs<=0.05")
	spec := Spec{Strategy: rollout.Canary, Namespace: testNS, App: "shop", Image: newImage, Steps: []int{10, 100},
		Pause: 30 * time.Second, ProgressDeadline: time.Minute, Analysis: Analysis{Queries: []Query{q}}}
	if err := c.deployer(WithMetrics(metrics), WithPollInterval(5*time.Second)).Run(context.Background(), spec); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if heldAt.IsZero() || resumedAt.IsZero() || stepEnd.IsZero() {
		t.Fatalf("held %v, resumed %v, next step %v: want all three", heldAt, resumedAt, stepEnd)
	}
	t.Logf("held at %s, resumed %s later, next step %s after that", heldAt.Format(time.TimeOnly), resumedAt.Sub(heldAt), stepEnd.Sub(resumedAt))
	// 20 s of the step were left when it held; the next step's canary
	// then takes one 5 s look to be ready. A fresh pause would be 35 s.
	if got := stepEnd.Sub(resumedAt); got < 20*time.Second || got > 28*time.Second {
		t.Errorf("the next step came %s after the continue, want the 20 s the step had left and its readiness look", got)
	}
}
