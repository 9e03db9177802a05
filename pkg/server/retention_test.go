package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/slipway-ci/slipway/pkg/store"
)

type fakeRows struct {
	asked map[store.Table]time.Duration
	fail  store.Table
}

func (f *fakeRows) Prune(_ context.Context, t store.Table, age time.Duration, batch int) (int64, error) {
	f.asked[t] = age
	if t == f.fail {
		return 2, errors.New("disk on fire")
	}
	return int64(batch / 100), nil
}

func (f *fakeRows) PruneSessions(context.Context) (int64, error) { return 1, nil }

// TestRetentionOnce: each table with an age is pruned (0 keeps it), the
// metric counts what went, also when a table fails part way.
func TestRetentionOnce(t *testing.T) {
	day := 24 * time.Hour
	f := &fakeRows{asked: map[store.Table]time.Duration{}, fail: store.TableAudit}
	reg := prometheus.NewRegistry()
	r, err := newRetention(f, map[store.Table]time.Duration{store.TableEvents: 90 * day, store.TableRuns: 0,
		store.TableNotifications: 30 * day, store.TableAudit: 400 * day}, reg)
	if err != nil {
		t.Fatal(err)
	}
	r.once(t.Context())
	if d := cmp.Diff(map[store.Table]time.Duration{store.TableEvents: 90 * day, store.TableNotifications: 30 * day, store.TableAudit: 400 * day}, f.asked); d != "" {
		t.Errorf("pruned (-want +got):\n%s", d)
	}
	got := map[string]float64{}
	for _, tb := range []string{"events", "runs", "notifications", "audit", "sessions"} {
		got[tb] = testutil.ToFloat64(r.pruned.WithLabelValues(tb))
	}
	if d := cmp.Diff(map[string]float64{"events": 5, "runs": 0, "notifications": 5, "audit": 2, "sessions": 1}, got); d != "" {
		t.Errorf("slipway_pruned_rows_total (-want +got):\n%s", d)
	}
	if _, err := newRetention(f, nil, reg); err == nil {
		t.Error("registering the metric twice: no error")
	}
}
