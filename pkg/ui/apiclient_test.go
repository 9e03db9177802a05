package ui

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/api/client"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
)

// The API client (and so `slipway logs`) reads this package's run stream:
// what it decodes must be what the stream sends.
func TestClientLogsOverTheStream(t *testing.T) {
	tests := []struct {
		name      string
		done      bool
		follow    bool
		want      []string
		wantState string
	}{
		// clone has finished, render is running: without --follow only
		// the finished step's log.
		{"running run", false, false, []string{"clone/clone saved\n"}, "running"},
		{"finished run", true, false, []string{"clone/clone saved\n", "generate-dockerfile/render from the pod\n"}, "failed"},
		{"finished run, followed", true, true, []string{"clone/clone saved\n", "generate-dockerfile/render from the pod\n"}, "failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, objects(tt.done))
			e.recordRun(run.Running)
			if err := e.logs.SaveStepLog(context.Background(), &store.StepLog{RunID: ns + "/" + runName, Task: "clone", Step: "clone", Log: "saved\n"}); err != nil {
				t.Fatal(err)
			}
			e.setPodLog("step-render", "from the pod\n")
			c, err := client.New(e.srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			var order []string
			state, err := c.Logs(context.Background(), ns+"/"+runName, tt.follow, func(ch client.LogChunk) error {
				if !ch.Reset {
					t.Errorf("chunk %+v: the first of each step must reset", ch)
				}
				got[ch.Task+"/"+ch.Step+" "+ch.Text] = true
				order = append(order, ch.Task+"/"+ch.Step+" "+ch.Text)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]bool{}
			for _, w := range tt.want {
				want[w] = true
			}
			// Steps are sent from their own goroutines: any order.
			if diff := cmp.Diff(want, got); diff != "" || len(order) != len(tt.want) {
				t.Errorf("chunks (-want +got):\n%s%q", diff, order)
			}
			if state != tt.wantState {
				t.Errorf("state %q, want %q", state, tt.wantState)
			}
		})
	}
}
