package store

import (
	"context"
	"fmt"
	"time"
)

// Table names the records retention prunes by age.
type Table string

const (
	// TableEvents: events that are no longer queued, by last update.
	TableEvents Table = "events"
	// TableRuns: finished runs (success, failure, canceled), by last update.
	TableRuns Table = "runs"
	// TableNotifications: sent or failed notifications, by last update.
	TableNotifications Table = "notifications"
	// TableAudit: audit entries, by time.
	TableAudit Table = "audit"
)

// Tables is every table Prune accepts.
var Tables = []Table{TableEvents, TableRuns, TableNotifications, TableAudit}

// pruneSelect picks one batch of a table's rows older than the cutoff.
// What is not finished (a queued event, a pending or running run, a
// pending notification) is never picked, whatever its age.
var pruneSelect = map[Table]string{
	TableEvents:        `SELECT id FROM events WHERE state <> 'queued' AND updated_at < ? ORDER BY updated_at, id LIMIT ?`,
	TableRuns:          `SELECT id FROM runs WHERE state IN ('success', 'failure', 'canceled') AND updated_at < ? ORDER BY updated_at, id LIMIT ?`,
	TableNotifications: `SELECT id FROM notifications WHERE state <> 'pending' AND updated_at < ? ORDER BY updated_at, id LIMIT ?`,
	TableAudit:         `SELECT id FROM audit WHERE at < ? ORDER BY at, id LIMIT ?`,
}

// Prune deletes the rows of table older than olderThan, batch rows per
// statement so no transaction holds the writer for long, and returns how
// many went. It stops at the first error, returning what was deleted.
func (s *DB) Prune(ctx context.Context, table Table, olderThan time.Duration, batch int) (int64, error) {
	sel, ok := pruneSelect[table]
	if !ok {
		return 0, fmt.Errorf("prune: unknown table %q", table)
	}
	if olderThan <= 0 || batch <= 0 {
		return 0, fmt.Errorf("prune %s: age and batch must be positive, got %s and %d", table, olderThan, batch)
	}
	cutoff := s.d.timeArg(s.ts().Add(-olderThan))
	q := s.d.rebind(`DELETE FROM ` + string(table) + ` WHERE id IN (` + sel + `)`)
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := s.pruneBatch(ctx, table, q, cutoff, batch)
		total += n
		if err != nil {
			return total, fmt.Errorf("prune %s: %w", table, err)
		}
		if n < int64(batch) {
			return total, nil
		}
	}
}

func (s *DB) pruneBatch(ctx context.Context, table Table, q string, cutoff any, batch int) (int64, error) {
	if table != TableAudit {
		res, err := s.w.ExecContext(ctx, q, cutoff, batch)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}
	// The audit refuses deletes outside a transaction holding the
	// audit_pruning row (see the 00010 migration).
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_pruning (one) VALUES (1) ON CONFLICT DO NOTHING`); err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, q, cutoff, batch)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM audit_pruning`); err != nil {
		return 0, err
	}
	return n, tx.Commit()
}
