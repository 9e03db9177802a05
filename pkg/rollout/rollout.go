// Package rollout is the contract between Slipway's server and the deploy
// task's pod (`slipway deploy`): strategy and mode names, the annotations
// through which a running rollout is signalled and reports its progress,
// and the results the deploy Task writes. It imports nothing of Slipway's,
// so the server can speak it without linking the rollout engine.
package rollout

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Strategy names a rollout strategy.
type Strategy string

const (
	Rolling   Strategy = "rolling"
	BlueGreen Strategy = "bluegreen"
	Canary    Strategy = "canary"
)

// Valid reports whether s is one of the strategies.
func (s Strategy) Valid() bool { return s == Rolling || s == BlueGreen || s == Canary }

// Mode is what one run of the deploy task does.
type Mode string

const (
	// ModeRollout rolls an image out (the default).
	ModeRollout Mode = "rollout"
	// ModeRemoveCanary removes the canary (and its traffic share) a canary
	// rollout left when it was killed before cleaning up.
	ModeRemoveCanary Mode = "remove-canary"
	// ModeDeleteApp deletes what Slipway created for an app.
	ModeDeleteApp Mode = "delete-app"
	// ModeOrphans lists, changing nothing, the objects labelled for an
	// app that no app of the release config claims.
	ModeOrphans Mode = "orphans"
)

// Valid reports whether m is one of the modes.
func (m Mode) Valid() bool {
	return m == ModeRollout || m == ModeRemoveCanary || m == ModeDeleteApp || m == ModeOrphans
}

// PauseManual as a canary pause makes each step wait for a continue signal.
const PauseManual = "manual"

// Annotations through which a running rollout is steered and reports where
// it is. The deploy pod reads and writes them on two objects: the app's
// stable Deployment (blue-green: its Service) in the target cluster, for
// kubectl users, and its own deploy PipelineRun in Slipway's namespace,
// which is where the server signals and reads progress, so the server
// never reaches a target cluster.
const (
	// AnnotationContinue counts the continue signals given ("3"). A
	// rollout remembers the count it started with and each manual pause
	// waits for one more.
	AnnotationContinue = "slipway.dev/continue"
	// AnnotationAbort holds the reason of an abort; a running rollout rolls
	// back as on a failure. On the target object a rollout that starts
	// clears it, unless AnnotationAbortRollout names that very rollout; on
	// the PipelineRun it is always that rollout's.
	AnnotationAbort = "slipway.dev/abort"
	// AnnotationAbortRollout names the rollout (the deploy PipelineRun) an
	// abort on the target object is meant for; empty: whichever runs.
	AnnotationAbortRollout = "slipway.dev/abort-rollout"
	// AnnotationProgress is one line saying where the rollout is.
	AnnotationProgress = "slipway.dev/rollout-progress"
)

// Results of the deploy Task (and Pipeline).
const (
	ResultOutcome = "outcome"
	ResultReason  = "reason"
	// ResultObjects (delete-app) lists what was deleted, or would be.
	ResultObjects = "objects"
)

// Outcomes, the value of ResultOutcome.
const (
	OutcomeSucceeded  = "succeeded"
	OutcomeRolledBack = "rolled-back"
	OutcomeAborted    = "aborted"
	OutcomeFailed     = "failed"
)

// Signal is what a running rollout is told.
type Signal string

const (
	// SignalContinue ends the current manual pause of a canary.
	SignalContinue Signal = "continue"
	// SignalAbort rolls the rollout back, whichever strategy and step.
	SignalAbort Signal = "abort"
)

// SignalPatch is the annotation change (nil value: remove) that sends sig
// to a rollout whose object carries the annotations current. rolloutID
// (abort only) tags the abort for one rollout, "" for whichever runs;
// reason is required for an abort.
func SignalPatch(current map[string]string, sig Signal, rolloutID, reason string) (map[string]*string, error) {
	switch sig {
	case SignalContinue:
		n := Continues(current)
		v := strconv.Itoa(n + 1)
		return map[string]*string{AnnotationContinue: &v}, nil
	case SignalAbort:
		if reason == "" {
			return nil, errors.New("an abort needs a reason")
		}
		var tag *string
		if rolloutID != "" {
			tag = &rolloutID
		}
		return map[string]*string{AnnotationAbort: &reason, AnnotationAbortRollout: tag}, nil
	default:
		return nil, fmt.Errorf("unknown signal %q (want continue or abort)", sig)
	}
}

// Continues is the continue count in ann (0 when unset or unreadable).
func Continues(ann map[string]string) int {
	n, _ := strconv.Atoi(ann[AnnotationContinue])
	return n
}

// Abort returns the abort reason in ann and the rollout it is tagged for.
func Abort(ann map[string]string) (reason, rolloutID string, ok bool) {
	reason, ok = ann[AnnotationAbort]
	return reason, ann[AnnotationAbortRollout], ok
}

// Progress is the progress line in ann ("" before the first).
func Progress(ann map[string]string) string { return ann[AnnotationProgress] }

// Paused reports whether a progress line says the rollout waits for a
// continue signal (the deploy pod writes "paused at …").
func Paused(progress string) bool { return strings.Contains(strings.ToLower(progress), "paused") }
