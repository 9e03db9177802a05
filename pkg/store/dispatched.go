package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
)

// Finishing a dispatched event used to take two transactions (CreateRun,
// then FinishEvent), each an fsync on the single SQLite writer; with many
// dispatch workers they queued behind each other and behind the webhook's
// commits (measured in bench/RESULTS.md, "Dispatch"). FinishDispatched does
// both in one request to the group committer, so it shares its commit with
// every other write waiting at the time.

// FinishDispatched records run (a no-op if a run with its ID exists) and
// moves event id to dispatched with reason, atomically. It returns
// ErrNotFound (wrapped) when there is no event id, and then records nothing.
func (s *DB) FinishDispatched(ctx context.Context, id int64, run *run.Run, reason string) error {
	if run == nil || run.ID == "" {
		return errors.New("finish dispatched: a run needs an ID (namespace/name)")
	}
	// The run is inserted only if the event exists, so a request for an
	// unknown event changes nothing and fails alone, without aborting the
	// batch it shares (groupcommit.go).
	err := s.rec.exec(ctx, false,
		stmt{q: s.qFinish, args: []any{string(event.Dispatched), reason, s.d.timeArg(s.ts()), id}, affected: one},
		stmt{q: s.qCreateRunIf, args: append(s.runArgs(run), id)},
	)
	if err != nil {
		return fmt.Errorf("finish dispatched event %d: %w", id, err)
	}
	return nil
}
