package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite" // also registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite runs with one writer connection and a few reader connections:
//
//   - WAL lets readers (lists, the UI) run while the writer commits.
//   - synchronous=FULL fsyncs the WAL at every commit, so a recorded event
//     survives a power cut, not only a crash of the process; group commit
//     (groupcommit.go) pays that fsync once per batch, not once per event.
//   - A single writer means writes queue in Go instead of failing with
//     SQLITE_BUSY, and the claim needs no row locks: nothing else writes
//     while it runs. busy_timeout covers a second process on the same file
//     (an operator's CLI), and _txlock=immediate takes the write lock at
//     BEGIN so a transaction never fails to upgrade a read lock.
const (
	sqliteWriterParams = "_pragma=busy_timeout(10000)&_pragma=synchronous(FULL)&_txlock=immediate"
	sqliteReaderParams = "_pragma=busy_timeout(10000)&_pragma=query_only(1)"
	sqliteReaders      = 4
)

var sqliteDialect = dialect{
	name:   "sqlite",
	rebind: func(q string) string { return q },
	// Left to itself the planner takes events_state (an equality on state)
	// and sorts every queued row, leased ones included, on each claim.
	claimIndex: " INDEXED BY events_due",
	timeArg:    func(t time.Time) any { return t.UnixMicro() },
	eventID:    "?",
	isUnique: func(err error) bool {
		var se *sqlite.Error
		return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
	},
}

func openSQLite(ctx context.Context, path string, o options) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite store URL has no path: want sqlite://PATH, e.g. sqlite://slipway.db or sqlite:///var/lib/slipway/slipway.db")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite store path %q: parameters are not supported, the store sets its own", path)
	}
	w, err := sql.Open("sqlite", path+"?"+sqliteWriterParams)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := setWAL(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	if err := migrate(ctx, goose.DialectSQLite3, w, "sqlite"); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", path+"?"+sqliteReaderParams)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s for reading: %w", path, err)
	}
	r.SetMaxOpenConns(sqliteReaders)
	r.SetMaxIdleConns(sqliteReaders)
	closeDB := func() error {
		return errors.Join(r.Close(), w.Close())
	}
	return newSQLStore(sqliteDialect, w, r, o.clock, closeDB, flushSQLite, 1), nil
}

// setWAL switches the database file to WAL, which then sticks to the file.
// The switch needs the file to itself and SQLite answers SQLITE_BUSY
// without waiting when another process holds it (two processes creating
// the database at once), so it is retried for as long as busy_timeout.
func setWAL(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode)
		if err == nil && strings.EqualFold(mode, "wal") {
			return nil
		}
		if err == nil {
			return fmt.Errorf("journal_mode is %q, want wal", mode)
		}
		if !isBusy(err) || time.Now().After(deadline) {
			return fmt.Errorf("set journal_mode=WAL: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func isBusy(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		code := se.Code() & 0xff
		return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
	}
	return false
}

// sqliteWriter writes batches on the single writer connection with
// statements prepared once: modernc's SQLite otherwise parses every
// statement again on every call, which was about 30% of the CPU of a
// dispatch burst (BenchmarkDispatchCycle's profile).
type sqliteWriter struct {
	s *DB
	// stmts is only touched by the one writer goroutine.
	stmts map[string]*sql.Stmt
}

const (
	pragmaLazy    = "PRAGMA synchronous=NORMAL"
	pragmaDurable = "PRAGMA synchronous=FULL"
)

func flushSQLite(s *DB) flushFunc {
	w := &sqliteWriter{s: s, stmts: map[string]*sql.Stmt{}}
	return w.flush
}

// prepare prepares q on the writer pool, once. It must run while the
// writer connection is not held, or it would wait for itself.
func (w *sqliteWriter) prepare(ctx context.Context, q string) error {
	if _, ok := w.stmts[q]; ok {
		return nil
	}
	st, err := w.s.w.PrepareContext(ctx, q)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	w.stmts[q] = st
	return nil
}

// flush writes the batch in one transaction. A batch of lazy writes only
// (claims) commits with synchronous=NORMAL: in WAL mode that skips the
// fsync, and the next durable commit's fsync covers its frames too.
func (w *sqliteWriter) flush(ctx context.Context, reqs []*writeReq) ([]recordResult, error) {
	p := w.s.plan(reqs)
	for _, q := range []string{pragmaLazy, pragmaDurable} {
		if err := w.prepare(ctx, q); err != nil {
			return nil, err
		}
	}
	for _, st := range p.stmts {
		if err := w.prepare(ctx, st.q); err != nil {
			return nil, err
		}
	}
	conn, err := w.s.w.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("writer connection: %w", err)
	}
	defer conn.Close()
	if p.lazy {
		if _, err := conn.ExecContext(ctx, pragmaLazy); err != nil {
			return nil, fmt.Errorf("lazy commit: %w", err)
		}
		defer func() {
			if _, err := conn.ExecContext(context.WithoutCancel(ctx), pragmaDurable); err != nil {
				// Never leave the writer lazy: drop the connection, its
				// replacement opens with synchronous(FULL). The batch's
				// outcome stands either way.
				_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			}
		}()
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for k, st := range p.stmts {
		ts := tx.StmtContext(ctx, w.stmts[st.q])
		if st.rows != nil {
			rs, err := ts.QueryContext(ctx, st.args...)
			if err != nil {
				return nil, err
			}
			cbErr := st.rows(rs)
			if err := rs.Close(); err != nil {
				return nil, err
			}
			if err := p.fail(k, cbErr); err != nil {
				return nil, err
			}
			continue
		}
		res, err := ts.ExecContext(ctx, st.args...)
		if err != nil {
			return nil, err
		}
		if st.affected != nil {
			n, err := res.RowsAffected()
			if err != nil {
				return nil, err
			}
			if err := p.fail(k, st.affected(n)); err != nil {
				return nil, err
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return w.s.finish(ctx, p, reqs), nil
}
