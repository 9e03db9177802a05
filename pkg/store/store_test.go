package store_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/store/storetest"
)

const (
	postgresEnv = "SLIPWAY_TEST_POSTGRES_URL"
	// childEnv switches the test binary into the process the kill test
	// SIGKILLs; its value is the store URL.
	childEnv = "SLIPWAY_STORE_KILL_CHILD"
)

func TestMain(m *testing.M) {
	if url := os.Getenv(childEnv); url != "" {
		os.Exit(killChild(url))
	}
	os.Exit(m.Run())
}

func sqliteURL(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "slipway.db")
}

// postgresURL gives the test a schema of its own in the database named by
// SLIPWAY_TEST_POSTGRES_URL, dropped when the test ends.
func postgresURL(t testing.TB) string {
	base := os.Getenv(postgresEnv)
	if base == "" {
		t.Skipf("%s is not set: run `eval \"$(hack/postgres.sh up)\"` or `make integration` to test on PostgreSQL", postgresEnv)
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open %s: %v", postgresEnv, err)
	}
	t.Cleanup(func() { db.Close() })
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "test_" + hex.EncodeToString(b[:])
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

func TestStoreSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) string { return sqliteURL(t) })
}

func TestStorePostgres(t *testing.T) {
	storetest.Run(t, func(t *testing.T) string { return postgresURL(t) })
}

func TestOpenBadURL(t *testing.T) {
	tests := []struct {
		url, wantErr string
	}{
		{"mysql://root@localhost/slipway", `"mysql" is not supported: want sqlite://PATH, postgres:// or postgresql://`},
		{"slipway.db", "has no scheme"},
		{"sqlite://", "has no path"},
		{"sqlite://x.db?cache=shared", "parameters are not supported"},
		{"postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=1", "u:xxxxx@127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			s, err := store.Open(context.Background(), tt.url)
			if err == nil {
				s.Close()
				t.Fatal("Open: got nil error")
			}
			if !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("Open error = %q, want it to contain %q (and no password)", err, tt.wantErr)
			}
		})
	}
}

func TestStoreKillSQLite(t *testing.T) { testKill(t, sqliteURL(t)) }

func TestStoreKillPostgres(t *testing.T) { testKill(t, postgresURL(t)) }

func killEvent(delivery string) *event.Event {
	ev := storetest.Event(delivery)
	ev.SHA = fmt.Sprintf("%040x", delivery)
	ev.Ref = "refs/heads/" + delivery
	return ev
}

// killChild records events from several goroutines until it is killed,
// printing "id delivery" for each once RecordEvent has returned.
func killChild(url string) int {
	s, err := store.Open(context.Background(), url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			// Bounded, so a child whose parent died does not run forever.
			for i := range 100000 {
				d := fmt.Sprintf("kill-%d-%d", g, i)
				id, _, err := s.RecordEvent(context.Background(), killEvent(d))
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				_, err = fmt.Fprintf(os.Stdout, "%d %s\n", id, d)
				mu.Unlock()
				if err != nil {
					os.Exit(2) // the parent is gone
				}
			}
		})
	}
	wg.Wait()
	return 0
}

// testKill SIGKILLs a process that is recording events and checks that
// every event it was told was recorded is in the store, whole.
func testKill(t *testing.T, url string) {
	const atLeast = 300
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+url)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })

	printed := map[int64]string{}
	r := bufio.NewReader(out)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			// A line cut by the kill is not a promise.
			if err != io.EOF {
				t.Fatalf("read child: %v", err)
			}
			break
		}
		f := strings.Fields(line)
		id, perr := strconv.ParseInt(f[0], 10, 64)
		if len(f) != 2 || perr != nil {
			t.Fatalf("child printed %q", line)
		}
		printed[id] = f[1]
		if len(printed) == atLeast {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatalf("kill child: %v", err)
			}
		}
	}
	werr := cmd.Wait()
	if len(printed) < atLeast {
		t.Fatalf("child exited (%v) after %d events, before it was killed; stderr:\n%s", werr, len(printed), stderr.String())
	}
	t.Logf("child killed after printing %d ids", len(printed))

	s := storetest.Open(t, url)
	got, err := s.ListEvents(context.Background(), store.EventFilter{})
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	byID := map[int64]event.Event{}
	for _, e := range got {
		byID[e.ID] = e
	}
	missing := 0
	for id, d := range printed {
		e, ok := byID[id]
		if !ok {
			missing++
			t.Errorf("event %d (%s) was acknowledged but is not in the store", id, d)
			continue
		}
		want := *killEvent(d)
		want.ID, want.State, want.ReceivedAt = id, event.Queued, e.ReceivedAt
		if diff := cmp.Diff(want, e); diff != "" {
			t.Errorf("event %d (-want +got):\n%s", id, diff)
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged events lost", missing, len(printed))
	}
}

func BenchmarkRecordEvent(b *testing.B) {
	for _, e := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", sqliteURL}, {"postgres", postgresURL}} {
		// p1: one caller at a time (latency); p64: many webhooks at once
		// (throughput, where group commit batches).
		for _, par := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/p%d", e.name, par), func(b *testing.B) {
				s := storetest.Open(b, e.url(b))
				var n atomic.Int64
				b.SetParallelism(par)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					ctx := context.Background()
					for pb.Next() {
						ev := storetest.Event("bench-" + strconv.FormatInt(n.Add(1), 10))
						if _, _, err := s.RecordEvent(ctx, ev); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

// BenchmarkClaim measures the dispatcher's side of the queue. One op is
// one event: "claim" leases batches of 16; "claim+finish" also finishes
// each event, as the dispatcher does once its PipelineRun exists.
func BenchmarkClaim(b *testing.B) {
	for _, e := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", sqliteURL}, {"postgres", postgresURL}} {
		for _, finish := range []bool{false, true} {
			name := e.name + "/claim"
			if finish {
				name += "+finish"
			}
			b.Run(name, func(b *testing.B) {
				s := storetest.Open(b, e.url(b))
				ctx := context.Background()
				fill(b, s, b.N)
				b.ResetTimer()
				for done := 0; done < b.N; {
					evs, err := s.ClaimEvents(ctx, 16, time.Hour)
					if err != nil {
						b.Fatal(err)
					}
					if len(evs) == 0 {
						b.Fatalf("queue empty after %d of %d events", done, b.N)
					}
					for _, ev := range evs {
						if !finish {
							break
						}
						if err := s.FinishEvent(ctx, ev.ID, event.Dispatched, "bench"); err != nil {
							b.Fatal(err)
						}
					}
					done += len(evs)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

// fill records n events from 64 goroutines.
func fill(b *testing.B, s *store.DB, n int) {
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 64 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				if _, _, err := s.RecordEvent(context.Background(), storetest.Event("claim-"+strconv.FormatInt(i, 10))); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
