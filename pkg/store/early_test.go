package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/store/storetest"
)

type earlyStore interface {
	RecordClaimedEarly(ctx context.Context, ev *event.Event, lease time.Duration) (int64, func() (int64, bool, error), error)
}

func TestRecordClaimedEarlySQLite(t *testing.T)   { testRecordClaimedEarly(t, sqliteURL) }
func TestRecordClaimedEarlyPostgres(t *testing.T) { testRecordClaimedEarly(t, postgresURL) }

// The id told early is the id the event is committed under; a redelivery
// is told before any work could start; early and ordinary records, one at
// a time and many at once, never share an id.
func testRecordClaimedEarly(t *testing.T, fresh func(testing.TB) string) {
	ctx := context.Background()
	s := storetest.Open(t, fresh(t))
	var es earlyStore = s

	first, _, err := s.RecordEvent(ctx, storetest.Event("plain-1"))
	if err != nil {
		t.Fatal(err)
	}
	early, wait, err := es.RecordClaimedEarly(ctx, storetest.Event("early-1"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if early <= first {
		t.Fatalf("early id = %d, want one after %d", early, first)
	}
	id, dup, err := wait()
	if err != nil || dup || id != early {
		t.Fatalf("wait = %d, dup %v, %v; want %d, a new event", id, dup, err, early)
	}

	again, wait, err := es.RecordClaimedEarly(ctx, storetest.Event("early-1"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if again != 0 {
		t.Errorf("redelivery told early id %d; want 0 (no work may start)", again)
	}
	if id, dup, err := wait(); err != nil || !dup || id != early {
		t.Errorf("redelivery wait = %d, dup %v, %v; want %d, a duplicate", id, dup, err, early)
	}
	if _, _, err := es.RecordClaimedEarly(ctx, storetest.Event("no-lease"), 0); err == nil {
		t.Error("no lease: want an error")
	}

	// Many at once, early and ordinary mixed, share commits.
	const n = 40
	ids := make([]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ev := storetest.Event(fmt.Sprintf("burst-%02d", i))
			if i%2 == 0 {
				ids[i], _, errs[i] = s.RecordEvent(ctx, ev)
				return
			}
			early, wait, err := es.RecordClaimedEarly(ctx, ev, time.Minute)
			if err != nil {
				errs[i] = err
				return
			}
			got, _, err := wait()
			if err == nil && early != 0 && got != early {
				err = fmt.Errorf("early id %d, committed as %d", early, got)
			}
			ids[i], errs[i] = got, err
		})
	}
	wg.Wait()
	seen := map[int64]int{}
	for i, id := range ids {
		if errs[i] != nil {
			t.Fatalf("burst-%02d: %v", i, errs[i])
		}
		if j, ok := seen[id]; ok {
			t.Fatalf("burst-%02d and burst-%02d both got id %d", i, j, id)
		}
		seen[id] = i
	}
	evs, err := s.ListEvents(ctx, store.EventFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	byDelivery := map[string]int64{}
	for _, ev := range evs {
		byDelivery[ev.Delivery] = ev.ID
	}
	want := map[string]int64{"plain-1": first, "early-1": early}
	for i, id := range ids {
		want[fmt.Sprintf("burst-%02d", i)] = id
	}
	if d := cmp.Diff(want, byDelivery); d != "" {
		t.Errorf("stored ids (-want +got):\n%s", d)
	}
}
