package report

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/store"
)

// memRuns is an in-memory store.Runs.
type memRuns struct {
	mu   sync.Mutex
	runs map[string]run.Run
	// failUpdates makes that many UpdateRun calls fail.
	failUpdates int
}

var _ store.Runs = (*memRuns)(nil)

func newMemRuns(runs ...run.Run) *memRuns {
	m := &memRuns{runs: map[string]run.Run{}}
	for _, r := range runs {
		m.runs[r.ID] = r
	}
	return m
}

func (m *memRuns) CreateRun(_ context.Context, r *run.Run) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.runs[r.ID]; !ok {
		m.runs[r.ID] = *r
	}
	return nil
}

func (m *memRuns) UpdateRun(_ context.Context, r *run.Run, prev run.Run) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.runs[r.ID]
	if !ok {
		return store.ErrNotFound
	}
	if cur.State != prev.State || cur.Reported != prev.Reported {
		return store.ErrConflict
	}
	if m.failUpdates > 0 {
		m.failUpdates--
		return errors.New("database is locked")
	}
	m.runs[r.ID] = *r
	return nil
}

func (m *memRuns) GetRun(_ context.Context, id string) (*run.Run, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.runs[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return &r, nil
}

func (m *memRuns) ListRuns(_ context.Context, f store.RunFilter) ([]run.Run, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []run.Run
	for _, r := range m.runs {
		if (f.Repo == "" || r.Repo == f.Repo) && (f.Ref == "" || r.Ref == f.Ref) &&
			(f.MRNumber == 0 || r.MRNumber == f.MRNumber) && (f.State == "" || r.State == f.State) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

func (m *memRuns) get(id string) (run.Run, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.runs[id]
	return r, ok
}

// call is one SetStatus the fake received.
type call struct {
	Repo   scm.Repo
	Status scm.Status
}

// fakeSCM records SetStatus calls and fails them with the queued errors
// for a SHA, one error per call, before succeeding.
type fakeSCM struct {
	mu    sync.Mutex
	calls []call
	fail  map[string][]error
}

var _ scm.Client = (*fakeSCM)(nil)

func (f *fakeSCM) ReadFile(context.Context, scm.Repo, string, string) ([]byte, error) {
	return nil, scm.ErrNotFound
}

func (f *fakeSCM) SetStatus(_ context.Context, repo scm.Repo, st scm.Status) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{Repo: repo, Status: st})
	if errs := f.fail[st.SHA]; len(errs) > 0 {
		f.fail[st.SHA] = errs[1:]
		return errs[0]
	}
	return nil
}

// callsFor returns the calls for one SHA, in order.
func (f *fakeSCM) callsFor(sha string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if c.Status.SHA == sha {
			out = append(out, c)
		}
	}
	return out
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline. The deadline only bounds a hang; nothing asserts on time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
