package intake

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/webhook"
)

// dropOne answers the nth RecordEvent with a made-up id and records
// nothing: the handler answers 202 for an event the store never saw.
type dropOne struct {
	next  webhook.Recorder
	nth   int64
	calls atomic.Int64
}

func (d *dropOne) RecordEvent(ctx context.Context, ev *event.Event) (int64, bool, error) {
	if d.calls.Add(1) == d.nth {
		return 1 << 40, false, nil
	}
	return d.next.RecordEvent(ctx, ev)
}

// TestRunCountsLoss runs a real burst on a fresh SQLite store and checks
// that the loss check sees exactly what the recorder dropped.
func TestRunCountsLoss(t *testing.T) {
	const n = 20
	type counts struct{ Events, Accepted, Failed, Lost, Duplicated, Queued int }
	tests := []struct {
		name       string
		recorder   func(webhook.Recorder) webhook.Recorder
		rate       float64
		want       counts
		wantNoLoss bool
	}{
		{
			name:       "store records every event",
			recorder:   func(r webhook.Recorder) webhook.Recorder { return r },
			want:       counts{Events: n, Accepted: n, Queued: n},
			wantNoLoss: true,
		},
		{
			name:       "open loop, store records every event",
			recorder:   func(r webhook.Recorder) webhook.Recorder { return r },
			rate:       1000,
			want:       counts{Events: n, Accepted: n, Queued: n},
			wantNoLoss: true,
		},
		{
			name:     "recorder drops one event",
			recorder: func(r webhook.Recorder) webhook.Recorder { return &dropOne{next: r, nth: 7} },
			want:     counts{Events: n, Accepted: n, Lost: 1, Queued: n - 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			fresh, err := FreshSQLite(ctx, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := fresh.Close(ctx); err != nil {
					t.Error(err)
				}
			})
			res, err := Run(ctx, Config{Events: n, Concurrency: 4, Rate: tt.rate, Store: fresh.Store, Recorder: tt.recorder(fresh.Store)})
			if err != nil {
				t.Fatal(err)
			}
			got := counts{res.Events, res.Accepted, res.Failed, res.Lost, res.Duplicated, res.Queued}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("counts (-want +got):\n%s\nerrors: %q", diff, res.Errors)
			}
			if got := res.NoLoss(); got != tt.wantNoLoss {
				t.Errorf("NoLoss() = %v, want %v", got, tt.wantNoLoss)
			}
		})
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no events", Config{Concurrency: 1}},
		{"no concurrency", Config{Events: 1}},
		{"no store", Config{Events: 1, Concurrency: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Run(context.Background(), tt.cfg); err == nil {
				t.Error("Run succeeded, want an error")
			}
		})
	}
}

func TestPushDeliveriesAreDistinct(t *testing.T) {
	ds, err := pushDeliveries(50, []byte("s"))
	if err != nil {
		t.Fatal(err)
	}
	ids, bodies := map[string]bool{}, map[string]bool{}
	for _, d := range ds {
		ids[d.id], bodies[string(d.body)] = true, true
	}
	if diff := cmp.Diff([2]int{50, 50}, [2]int{len(ids), len(bodies)}); diff != "" {
		t.Errorf("distinct delivery ids and bodies (-want +got):\n%s", diff)
	}
}

func TestPercentile(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		var out []time.Duration
		for _, v := range n {
			out = append(out, time.Duration(v)*time.Millisecond)
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 0.99, 0},
		{"one", ms(7), 0.5, 7 * time.Millisecond},
		{"p50 of 1..100", ms(hundred...), 0.50, 50 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 0.99, 99 * time.Millisecond},
		{"p99 of 3", ms(1, 2, 3), 0.99, 3 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, percentile(tt.sorted, tt.p)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseProc(t *testing.T) {
	stat := []byte("4242 (intake bench) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 30 0 0 20 0 8 0 100 1000000 500 18446744073709551615\n")
	cpu, err := parseStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(2800*time.Millisecond, cpu); diff != "" {
		t.Errorf("cpu (-want +got):\n%s", diff)
	}
	if _, err := parseStatCPU([]byte("4242 intake S 1")); err == nil {
		t.Error("parseStatCPU accepted a line without a command name")
	}

	status := []byte("Name:\tintakebench\nVmPeak:\t  900 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\n")
	mem, err := parseStatus(status)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(memory{RSSKiB: 40960, PeakKiB: 51200}, mem); diff != "" {
		t.Errorf("memory (-want +got):\n%s", diff)
	}
	if _, err := parseStatus([]byte("Name:\tx\n")); err == nil {
		t.Error("parseStatus accepted a status without VmRSS")
	}
}

func TestReplaceSection(t *testing.T) {
	block := func(s string) string { return BeginMarker + "\n" + s + "\n" + EndMarker }
	tests := []struct {
		name, doc, want string
		wantErr         bool
	}{
		{name: "empty doc", doc: "", want: block("new") + "\n"},
		{name: "appended after notes", doc: "# Results\nnotes", want: "# Results\nnotes\n\n" + block("new") + "\n"},
		{name: "replaced, notes kept", doc: "# R\n" + block("old") + "\nanalysis\n", want: "# R\n" + block("new") + "\nanalysis\n"},
		{name: "unpaired", doc: EndMarker + BeginMarker, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReplaceSection(tt.doc, "new\n")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
