package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib" // also registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
)

const (
	// pgMaxConns bounds the pool: the group-commit writers, claimers,
	// readers and the migration lock.
	pgMaxConns = 16
	// pgWriters is the number of group-commit writers. More than one lets a
	// batch fill and commit while another waits for its fsync; PostgreSQL
	// then merges their WAL flushes too.
	pgWriters = 4
	// migrateLockKey is the advisory lock replicas take around migrations,
	// so that two starting at once migrate one after the other.
	migrateLockKey int64 = 0x736c69707761 // "slipwa"
)

var postgresDialect = dialect{
	name:   "postgres",
	rebind: rebindDollar,
	// Replicas claiming at once each skip the rows the other has locked
	// instead of waiting for them, so they share the queue.
	lockSkip:    " FOR UPDATE SKIP LOCKED",
	timeArg:     func(t time.Time) any { return t },
	eventID:     "COALESCE(?::bigint, nextval(pg_get_serial_sequence('events', 'id')))",
	overriding:  " OVERRIDING SYSTEM VALUE",
	preallocate: true,
	lockKey:     "SELECT pg_advisory_xact_lock(1936484720, hashtext($1))",
	isUnique: func(err error) bool {
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.Code == "23505"
	},
}

func openPostgres(ctx context.Context, url string, o options) (*DB, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open postgres %s: %w", redact(url), err)
	}
	db.SetMaxOpenConns(pgMaxConns)
	db.SetMaxIdleConns(pgMaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres %s: %w", redact(url), err)
	}
	if err := migratePostgres(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return newSQLStore(postgresDialect, db, db, o.clock, db.Close, flushPostgres, pgWriters), nil
}

// migratePostgres runs the migrations under a session advisory lock. The
// lock lives on its own connection and dies with it, so a replica killed
// mid-migration does not leave the others waiting.
func migratePostgres(ctx context.Context, db *sql.DB) (err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("postgres migrations: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
		return fmt.Errorf("postgres migrations: take lock: %w", err)
	}
	defer func() {
		if _, uerr := conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLockKey); uerr != nil && err == nil {
			err = fmt.Errorf("postgres migrations: release lock: %w", uerr)
		}
	}()
	return migrate(ctx, goose.DialectPostgres, db, "postgres")
}

// flushPostgres sends the whole batch as one pgx batch: one round trip,
// run by PostgreSQL in one implicit transaction that commits (durably,
// synchronous_commit being on) at its end, with no BEGIN and COMMIT round
// trips around it. A statement that fails rolls all of it back. A batch
// of lazy requests only (claims) commits asynchronously.
func flushPostgres(s *DB) flushFunc {
	return func(ctx context.Context, reqs []*writeReq) ([]recordResult, error) {
		p := s.plan(reqs)
		conn, err := s.w.Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("connection: %w", err)
		}
		defer conn.Close()
		err = conn.Raw(func(dc any) error {
			sc, ok := dc.(*stdlib.Conn)
			if !ok {
				return fmt.Errorf("unexpected driver connection %T", dc)
			}
			var b pgx.Batch
			if p.lazy {
				// Local to the batch's implicit transaction: its commit
				// does not wait for the WAL to reach the disk. A later
				// durable commit's flush covers it.
				b.Queue("SELECT set_config('synchronous_commit', 'off', true)")
			}
			for k, st := range p.stmts {
				qq := b.Queue(st.q, st.args...)
				switch {
				case st.rows != nil:
					qq.Query(func(rows pgx.Rows) error { return p.fail(k, st.rows(rows)) })
				case st.affected != nil:
					qq.Exec(func(ct pgconn.CommandTag) error { return p.fail(k, st.affected(ct.RowsAffected())) })
				}
			}
			return sc.Conn().SendBatch(ctx, &b).Close()
		})
		if err != nil {
			return nil, err
		}
		return s.finish(ctx, p, reqs), nil
	}
}
