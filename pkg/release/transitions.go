package release

import (
	"errors"
	"fmt"
)

// Action is what moves a promotion from one state to another.
type Action string

const (
	// ActionRefuse records a request the gate stopped.
	ActionRefuse Action = "refuse"
	// ActionAwaitApproval records a request that needs a release manager.
	ActionAwaitApproval Action = "await-approval"
	// ActionQueue records (or, approved, moves) a promotion to wait for
	// its app's and environment's rollout slot.
	ActionQueue Action = "queue"
	// ActionStart takes the slot: a rollback at once (it does not queue),
	// a queued promotion when the slot is free.
	ActionStart Action = "start"
	// ActionPause: a manual canary step waits for a continue.
	ActionPause Action = "pause"
	// ActionResume: the paused step was continued.
	ActionResume  Action = "resume"
	ActionSucceed Action = "succeed"
	ActionFail    Action = "fail"
	// ActionAbort: someone stopped it before it ended.
	ActionAbort Action = "abort"
	// ActionSupersede: a newer auto-deploy replaces a queued older one.
	ActionSupersede Action = "supersede"
)

// New is the state of a promotion not recorded yet.
const New PromotionState = ""

// transitions is the promotion state machine, the one place that says
// which action may move a promotion from which state, and where to. Any
// pair not listed is refused.
var transitions = map[PromotionState]map[Action]PromotionState{
	New: {
		ActionRefuse:        PromotionRefused,
		ActionAwaitApproval: PromotionAwaitingApproval,
		ActionQueue:         PromotionQueued,
		ActionStart:         PromotionRunning,
	},
	PromotionAwaitingApproval: {
		// Approved: a promotion queues, a rollback starts.
		ActionQueue: PromotionQueued,
		ActionStart: PromotionRunning,
		ActionAbort: PromotionAborted,
	},
	PromotionQueued: {
		ActionStart:     PromotionRunning,
		ActionAbort:     PromotionAborted,
		ActionSupersede: PromotionAborted,
	},
	PromotionRunning: {
		ActionPause:   PromotionPaused,
		ActionSucceed: PromotionSucceeded,
		ActionFail:    PromotionFailed,
		ActionAbort:   PromotionAborted,
	},
	PromotionPaused: {
		ActionResume:  PromotionRunning,
		ActionSucceed: PromotionSucceeded,
		ActionFail:    PromotionFailed,
		ActionAbort:   PromotionAborted,
	},
}

// ErrTransition is behind every refused transition.
var ErrTransition = errors.New("transition not allowed")

// Transition is the state action moves a promotion in state from to, or
// an error wrapping ErrTransition when the table has no such move.
func Transition(from PromotionState, a Action) (PromotionState, error) {
	if to, ok := transitions[from][a]; ok {
		return to, nil
	}
	name := string(from)
	if from == New {
		name = "new"
	}
	return from, fmt.Errorf("%w: cannot %s a promotion that is %s", ErrTransition, a, name)
}

// Sources are the states action may move a promotion from (New
// excluded), for a compare-and-set on the stored state.
func Sources(a Action) []PromotionState {
	var out []PromotionState
	for _, s := range []PromotionState{PromotionAwaitingApproval, PromotionQueued, PromotionRunning, PromotionPaused,
		PromotionSucceeded, PromotionFailed, PromotionRefused, PromotionAborted} {
		if _, ok := transitions[s][a]; ok {
			out = append(out, s)
		}
	}
	return out
}
