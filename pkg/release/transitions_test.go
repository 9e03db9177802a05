package release

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var allStates = []PromotionState{New, PromotionAwaitingApproval, PromotionQueued, PromotionRunning, PromotionPaused,
	PromotionSucceeded, PromotionFailed, PromotionRefused, PromotionAborted}

var allActions = []Action{ActionRefuse, ActionAwaitApproval, ActionQueue, ActionStart, ActionPause, ActionResume,
	ActionSucceed, ActionFail, ActionAbort, ActionSupersede}

// Every state × action pair: the allowed ones land where the table says,
// every other one is refused and leaves the state as it was.
func TestTransition(t *testing.T) {
	allowed := map[[2]string]PromotionState{
		{"", "refuse"}:                 PromotionRefused,
		{"", "await-approval"}:         PromotionAwaitingApproval,
		{"", "queue"}:                  PromotionQueued,
		{"", "start"}:                  PromotionRunning,
		{"awaiting-approval", "queue"}: PromotionQueued,
		{"awaiting-approval", "start"}: PromotionRunning,
		{"awaiting-approval", "abort"}: PromotionAborted,
		{"queued", "start"}:            PromotionRunning,
		{"queued", "abort"}:            PromotionAborted,
		{"queued", "supersede"}:        PromotionAborted,
		{"running", "pause"}:           PromotionPaused,
		{"running", "succeed"}:         PromotionSucceeded,
		{"running", "fail"}:            PromotionFailed,
		{"running", "abort"}:           PromotionAborted,
		{"paused", "resume"}:           PromotionRunning,
		{"paused", "succeed"}:          PromotionSucceeded,
		{"paused", "fail"}:             PromotionFailed,
		{"paused", "abort"}:            PromotionAborted,
	}
	for _, from := range allStates {
		for _, a := range allActions {
			got, err := Transition(from, a)
			want, ok := allowed[[2]string{string(from), string(a)}]
			switch {
			case ok && (err != nil || got != want):
				t.Errorf("Transition(%q, %s) = %s, %v; want %s", from, a, got, err, want)
			case !ok && (!errors.Is(err, ErrTransition) || got != from):
				t.Errorf("Transition(%q, %s) = %s, %v; want refused", from, a, got, err)
			}
		}
	}
	// Nothing leaves a terminal state.
	for _, from := range allStates {
		if !from.Terminal() {
			continue
		}
		if len(transitions[from]) != 0 {
			t.Errorf("terminal state %s has transitions %v", from, transitions[from])
		}
	}
}

func TestSources(t *testing.T) {
	tests := []struct {
		a    Action
		want []PromotionState
	}{
		{ActionAbort, []PromotionState{PromotionAwaitingApproval, PromotionQueued, PromotionRunning, PromotionPaused}},
		{ActionStart, []PromotionState{PromotionAwaitingApproval, PromotionQueued}},
		{ActionSupersede, []PromotionState{PromotionQueued}},
		{ActionRefuse, nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, Sources(tt.a)); diff != "" {
			t.Errorf("Sources(%s) (-want +got):\n%s", tt.a, diff)
		}
	}
}
