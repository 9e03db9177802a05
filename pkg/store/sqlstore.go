package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
)

// dialect is what differs between the SQL engines; the queries are written
// once with ? placeholders.
type dialect struct {
	name string
	// rebind rewrites ? placeholders into the engine's own.
	rebind func(q string) string
	// lockSkip ends the claim's inner SELECT; PostgreSQL replicas use it to
	// skip rows another replica is claiming right now.
	lockSkip string
	// claimIndex follows the table name in the claim's inner SELECT.
	claimIndex string
	// timeArg turns a time into the column's representation.
	timeArg func(t time.Time) any
	// eventID is the placeholder of a new event's id, which is NULL
	// unless the id was taken beforehand (early.go).
	eventID string
	// overriding follows the INSERT's column list where a given id must
	// override a GENERATED ALWAYS identity.
	overriding string
	// preallocate: an event's id is taken from the sequence before its
	// INSERT (PostgreSQL answers the INSERT only with its commit).
	preallocate bool
	// isUnique reports a unique index violation.
	isUnique func(err error) bool
	// lockKey, when set, takes a transaction-scoped lock named by its one
	// argument (AcquireRunSlot); SQLite's single writer needs none.
	lockKey string
}

// DB is the store over database/sql, for both engines. Open returns it
// concrete, so its whole method set is known at compile time: each caller
// takes the small interface it needs at construction.
type DB struct {
	d dialect
	// w takes every write; r serves reads. They are the same pool on
	// PostgreSQL and split on SQLite, which has a single writer.
	w, r  *sql.DB
	clock clock.PassiveClock
	// rec takes every write of the hot path (groupcommit.go).
	rec *committer
	// closeDB closes the pools once the committer has drained.
	closeDB func() error

	// Queries, rebound for the dialect once at open.
	qClaim, qFinish, qRetry, qLookup string
	qCreateRun, qUpdateRun, qGetRun  string
	// qCreateRunIf records a run only if its event exists (the last
	// argument), so FinishDispatched of an unknown event writes nothing.
	qCreateRunIf string
	insertMu     sync.Mutex
	inserts      map[int]string // multi-row INSERT by row count
	// qNextID returns a delivery's recorded id (0 if none) and a fresh id
	// from the sequence (dialect.preallocate).
	qNextID string
}

var (
	_ Events = (*DB)(nil)
	_ Runs   = (*DB)(nil)
)

const eventCols = "id, body, state, reason, attempts, last_error, received_at"

const runCols = "id, event_id, provider, kind, repo, project_id, app, ref, sha, mr_number, " +
	"state, reported, message, image_url, image_digest, created_at, started_at, finished_at"

// insertEventCols are the columns a new event row is written with, in the
// order eventRow.args returns them.
const insertEventCols = "id, provider, delivery, kind, action, repo, sha, ref, body, state, reason, " +
	"attempts, last_error, claimed_until, next_attempt_at, received_at, updated_at"

// insertEventPlaceholders follow the id's own (dialect.eventID).
const insertEventPlaceholders = ", ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?)"

const insertEventArgs = 16

// newSQLStore builds the store; flush is the engine's way of writing a
// batch (flushSQLite, flushPostgres), writers the number of batches that
// may be in flight at once.
func newSQLStore(d dialect, w, r *sql.DB, c clock.PassiveClock, closeDB func() error,
	flush func(*DB) flushFunc, writers int,
) *DB {
	s := &DB{d: d, w: w, r: r, clock: c, closeDB: closeDB, inserts: map[int]string{}}
	// A claim also moves next_attempt_at to the end of the lease: a leased
	// event is simply not due, so the claim reads the events_due index from
	// the first due row instead of stepping over every leased one.
	s.qClaim = d.rebind(`UPDATE events SET attempts = attempts + 1, claimed_until = ?, next_attempt_at = ?, updated_at = ?
		WHERE id IN (
			SELECT id FROM events` + d.claimIndex + `
			WHERE state = 'queued' AND next_attempt_at <= ?
			ORDER BY next_attempt_at, id
			LIMIT ?` + d.lockSkip + `)
		RETURNING ` + eventCols)
	s.qFinish = d.rebind(`UPDATE events SET state = ?, reason = ?, claimed_until = NULL, updated_at = ? WHERE id = ?`)
	s.qRetry = d.rebind(`UPDATE events SET last_error = ?, next_attempt_at = ?, claimed_until = NULL, updated_at = ?
		WHERE id = ? AND state = 'queued'`)
	s.qLookup = d.rebind(`SELECT id FROM events WHERE provider = ? AND delivery = ?`)
	s.qNextID = d.rebind(`SELECT COALESCE((SELECT id FROM events WHERE provider = ? AND delivery = ?), 0),
		nextval(pg_get_serial_sequence('events', 'id'))`)
	s.qCreateRun = d.rebind(`INSERT INTO runs (` + runCols + `, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`)
	s.qUpdateRun = d.rebind(`UPDATE runs SET state = ?, reported = ?, message = ?, image_url = ?, image_digest = ?,
		started_at = ?, finished_at = ?, updated_at = ? WHERE id = ? AND state = ? AND reported = ?`)
	s.qCreateRunIf = d.rebind(`INSERT INTO runs (` + runCols + `, updated_at)
		SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
		WHERE EXISTS (SELECT 1 FROM events WHERE id = ?) ON CONFLICT (id) DO NOTHING`)
	s.qGetRun = d.rebind(`SELECT ` + runCols + ` FROM runs WHERE id = ?`)
	s.rec = newCommitter(flush(s), writers)
	return s
}

// ts is the store's notion of now, at the microsecond precision both
// engines keep.
func (s *DB) ts() time.Time { return s.clock.Now().UTC().Truncate(time.Microsecond) }

func (s *DB) nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return s.d.timeArg(t.UTC().Truncate(time.Microsecond))
}

// eventRow is an event made ready for INSERT before it reaches the writer,
// so the writer goroutine spends its time on the database only.
type eventRow struct {
	provider, delivery string
	args               []any
}

// newEventRow prepares ev's INSERT. With a positive lease a queued event
// is written already claimed, as ClaimEvents would leave it.
func (s *DB) newEventRow(ev *event.Event, lease time.Duration) (eventRow, error) {
	if ev == nil {
		return eventRow{}, errors.New("record event: nil event")
	}
	if ev.Provider == "" || ev.Delivery == "" {
		return eventRow{}, fmt.Errorf("record event: provider (%q) and delivery id (%q) are both required", ev.Provider, ev.Delivery)
	}
	body := *ev
	// Bookkeeping lives in columns; keep the JSON to what the host sent.
	body.ID, body.State, body.Reason, body.Attempts, body.LastError, body.ReceivedAt = 0, "", "", 0, "", time.Time{}
	js, err := json.Marshal(&body)
	if err != nil {
		return eventRow{}, fmt.Errorf("record event: encode: %w", err)
	}
	state := event.Queued
	if ev.Action == event.Ignore {
		state = event.Ignored
	}
	ts := s.ts()
	now := s.d.timeArg(ts)
	attempts, claimedUntil, due := 0, any(nil), now
	if lease > 0 && state == event.Queued {
		attempts, claimedUntil = 1, s.d.timeArg(ts.Add(lease))
		due = claimedUntil
	}
	id := any(nil) // the database's next
	if ev.ID > 0 {
		id = ev.ID // taken beforehand (early.go)
	}
	return eventRow{
		provider: string(ev.Provider),
		delivery: ev.Delivery,
		args: []any{
			id, string(ev.Provider), ev.Delivery, string(ev.Kind), string(ev.Action), ev.Repo, ev.SHA, ev.Ref,
			string(js), string(state), ev.Reason, attempts, claimedUntil, due, now, now,
		},
	}, nil
}

func (s *DB) RecordEvent(ctx context.Context, ev *event.Event) (int64, bool, error) {
	return s.record(ctx, ev, 0)
}

func (s *DB) record(ctx context.Context, ev *event.Event, lease time.Duration) (int64, bool, error) {
	row, err := s.newEventRow(ev, lease)
	if err != nil {
		return 0, false, err
	}
	res, err := s.rec.do(ctx, &writeReq{row: &row})
	if err != nil {
		return 0, false, fmt.Errorf("record event %s/%s: %w", ev.Provider, ev.Delivery, err)
	}
	return res.id, res.dup, nil
}

// batchPlan is a batch turned into statements: one multi-row INSERT for
// the new events, then each request's own statements in order. res fills
// in as they run.
type batchPlan struct {
	stmts []stmt
	// owner[i] is the request stmts[i] belongs to; -1 for the INSERT,
	// whose callback errors fail the batch.
	owner []int
	res   []recordResult
	// lookups are the requests whose delivery was recorded before this
	// batch: their id is read after the commit.
	lookups []int
	// sameAs[i] = j: request i repeats the delivery of request j.
	sameAs map[int]int
	lazy   bool
}

func (s *DB) plan(reqs []*writeReq) *batchPlan {
	p := &batchPlan{res: make([]recordResult, len(reqs)), sameAs: map[int]int{}, lazy: true}
	type key struct{ provider, delivery string }
	first := map[key]int{}
	var fresh []int
	for i, r := range reqs {
		p.lazy = p.lazy && r.lazy
		if r.row == nil {
			continue
		}
		k := key{r.row.provider, r.row.delivery}
		if j, ok := first[k]; ok {
			p.sameAs[i] = j // a delivery twice in one batch: the first wins
			continue
		}
		first[k] = i
		fresh = append(fresh, i)
	}
	if len(fresh) > 0 {
		args := make([]any, 0, len(fresh)*insertEventArgs)
		for _, i := range fresh {
			args = append(args, reqs[i].row.args...)
		}
		p.stmts = append(p.stmts, stmt{q: s.insertSQL(len(fresh)), args: args, rows: func(rs rowScanner) error {
			inserted := make(map[key]int64, len(fresh))
			for rs.Next() {
				var (
					id int64
					k  key
				)
				if err := rs.Scan(&id, &k.provider, &k.delivery); err != nil {
					return fmt.Errorf("insert: %w", err)
				}
				inserted[k] = id
			}
			if err := rs.Err(); err != nil {
				return fmt.Errorf("insert: %w", err)
			}
			p.lookups = p.lookups[:0]
			for _, i := range fresh {
				if id, ok := inserted[key{reqs[i].row.provider, reqs[i].row.delivery}]; ok {
					p.res[i] = recordResult{id: id}
					if e := reqs[i].early; e != nil {
						select {
						case e <- id: // the first try's id; a retry's comes with done
						default:
						}
					}
					continue
				}
				p.lookups = append(p.lookups, i)
			}
			return nil
		}})
		p.owner = append(p.owner, -1)
	}
	for i, r := range reqs {
		for _, st := range r.stmts {
			p.stmts = append(p.stmts, st)
			p.owner = append(p.owner, i)
		}
	}
	return p
}

// fail records err as the outcome of statement k's request (the first
// error wins), or returns it when it fails the batch.
func (p *batchPlan) fail(k int, err error) error {
	if err == nil {
		return nil
	}
	i := p.owner[k]
	if i < 0 {
		return err
	}
	if p.res[i].err == nil {
		p.res[i].err = err
	}
	return nil
}

// finish completes the results after the commit: the ids of deliveries
// recorded before, and the repeats within the batch.
func (s *DB) finish(ctx context.Context, p *batchPlan, reqs []*writeReq) []recordResult {
	for _, i := range p.lookups {
		var id int64
		r := reqs[i].row
		// A reader suffices: the first delivery committed before ours
		// found it (a concurrent PostgreSQL insert is waited for).
		if err := s.r.QueryRowContext(ctx, s.qLookup, r.provider, r.delivery).Scan(&id); err != nil {
			p.res[i] = recordResult{err: fmt.Errorf("look up duplicate delivery %s/%s: %w", r.provider, r.delivery, err)}
			continue
		}
		p.res[i] = recordResult{id: id, dup: true}
	}
	for i, j := range p.sameAs {
		p.res[i] = recordResult{id: p.res[j].id, dup: true, err: p.res[j].err}
	}
	return p.res
}

// insertSQL is the INSERT of n events, built once per n.
func (s *DB) insertSQL(n int) string {
	s.insertMu.Lock()
	defer s.insertMu.Unlock()
	if q, ok := s.inserts[n]; ok {
		return q
	}
	var b strings.Builder
	b.WriteString("INSERT INTO events (" + insertEventCols + ")" + s.d.overriding + " VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(" + s.d.eventID + insertEventPlaceholders)
	}
	b.WriteString(" ON CONFLICT (provider, delivery) DO NOTHING RETURNING id, provider, delivery")
	q := s.d.rebind(b.String())
	s.inserts[n] = q
	return q
}

func (s *DB) ClaimEvents(ctx context.Context, limit int, lease time.Duration) ([]event.Event, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("claim events: limit must be positive, got %d", limit)
	}
	if lease <= 0 {
		return nil, fmt.Errorf("claim events: lease must be positive, got %s", lease)
	}
	now := s.ts()
	n := s.d.timeArg(now)
	until := s.d.timeArg(now.Add(lease))
	var evs []event.Event
	// Lazy: a claim lost to a power cut only means the event is claimed
	// again, and its PipelineRun's name makes that a no-op.
	err := s.rec.exec(ctx, true, stmt{q: s.qClaim, args: []any{until, until, n, n, limit}, rows: func(rs rowScanner) error {
		var err error
		evs, err = scanEvents(rs)
		return err
	}})
	if err != nil {
		return nil, fmt.Errorf("claim events: %w", err)
	}
	// RETURNING has no order; hand them out oldest first.
	slices.SortFunc(evs, func(a, b event.Event) int { return int(a.ID - b.ID) })
	return evs, nil
}

func (s *DB) FinishEvent(ctx context.Context, id int64, state event.State, reason string) error {
	switch state {
	case event.Dispatched, event.Ignored, event.Failed, event.Waiting:
	default:
		return fmt.Errorf("finish event %d: state %q is not final (want dispatched, waiting, ignored or failed)", id, state)
	}
	err := s.rec.exec(ctx, false, stmt{q: s.qFinish, args: []any{string(state), reason, s.d.timeArg(s.ts()), id}, affected: one})
	if err != nil {
		return fmt.Errorf("finish event %d: %w", id, err)
	}
	return nil
}

func (s *DB) RetryEvent(ctx context.Context, id int64, cause error, notBefore time.Time) error {
	msg := ""
	if cause != nil {
		msg = cause.Error()
	}
	// Zero rows: no such event, or it already reached a final state.
	err := s.rec.exec(ctx, false, stmt{q: s.qRetry, affected: one,
		args: []any{msg, s.d.timeArg(notBefore.UTC().Truncate(time.Microsecond)), s.d.timeArg(s.ts()), id}})
	if err != nil {
		return fmt.Errorf("retry event %d (queued): %w", id, err)
	}
	return nil
}

func affectedOne(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return nil
}

// one is the affected-rows check of a write to one existing row.
func one(n int64) error {
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

func (s *DB) ListEvents(ctx context.Context, f EventFilter) ([]event.Event, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("list events: negative limit %d", f.Limit)
	}
	switch f.State {
	case "", event.Queued, event.Dispatched, event.Ignored, event.Failed, event.Waiting:
	default:
		return nil, fmt.Errorf("list events: unknown state %q", f.State)
	}
	var w where
	w.add("repo = ?", f.Repo, f.Repo != "")
	w.add("state = ?", string(f.State), f.State != "")
	q := "SELECT " + eventCols + " FROM events" + w.String() + " ORDER BY id DESC" + limit(f.Limit)
	rows, err := s.r.QueryContext(ctx, s.d.rebind(q), w.args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	evs, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return evs, nil
}

func scanEvents(rows rowScanner) ([]event.Event, error) {
	var evs []event.Event
	for rows.Next() {
		var (
			ev   event.Event
			body []byte
			st   string
		)
		var id int64
		var reason, lastErr string
		var attempts int
		var received time.Time
		if err := rows.Scan(&id, &body, &st, &reason, &attempts, &lastErr, dbTime{&received}); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			return nil, fmt.Errorf("decode event %d: %w", id, err)
		}
		ev.ID, ev.State, ev.Reason, ev.Attempts, ev.LastError, ev.ReceivedAt = id, event.State(st), reason, attempts, lastErr, received
		evs = append(evs, ev)
	}
	return evs, rows.Err()
}

func (s *DB) CreateRun(ctx context.Context, r *run.Run) error {
	if r == nil || r.ID == "" {
		return errors.New("create run: a run needs an ID (namespace/name)")
	}
	if err := s.rec.exec(ctx, false, stmt{q: s.qCreateRun, args: s.runArgs(r)}); err != nil {
		return fmt.Errorf("create run %s: %w", r.ID, err)
	}
	return nil
}

// runArgs are the arguments of qCreateRun for r.
func (s *DB) runArgs(r *run.Run) []any {
	now := s.ts()
	created := r.CreatedAt
	if created.IsZero() {
		created = now
	}
	return []any{r.ID, r.EventID, string(r.Provider), string(r.Kind), r.Repo, r.ProjectID, r.App, r.Ref, r.SHA, r.MRNumber,
		string(r.State), string(r.Reported), r.Message, r.ImageURL, r.ImageDigest,
		s.nullTime(created), s.nullTime(r.StartedAt), s.nullTime(r.FinishedAt), s.d.timeArg(now)}
}

// UpdateRun is a compare-and-set: it stores r's state, message, times,
// image and Reported only if the stored run still has prev's State and
// Reported (prev is what the caller read), else it returns ErrConflict and
// stores nothing, so of two replicas acting on one change only one records
// it (and only that one goes on to notify). ErrNotFound when there is no
// run r.ID.
func (s *DB) UpdateRun(ctx context.Context, r *run.Run, prev run.Run) error {
	if r == nil || r.ID == "" {
		return errors.New("update run: a run needs an ID (namespace/name)")
	}
	err := s.rec.exec(ctx, false, stmt{q: s.qUpdateRun, affected: one, args: []any{
		string(r.State), string(r.Reported), r.Message, r.ImageURL, r.ImageDigest,
		s.nullTime(r.StartedAt), s.nullTime(r.FinishedAt), s.d.timeArg(s.ts()), r.ID,
		string(prev.State), string(prev.Reported)}})
	if errors.Is(err, ErrNotFound) {
		cur, gerr := s.GetRun(ctx, r.ID)
		switch {
		case gerr != nil:
			return fmt.Errorf("update run %s: %w", r.ID, gerr)
		default:
			return fmt.Errorf("update run %s: it is %s (reported %s), not %s (reported %s): %w",
				r.ID, cur.State, cur.Reported, prev.State, prev.Reported, ErrConflict)
		}
	}
	if err != nil {
		return fmt.Errorf("update run %s: %w", r.ID, err)
	}
	return nil
}

func (s *DB) GetRun(ctx context.Context, id string) (*run.Run, error) {
	rows, err := s.r.QueryContext(ctx, s.qGetRun, id)
	if err != nil {
		return nil, fmt.Errorf("get run %s: %w", id, err)
	}
	runs, err := scanRuns(rows)
	if err != nil {
		return nil, fmt.Errorf("get run %s: %w", id, err)
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("get run %s: %w", id, ErrNotFound)
	}
	return &runs[0], nil
}

func (s *DB) ListRuns(ctx context.Context, f RunFilter) ([]run.Run, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("list runs: negative limit %d", f.Limit)
	}
	var w where
	w.add("repo = ?", f.Repo, f.Repo != "")
	w.add("ref = ?", f.Ref, f.Ref != "")
	w.add("sha = ?", f.SHA, f.SHA != "")
	w.add("mr_number = ?", f.MRNumber, f.MRNumber != 0)
	w.add("state = ?", string(f.State), f.State != "")
	q := "SELECT " + runCols + " FROM runs" + w.String() + " ORDER BY created_at DESC, id DESC" + limit(f.Limit)
	rows, err := s.r.QueryContext(ctx, s.d.rebind(q), w.args...)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	runs, err := scanRuns(rows)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return runs, nil
}

func scanRuns(rows *sql.Rows) ([]run.Run, error) {
	defer rows.Close()
	var runs []run.Run
	for rows.Next() {
		var (
			r                               run.Run
			provider, kind, state, reported string
		)
		if err := rows.Scan(&r.ID, &r.EventID, &provider, &kind, &r.Repo, &r.ProjectID, &r.App, &r.Ref, &r.SHA, &r.MRNumber,
			&state, &reported, &r.Message, &r.ImageURL, &r.ImageDigest,
			dbTime{&r.CreatedAt}, dbTime{&r.StartedAt}, dbTime{&r.FinishedAt}); err != nil {
			return nil, err
		}
		r.Provider, r.Kind, r.State, r.Reported = event.Provider(provider), event.Kind(kind), run.State(state), run.State(reported)
		runs = append(runs, r)
	}
	return runs, rows.Err()
}

func (s *DB) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", s.d.name, err)
	}
	return nil
}

// Close waits for recorded events in flight to commit, then closes the
// database.
func (s *DB) Close() error {
	s.rec.close()
	return s.closeDB()
}

// where builds a WHERE clause from optional conditions.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, arg any, ok bool) {
	if ok {
		w.conds = append(w.conds, cond)
		w.args = append(w.args, arg)
	}
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

func limit(n int) string {
	if n == 0 {
		return ""
	}
	return " LIMIT " + strconv.Itoa(n)
}

// dbTime scans a time column of either engine: INTEGER microseconds
// (SQLite), TIMESTAMPTZ (PostgreSQL), or NULL (the zero time).
type dbTime struct{ t *time.Time }

func (d dbTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*d.t = time.Time{}
	case int64:
		*d.t = time.UnixMicro(v).UTC()
	case time.Time:
		*d.t = v.UTC()
	default:
		return fmt.Errorf("time column: unexpected %T", v)
	}
	return nil
}

// rebindDollar turns ? placeholders into $1, $2, … for PostgreSQL. The
// queries here have no ? inside string literals.
func rebindDollar(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}
