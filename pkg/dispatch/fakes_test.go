package dispatch

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/store"
)

// memStore is an in-memory event queue and run record with the semantics
// of store.Events/Runs that the dispatcher relies on.
type memStore struct {
	mu        sync.Mutex
	clock     *clocktesting.FakeClock
	nextID    int64
	events    map[int64]*event.Event
	notBefore map[int64]time.Time
	leased    map[int64]time.Time
	runs      map[string]run.Run
	// finished, when set, receives the id of every finished event.
	finished chan int64
	// claims counts ClaimEvents calls.
	claims int
	// beforeClaim, when set, runs before each claim (outside the lock).
	beforeClaim func()
}

var _ Store = (*memStore)(nil)

func newMemStore(c *clocktesting.FakeClock) *memStore {
	return &memStore{
		clock: c, events: map[int64]*event.Event{}, notBefore: map[int64]time.Time{},
		leased: map[int64]time.Time{}, runs: map[string]run.Run{},
	}
}

func (s *memStore) add(ev event.Event) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	ev.ID = s.nextID
	ev.State = event.Queued
	if ev.ReceivedAt.IsZero() {
		ev.ReceivedAt = s.clock.Now()
	}
	s.events[ev.ID] = &ev
	return ev.ID
}

func (s *memStore) get(id int64) event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.events[id]
}

// addClaimed records ev already claimed for lease, as the webhook's
// RecordClaimedEarly does, and returns it as handed over.
func (s *memStore) addClaimed(ev event.Event, lease time.Duration) *event.Event {
	id := s.add(ev)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.events[id]
	e.Attempts = 1
	s.leased[id] = s.clock.Now().Add(lease)
	out := *e
	return &out
}

func (s *memStore) claimCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.claims
}

// ClaimEvents behaves like the SQL store's shared commit: the claim is
// written whatever happens to ctx meanwhile, and a caller whose ctx ended
// gets the error, not the events.
func (s *memStore) ClaimEvents(ctx context.Context, limit int, lease time.Duration) ([]event.Event, error) {
	if s.beforeClaim != nil {
		s.beforeClaim()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		// Mirrors a claim cancelled while its batch commits: leased to nobody.
		s.claimLocked(limit, lease)
		return nil, err
	}
	return s.claimLocked(limit, lease), nil
}

func (s *memStore) claimLocked(limit int, lease time.Duration) []event.Event {
	s.claims++
	now := s.clock.Now()
	var ids []int64
	for id := range s.events {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var out []event.Event
	for _, id := range ids {
		ev := s.events[id]
		if len(out) == limit || ev.State != event.Queued || now.Before(s.notBefore[id]) || now.Before(s.leased[id]) {
			continue
		}
		ev.Attempts++
		s.leased[id] = now.Add(lease)
		out = append(out, *ev)
	}
	return out
}

func (s *memStore) FinishEvent(_ context.Context, id int64, state event.State, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev, ok := s.events[id]
	if !ok {
		return fmt.Errorf("event %d: %w", id, store.ErrNotFound)
	}
	ev.State, ev.Reason = state, reason
	delete(s.leased, id)
	if s.finished != nil {
		s.finished <- id
	}
	return nil
}

func (s *memStore) RetryEvent(_ context.Context, id int64, cause error, notBefore time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev, ok := s.events[id]
	if !ok {
		return fmt.Errorf("event %d: %w", id, store.ErrNotFound)
	}
	ev.LastError = cause.Error()
	s.notBefore[id] = notBefore
	delete(s.leased, id)
	return nil
}

// FinishDispatched records r and finishes event id, as *store.DB does in
// one transaction: nothing for an unknown event.
func (s *memStore) FinishDispatched(ctx context.Context, id int64, r *run.Run, reason string) error {
	s.mu.Lock()
	_, ok := s.events[id]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("event %d: %w", id, store.ErrNotFound)
	}
	if err := s.CreateRun(ctx, r); err != nil {
		return err
	}
	return s.FinishEvent(ctx, id, event.Dispatched, reason)
}

func (s *memStore) CreateRun(_ context.Context, r *run.Run) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.runs[r.ID]; !ok {
		s.runs[r.ID] = *r
	}
	return nil
}

// fakeSCM serves .slipway.yaml contents by SHA and counts reads.
type fakeSCM struct {
	mu    sync.Mutex
	files map[string]string // sha → content; missing = scm.ErrNotFound
	errs  []error           // returned, one per call, before any file
	reads map[string]int    // sha → ReadFile calls
}

var _ scm.Client = (*fakeSCM)(nil)

func newFakeSCM() *fakeSCM {
	return &fakeSCM{files: map[string]string{}, reads: map[string]int{}}
}

func (f *fakeSCM) ReadFile(_ context.Context, _ scm.Repo, sha, path string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if path != ".slipway.yaml" {
		return nil, fmt.Errorf("unexpected path %q", path)
	}
	f.reads[sha]++
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return nil, err
	}
	c, ok := f.files[sha]
	if !ok {
		return nil, scm.ErrNotFound
	}
	return []byte(c), nil
}

func (f *fakeSCM) SetStatus(context.Context, scm.Repo, scm.Status) error { return nil }

func (f *fakeSCM) readCount(sha string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads[sha]
}
