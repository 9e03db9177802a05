package server

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	clocktesting "k8s.io/utils/clock/testing"
)

type stubQueue struct {
	depth  int64
	oldest time.Time
	err    error
}

func (q stubQueue) QueueStats(context.Context) (int64, time.Time, error) {
	return q.depth, q.oldest, q.err
}

func TestQueueMetrics(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakePassiveClock(now)
	for _, tc := range []struct {
		name string
		q    stubQueue
		want string
	}{
		{"empty", stubQueue{}, `
# HELP slipway_queue_depth Events queued for dispatch (every replica's view of the shared queue).
# TYPE slipway_queue_depth gauge
slipway_queue_depth 0
# HELP slipway_queue_oldest_age_seconds Age of the oldest queued event; 0 when the queue is empty.
# TYPE slipway_queue_oldest_age_seconds gauge
slipway_queue_oldest_age_seconds 0
# HELP slipway_queue_stats_error 1 when the store could not be asked for the queue's stats at this scrape.
# TYPE slipway_queue_stats_error gauge
slipway_queue_stats_error 0
`},
		{"backlog", stubQueue{depth: 42, oldest: now.Add(-90 * time.Second)}, `
# HELP slipway_queue_depth Events queued for dispatch (every replica's view of the shared queue).
# TYPE slipway_queue_depth gauge
slipway_queue_depth 42
# HELP slipway_queue_oldest_age_seconds Age of the oldest queued event; 0 when the queue is empty.
# TYPE slipway_queue_oldest_age_seconds gauge
slipway_queue_oldest_age_seconds 90
# HELP slipway_queue_stats_error 1 when the store could not be asked for the queue's stats at this scrape.
# TYPE slipway_queue_stats_error gauge
slipway_queue_stats_error 0
`},
		{"store down", stubQueue{err: errors.New("connection refused")}, `
# HELP slipway_queue_stats_error 1 when the store could not be asked for the queue's stats at this scrape.
# TYPE slipway_queue_stats_error gauge
slipway_queue_stats_error 1
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := testutil.CollectAndCompare(newQueueCollector(tc.q, clk), strings.NewReader(tc.want)); err != nil {
				t.Error(err)
			}
		})
	}
}
