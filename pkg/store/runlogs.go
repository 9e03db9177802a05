package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/slipway-ci/slipway/pkg/event"
)

var _ RunLogs = (*DB)(nil)

const stepLogCols = "run_id, task, step, task_run, exit_code, log, truncated, size, started_at, finished_at, saved_at"

func (s *DB) SaveStepLog(ctx context.Context, l *StepLog) error {
	if l == nil || l.RunID == "" || l.Task == "" || l.Step == "" {
		return errors.New("save step log: run id, task and step are required")
	}
	// PostgreSQL TEXT refuses NUL bytes; a binary log line must not make
	// the whole log unsaveable.
	text := strings.ReplaceAll(l.Log, "\x00", "\uFFFD")
	now := s.ts()
	q := s.d.rebind(`INSERT INTO run_logs (` + stepLogCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (run_id, task, step) DO UPDATE SET task_run = excluded.task_run, exit_code = excluded.exit_code,
		log = excluded.log, truncated = excluded.truncated, size = excluded.size, started_at = excluded.started_at,
		finished_at = excluded.finished_at, saved_at = excluded.saved_at`)
	if _, err := s.w.ExecContext(ctx, q, l.RunID, l.Task, l.Step, l.TaskRun, l.ExitCode, text, l.Truncated, l.Size,
		s.nullTime(l.StartedAt), s.nullTime(l.FinishedAt), s.d.timeArg(now)); err != nil {
		return fmt.Errorf("save log of %s %s/%s: %w", l.RunID, l.Task, l.Step, err)
	}
	l.Log, l.SavedAt = text, now
	return nil
}

func (s *DB) ListStepLogs(ctx context.Context, runID string) ([]StepLog, error) {
	q := s.d.rebind(`SELECT ` + stepLogCols + ` FROM run_logs WHERE run_id = ? ORDER BY finished_at, started_at, task, step`)
	rows, err := s.r.QueryContext(ctx, q, runID)
	if err != nil {
		return nil, fmt.Errorf("list logs of %s: %w", runID, err)
	}
	out, err := scanStepLogs(rows)
	if err != nil {
		return nil, fmt.Errorf("list logs of %s: %w", runID, err)
	}
	return out, nil
}

func (s *DB) GetStepLog(ctx context.Context, runID, task, step string) (*StepLog, error) {
	q := s.d.rebind(`SELECT ` + stepLogCols + ` FROM run_logs WHERE run_id = ? AND task = ? AND step = ?`)
	rows, err := s.r.QueryContext(ctx, q, runID, task, step)
	if err != nil {
		return nil, fmt.Errorf("get log of %s %s/%s: %w", runID, task, step, err)
	}
	out, err := scanStepLogs(rows)
	if err != nil {
		return nil, fmt.Errorf("get log of %s %s/%s: %w", runID, task, step, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("log of %s %s/%s: %w", runID, task, step, ErrNotFound)
	}
	return &out[0], nil
}

func (s *DB) PruneStepLogs(ctx context.Context, olderThan time.Duration) (int64, error) {
	if olderThan <= 0 {
		return 0, fmt.Errorf("prune logs: the age must be positive, got %s", olderThan)
	}
	cutoff := s.ts().Add(-olderThan)
	// By run, so a run page never shows some of its steps' logs.
	q := s.d.rebind(`DELETE FROM run_logs WHERE run_id IN (
		SELECT run_id FROM run_logs GROUP BY run_id HAVING MAX(saved_at) < ?)`)
	res, err := s.w.ExecContext(ctx, q, s.d.timeArg(cutoff))
	if err != nil {
		return 0, fmt.Errorf("prune logs saved before %s: %w", cutoff, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune logs saved before %s: %w", cutoff, err)
	}
	return n, nil
}

func scanStepLogs(rows *sql.Rows) ([]StepLog, error) {
	defer rows.Close()
	var out []StepLog
	for rows.Next() {
		var l StepLog
		if err := rows.Scan(&l.RunID, &l.Task, &l.Step, &l.TaskRun, &l.ExitCode, &l.Log, &l.Truncated, &l.Size,
			dbTime{&l.StartedAt}, dbTime{&l.FinishedAt}, dbTime{&l.SavedAt}); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// EventGetter reads one recorded event; the web UI's re-run copies the
// event that started a run.
type EventGetter interface {
	GetEvent(ctx context.Context, id int64) (*event.Event, error)
}

var _ EventGetter = (*DB)(nil)

func (s *DB) GetEvent(ctx context.Context, id int64) (*event.Event, error) {
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT `+eventCols+` FROM events WHERE id = ?`), id)
	if err != nil {
		return nil, fmt.Errorf("get event %d: %w", id, err)
	}
	evs, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("get event %d: %w", id, err)
	}
	if len(evs) == 0 {
		return nil, fmt.Errorf("event %d: %w", id, ErrNotFound)
	}
	return &evs[0], nil
}
