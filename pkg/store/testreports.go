package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/slipway-ci/slipway/pkg/testreport"
)

var _ TestReports = (*DB)(nil)

// TestReports keeps the parsed unit-test results of runs.
type TestReports interface {
	// SaveTestReport replaces the run's report: saving the same report
	// again (another replica, a resync) leaves one copy.
	SaveTestReport(ctx context.Context, runID string, r *testreport.Report) error
	// GetTestReport returns the run's cases in the order they were saved,
	// or ErrNotFound when the run has no report.
	GetTestReport(ctx context.Context, runID string) (*testreport.Report, error)
	// TestHistory returns one test's results in the runs of repo and app,
	// newest first, at most limit.
	TestHistory(ctx context.Context, repo, app, suite, name string, limit int) ([]testreport.Outcome, error)
}

func (s *DB) SaveTestReport(ctx context.Context, runID string, r *testreport.Report) error {
	if runID == "" || r == nil {
		return errors.New("save test report: a run id and a report are required")
	}
	for _, c := range r.Cases {
		if !c.Status.Valid() {
			return fmt.Errorf("save test report of %s: test %q has status %q", runID, c.Name, c.Status)
		}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save test report of %s: %w", runID, err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, s.d.rebind(`DELETE FROM test_results WHERE run_id = ?`), runID); err != nil {
		return fmt.Errorf("save test report of %s: %w", runID, err)
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO test_reports (run_id, truncated, saved_at) VALUES (?, ?, ?)
		ON CONFLICT (run_id) DO UPDATE SET truncated = excluded.truncated, saved_at = excluded.saved_at`),
		runID, r.Truncated, s.d.timeArg(s.ts())); err != nil {
		return fmt.Errorf("save test report of %s: %w", runID, err)
	}
	ins, err := tx.PrepareContext(ctx, s.d.rebind(`INSERT INTO test_results (run_id, seq, suite, name, status, duration_ms, output)
		VALUES (?, ?, ?, ?, ?, ?, ?)`))
	if err != nil {
		return fmt.Errorf("save test report of %s: %w", runID, err)
	}
	defer func() { _ = ins.Close() }() // the transaction's end reports what matters
	for i, c := range r.Cases {
		if _, err := ins.ExecContext(ctx, runID, i, text(c.Suite), text(c.Name), string(c.Status), c.Time.Milliseconds(), text(c.Output)); err != nil {
			return fmt.Errorf("save test report of %s: test %q: %w", runID, c.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save test report of %s: %w", runID, err)
	}
	return nil
}

func (s *DB) GetTestReport(ctx context.Context, runID string) (*testreport.Report, error) {
	rep := &testreport.Report{Cases: []testreport.Case{}}
	err := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT truncated FROM test_reports WHERE run_id = ?`), runID).Scan(&rep.Truncated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("test report of %s: %w", runID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get test report of %s: %w", runID, err)
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT suite, name, status, duration_ms, output FROM test_results
		WHERE run_id = ? ORDER BY seq`), runID)
	if err != nil {
		return nil, fmt.Errorf("get test report of %s: %w", runID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var c testreport.Case
		var ms int64
		if err := rows.Scan(&c.Suite, &c.Name, &c.Status, &ms, &c.Output); err != nil {
			return nil, fmt.Errorf("get test report of %s: %w", runID, err)
		}
		c.Time = time.Duration(ms) * time.Millisecond
		rep.Cases = append(rep.Cases, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get test report of %s: %w", runID, err)
	}
	return rep, nil
}

// text makes s storable in both engines: PostgreSQL's text refuses NUL and
// invalid UTF-8, and a test's output may hold either.
func text(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// DefaultHistory is how many results TestHistory returns for a limit <= 0.
const DefaultHistory = 50

func (s *DB) TestHistory(ctx context.Context, repo, app, suite, name string, limit int) ([]testreport.Outcome, error) {
	if limit <= 0 {
		limit = DefaultHistory
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT r.id, r.sha, t.status, r.created_at
		FROM test_results t JOIN runs r ON r.id = t.run_id
		WHERE t.suite = ? AND t.name = ? AND r.repo = ? AND r.app = ?
		ORDER BY r.created_at DESC, r.id DESC, t.seq LIMIT ?`), suite, name, repo, app, limit)
	if err != nil {
		return nil, fmt.Errorf("history of test %s %s: %w", suite, name, err)
	}
	defer rows.Close()
	var out []testreport.Outcome
	for rows.Next() {
		var o testreport.Outcome
		if err := rows.Scan(&o.RunID, &o.SHA, &o.Status, dbTime{&o.At}); err != nil {
			return nil, fmt.Errorf("history of test %s %s: %w", suite, name, err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("history of test %s %s: %w", suite, name, err)
	}
	return out, nil
}
