package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// This file holds the keyed, conditional writes that make what Slipway
// sends or starts happen once whatever the number of replicas (migration
// 00013): commit status claims, insert-if-absent keys and the per-repo
// run slots.

// ErrDuplicate is returned when a write meets a key that is already taken:
// the thing it records was done (or is being done) by someone else.
var ErrDuplicate = errors.New("duplicate: already recorded")

// PostClaim is the outcome of ClaimStatusPost.
type PostClaim int

const (
	// PostClaimed: the caller holds the (run, state) post for the lease
	// and must MarkStatusPosted or ReleaseStatusPost.
	PostClaimed PostClaim = iota + 1
	// PostSent: the status was already posted; do not post it again.
	PostSent
	// PostHeld: another sender holds a live claim; look again later.
	PostHeld
)

// ClaimStatusPost claims the post of the commit status state for runID for
// lease long: the first caller, or one whose predecessor's claim ran out
// unsent, gets PostClaimed; everyone else PostSent or PostHeld.
func (s *DB) ClaimStatusPost(ctx context.Context, runID, state string, lease time.Duration) (PostClaim, error) {
	if runID == "" || state == "" || lease <= 0 {
		return 0, fmt.Errorf("claim status post: run id, state and a positive lease are required (got %q, %q, %s)", runID, state, lease)
	}
	now := s.ts()
	// One statement: on PostgreSQL a concurrent claimer of the same key
	// waits for this one's commit and then sees its claim; SQLite has one
	// writer.
	q := s.d.rebind(`INSERT INTO status_posts (run_id, state, claimed_until) VALUES (?, ?, ?)
		ON CONFLICT (run_id, state) DO UPDATE SET claimed_until = excluded.claimed_until
		WHERE status_posts.sent_at IS NULL AND (status_posts.claimed_until IS NULL OR status_posts.claimed_until <= ?)
		RETURNING run_id`)
	var got string
	err := s.w.QueryRowContext(ctx, q, runID, state, s.d.timeArg(now.Add(lease)), s.d.timeArg(now)).Scan(&got)
	switch {
	case err == nil:
		return PostClaimed, nil
	case !errors.Is(err, sql.ErrNoRows):
		return 0, fmt.Errorf("claim %s status post of %s: %w", state, runID, err)
	}
	var sent sql.NullString
	err = s.w.QueryRowContext(ctx, s.d.rebind(`SELECT CASE WHEN sent_at IS NULL THEN 'no' ELSE 'yes' END FROM status_posts WHERE run_id = ? AND state = ?`),
		runID, state).Scan(&sent)
	if err != nil {
		return 0, fmt.Errorf("claim %s status post of %s: reading the claim: %w", state, runID, err)
	}
	if sent.String == "yes" {
		return PostSent, nil
	}
	return PostHeld, nil
}

// MarkStatusPosted records that the status state of runID was posted; a
// later claim answers PostSent.
func (s *DB) MarkStatusPosted(ctx context.Context, runID, state string) error {
	now := s.d.timeArg(s.ts())
	res, err := s.w.ExecContext(ctx, s.d.rebind(`UPDATE status_posts SET sent_at = ?, claimed_until = NULL WHERE run_id = ? AND state = ?`),
		now, runID, state)
	if err != nil {
		return fmt.Errorf("mark %s status of %s posted: %w", state, runID, err)
	}
	return affectedOne(res, fmt.Sprintf("mark %s status of %s posted", state, runID))
}

// ReleaseStatusPost gives up an unsent claim (the post failed), so the
// next attempt, here or on another replica, may claim it at once.
func (s *DB) ReleaseStatusPost(ctx context.Context, runID, state string) error {
	_, err := s.w.ExecContext(ctx, s.d.rebind(`UPDATE status_posts SET claimed_until = NULL WHERE run_id = ? AND state = ? AND sent_at IS NULL`),
		runID, state)
	if err != nil {
		return fmt.Errorf("release %s status post of %s: %w", state, runID, err)
	}
	return nil
}

// Once records key in scope if it is absent and reports whether this
// call recorded it: of any number of concurrent callers exactly one gets
// true. The auto-deploy of a run uses scope "auto-deploy" and the run id.
func (s *DB) Once(ctx context.Context, scope, key string) (bool, error) {
	if scope == "" || key == "" {
		return false, fmt.Errorf("once: scope (%q) and key (%q) are required", scope, key)
	}
	res, err := s.w.ExecContext(ctx, s.d.rebind(`INSERT INTO once_keys (scope, key, created_at) VALUES (?, ?, ?) ON CONFLICT (scope, key) DO NOTHING`),
		scope, key, s.d.timeArg(s.ts()))
	if err != nil {
		return false, fmt.Errorf("once %s/%s: %w", scope, key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("once %s/%s: %w", scope, key, err)
	}
	return n == 1, nil
}

// AcquireRunSlot gives runID one of repo's limit running slots if fewer
// than limit are taken, and reports whether runID holds one (it may
// already). A limit of 0 or less takes the slot regardless: runs that
// are already running hold theirs. The count lives in the store, so
// replicas admitting at once never exceed the limit together.
func (s *DB) AcquireRunSlot(ctx context.Context, repo, runID string, limit int) (bool, error) {
	if repo == "" || runID == "" {
		return false, fmt.Errorf("acquire run slot: repo (%q) and run id (%q) are required", repo, runID)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("acquire run slot of %s: %w", runID, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if s.d.lockKey != "" {
		// READ COMMITTED would let two transactions count the same free
		// slot; the repo's advisory lock orders them. SQLite's one writer
		// (BEGIN IMMEDIATE) already does.
		if _, err := tx.ExecContext(ctx, s.d.lockKey, repo); err != nil {
			return false, fmt.Errorf("acquire run slot of %s: lock %s: %w", runID, repo, err)
		}
	}
	if limit <= 0 {
		limit = int(^uint32(0) >> 1)
	}
	_, err = tx.ExecContext(ctx, s.d.rebind(`INSERT INTO run_slots (run_id, repo, created_at)
		SELECT ?, ?, ? WHERE (SELECT COUNT(*) FROM run_slots WHERE repo = ?) < ?
		ON CONFLICT (run_id) DO NOTHING`), runID, repo, s.d.timeArg(s.ts()), repo, limit)
	if err != nil {
		return false, fmt.Errorf("acquire run slot of %s: %w", runID, err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT COUNT(*) FROM run_slots WHERE run_id = ?`), runID).Scan(&n); err != nil {
		return false, fmt.Errorf("acquire run slot of %s: %w", runID, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("acquire run slot of %s: %w", runID, err)
	}
	return n == 1, nil
}

// ReleaseRunSlot frees runID's slot, if it holds one.
func (s *DB) ReleaseRunSlot(ctx context.Context, runID string) error {
	if _, err := s.w.ExecContext(ctx, s.d.rebind(`DELETE FROM run_slots WHERE run_id = ?`), runID); err != nil {
		return fmt.Errorf("release run slot of %s: %w", runID, err)
	}
	return nil
}

// RunSlots returns the runs holding a slot of repo.
func (s *DB) RunSlots(ctx context.Context, repo string) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT run_id FROM run_slots WHERE repo = ? ORDER BY run_id`), repo)
	if err != nil {
		return nil, fmt.Errorf("run slots of %s: %w", repo, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("run slots of %s: %w", repo, err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// QueueStats is the depth of the event queue and the receive time of its
// oldest queued event (zero when empty), for the queue metrics.
func (s *DB) QueueStats(ctx context.Context) (depth int64, oldest time.Time, err error) {
	err = s.r.QueryRowContext(ctx, `SELECT COUNT(*), MIN(received_at) FROM events WHERE state = 'queued'`).Scan(&depth, dbTime{&oldest})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("queue stats: %w", err)
	}
	return depth, oldest, nil
}

// ForgetOnce removes key from scope, so that the next Once records it
// again: for a key taken before an action that then failed.
func (s *DB) ForgetOnce(ctx context.Context, scope, key string) error {
	if _, err := s.w.ExecContext(ctx, s.d.rebind(`DELETE FROM once_keys WHERE scope = ? AND key = ?`), scope, key); err != nil {
		return fmt.Errorf("forget once %s/%s: %w", scope, key, err)
	}
	return nil
}
