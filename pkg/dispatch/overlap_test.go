package dispatch

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// A handed-over event's PipelineRun is created while its record commits;
// nothing is written about the event before the commit is known, and what
// the worker does then follows what the commit did.
func TestDispatchOverlapsTheCommit(t *testing.T) {
	type want struct {
		Runs     []string // PipelineRuns left, by event-id label
		Finished []int64
		Recorded int // runs in the store
		Outcome  bool
	}
	tests := []struct {
		name string
		// commit returns what the record's commit did, given the id of
		// the event in the store (0: not stored).
		stored bool
		commit func(stored int64) (int64, bool, error)
		handed func(stored int64) int64 // the id the worker is handed
		want   func(stored int64) want
	}{
		{
			name: "commit lands: run recorded, event finished", stored: true,
			commit: func(id int64) (int64, bool, error) { return id, false, nil },
			handed: func(id int64) int64 { return id },
			want: func(id int64) want {
				return want{Runs: []string{strconv.FormatInt(id, 10)}, Finished: []int64{id}, Recorded: 1, Outcome: true}
			},
		},
		{
			name: "commit fails: the run is deleted, nothing written", stored: false,
			commit: func(int64) (int64, bool, error) { return 0, false, errors.New("disk full") },
			handed: func(int64) int64 { return 41 },
			want:   func(int64) want { return want{} },
		},
		{
			name: "a redelivery after all: the first delivery's run stays, nothing written", stored: false,
			commit: func(int64) (int64, bool, error) { return 7, true, nil },
			handed: func(int64) int64 { return 41 },
			want:   func(int64) want { return want{Runs: []string{"41"}} },
		},
		{
			name: "committed under another id: the run is relabelled", stored: true,
			commit: func(id int64) (int64, bool, error) { return id, false, nil },
			handed: func(id int64) int64 { return id + 100 },
			want: func(id int64) want {
				return want{Runs: []string{strconv.FormatInt(id, 10)}, Finished: []int64{id}, Recorded: 1, Outcome: true}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.store.finished = make(chan int64, 4)
			ev := push("main", strings.Repeat("a", 40), "d1")
			var stored int64
			if tt.stored {
				stored = h.store.addClaimed(ev, time.Minute).ID
			}
			ev.ID, ev.Attempts, ev.State = tt.handed(stored), 1, event.Queued

			created := make(chan struct{})
			h.cs.PrependReactor("create", "pipelineruns", func(k8stesting.Action) (bool, runtime.Object, error) {
				close(created)
				return false, nil, nil
			})
			commit := make(chan struct{})
			recorded := func() (int64, bool, error) {
				<-commit
				return tt.commit(stored)
			}
			done := make(chan event.Outcome, 1)
			finished := make(chan struct{})
			go func() {
				h.d.handle(context.Background(), &ev, done, func() {}, recorded)
				close(finished)
			}()
			<-created // the create went out before the commit landed
			close(commit)
			<-finished

			var got want
			for _, pr := range h.runs(t) {
				got.Runs = append(got.Runs, pr.Labels[tekton.LabelEventID])
			}
			close(h.store.finished)
			for id := range h.store.finished {
				got.Finished = append(got.Finished, id)
			}
			got.Recorded = len(h.store.runs)
			select {
			case <-done:
				got.Outcome = true
			default:
			}
			if d := cmp.Diff(tt.want(stored), got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}
