package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
)

// openEngines opens a fresh store per engine: SQLite always, PostgreSQL
// when SLIPWAY_TEST_POSTGRES_URL names a server (in a schema of its own).
func openEngines(t *testing.T) map[string]*DB {
	t.Helper()
	ctx := context.Background()
	out := map[string]*DB{}
	open := func(name, url string) {
		st, err := Open(ctx, url)
		if err != nil {
			t.Fatalf("open %s: %v", name, err)
		}
		t.Cleanup(func() { st.Close() })
		out[name] = st
	}
	open("sqlite", "sqlite://"+filepath.Join(t.TempDir(), "slipway.db"))
	base := os.Getenv("SLIPWAY_TEST_POSTGRES_URL")
	if base == "" {
		return out
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "test_" + hex.EncodeToString(b[:])
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.Exec("DROP SCHEMA " + schema + " CASCADE") })
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	open("postgres", base+sep+"search_path="+schema)
	return out
}

func testEvent(delivery string) *event.Event {
	return &event.Event{Provider: event.GitHub, Kind: event.Push, Action: event.Build, Delivery: delivery,
		Repo: "acme/shop", Ref: "refs/heads/main", SHA: "3f786850e387550fdab836ed7e6dc881de23001b"}
}

// TestMixedBatch writes one batch holding every kind of request, the way
// the committer does when the webhook, the dispatcher and the reporter
// write at once, and checks each caller gets its own answer: a request
// that finds nothing fails alone and the rest commit.
func TestMixedBatch(t *testing.T) {
	ctx := context.Background()
	for name, s := range openEngines(t) {
		t.Run(name, func(t *testing.T) {
			oldID, _, err := s.RecordEvent(ctx, testEvent("old"))
			if err != nil {
				t.Fatal(err)
			}
			row := func(d string) *writeReq {
				r, err := s.newEventRow(testEvent(d), 0)
				if err != nil {
					t.Fatal(err)
				}
				return &writeReq{row: &r}
			}
			newRow, oldRow, newAgain := row("new"), row("old"), row("new")
			// Later than the rows' receive times, so both events are due.
			now := s.d.timeArg(s.ts().Add(time.Second))
			var claimed []event.Event
			claim := &writeReq{lazy: true, stmts: []stmt{{q: s.qClaim, args: []any{now, now, now, now, 10},
				rows: func(rs rowScanner) (err error) { claimed, err = scanEvents(rs); return err }}}}
			ghostRun := &run.Run{ID: "ns/ghost", EventID: 999999, Provider: event.GitHub, Repo: "acme/shop", State: run.Pending}
			reqs := []*writeReq{
				newRow,
				oldRow,   // recorded before: a duplicate
				newAgain, // twice in the batch: a duplicate of the first
				claim,
				{stmts: []stmt{ // FinishDispatched of an unknown event
					{q: s.qFinish, args: []any{"dispatched", "x", now, int64(999999)}, affected: one},
					{q: s.qCreateRunIf, args: append(s.runArgs(ghostRun), int64(999999))},
				}},
				{stmts: []stmt{{q: s.qUpdateRun, affected: one, args: []any{"failure", "", "", "", "", nil, nil, now, "ns/none", "pending", ""}}}},
			}
			for _, r := range reqs {
				r.ctx = ctx
			}
			var flush flushFunc
			switch name {
			case "sqlite":
				flush = flushSQLite(s)
			default:
				flush = flushPostgres(s)
			}
			res, err := flush(ctx, reqs)
			if err != nil {
				t.Fatalf("flush: %v", err)
			}
			type outcome struct {
				Dup      bool
				NotFound bool
			}
			var got []outcome
			for _, r := range res {
				got = append(got, outcome{r.dup, errors.Is(r.err, ErrNotFound)})
			}
			want := []outcome{{}, {Dup: true}, {Dup: true}, {}, {NotFound: true}, {NotFound: true}}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("outcomes (-want +got):\n%s", d)
			}
			for i, r := range res {
				if r.err != nil && !errors.Is(r.err, ErrNotFound) {
					t.Errorf("request %d: %v", i, r.err)
				}
			}
			if res[1].id != oldID || res[2].id != res[0].id || res[0].id == oldID {
				t.Errorf("ids: new %d, old again %d (want %d), new again %d (want %d)", res[0].id, res[1].id, oldID, res[2].id, res[0].id)
			}
			// The claim ran after the INSERT in the same transaction.
			var ids []int64
			slices.SortFunc(claimed, func(a, b event.Event) int { return int(a.ID - b.ID) })
			for _, ev := range claimed {
				ids = append(ids, ev.ID)
			}
			if d := cmp.Diff([]int64{oldID, res[0].id}, ids); d != "" {
				t.Errorf("claimed (-want +got):\n%s", d)
			}
			if _, err := s.GetRun(ctx, ghostRun.ID); !errors.Is(err, ErrNotFound) {
				t.Errorf("run of an unknown event: GetRun = %v, want ErrNotFound", err)
			}
		})
	}
}

// TestLazyClaimRestoresFullSync checks that a claim, committed without an
// fsync, leaves the SQLite writer fsyncing every later commit again.
func TestLazyClaimRestoresFullSync(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "slipway.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := st
	if _, _, err := s.RecordEvent(ctx, testEvent("a")); err != nil {
		t.Fatal(err)
	}
	evs, err := s.ClaimEvents(ctx, 5, time.Minute)
	if err != nil || len(evs) != 1 {
		t.Fatalf("ClaimEvents = %d, %v; want 1 event", len(evs), err)
	}
	var mode int
	if err := s.w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != 2 {
		t.Errorf("writer synchronous = %d after a lazy claim, want 2 (FULL)", mode)
	}
}

// TestLazyClaimStaysLocalPostgres checks that the asynchronous commit of a
// claim batch ends with it: the connection commits durably afterwards.
func TestLazyClaimStaysLocalPostgres(t *testing.T) {
	s, ok := openEngines(t)["postgres"]
	if !ok {
		t.Skip("SLIPWAY_TEST_POSTGRES_URL is not set")
	}
	ctx := context.Background()
	// One connection, so the check below runs where the claim ran.
	s.w.SetMaxOpenConns(1)
	if _, _, err := s.RecordEvent(ctx, testEvent("a")); err != nil {
		t.Fatal(err)
	}
	evs, err := s.ClaimEvents(ctx, 5, time.Minute)
	if err != nil || len(evs) != 1 {
		t.Fatalf("ClaimEvents = %d, %v; want 1 event", len(evs), err)
	}
	var mode string
	if err := s.w.QueryRowContext(ctx, "SHOW synchronous_commit").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "on" {
		t.Errorf("synchronous_commit = %q after a lazy claim, want on", mode)
	}
}
