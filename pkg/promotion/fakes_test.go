package promotion

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/slipway-ci/slipway/pkg/environment"
	"github.com/slipway-ci/slipway/pkg/store"
)

// memStore is an in-memory Store with the SQL engines' compare-and-set.
type memStore struct {
	mu     sync.Mutex
	proms  []store.Promotion
	deps   []store.Deployment
	audits []store.AuditEntry
}

var _ Store = (*memStore)(nil)

// activeBeside reports whether another promotion of p's app and
// environment holds the slot p would take (the SQL engines' unique index).
func (m *memStore) activeBeside(p *store.Promotion) bool {
	if !p.State.Active() {
		return false
	}
	return slices.ContainsFunc(m.proms, func(o store.Promotion) bool {
		return o.ID != p.ID && o.App == p.App && o.To == p.To && o.State.Active()
	})
}

func (m *memStore) CreatePromotion(_ context.Context, p *store.Promotion) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.activeBeside(p) {
		return store.ErrActive
	}
	p.ID = int64(len(m.proms) + 1)
	p.CreatedAt, p.UpdatedAt = time.Now(), time.Now()
	m.proms = append(m.proms, clone(*p))
	return nil
}

func clone(p store.Promotion) store.Promotion {
	p.PipelineRuns = slices.Clone(p.PipelineRuns)
	return p
}

func (m *memStore) UpdatePromotion(_ context.Context, p *store.Promotion, from ...store.PromotionState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.proms {
		if m.proms[i].ID != p.ID {
			continue
		}
		if len(from) > 0 && !slices.Contains(from, m.proms[i].State) {
			return store.ErrConflict
		}
		if m.activeBeside(p) {
			return store.ErrActive
		}
		p.UpdatedAt = time.Now()
		m.proms[i] = clone(*p)
		return nil
	}
	return store.ErrNotFound
}

func (m *memStore) GetPromotion(_ context.Context, id int64) (*store.Promotion, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.proms {
		if p.ID == id {
			c := clone(p)
			return &c, nil
		}
	}
	return nil, store.ErrNotFound
}

func (m *memStore) ListPromotions(_ context.Context, f store.PromotionFilter) ([]store.Promotion, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Promotion
	for i := len(m.proms) - 1; i >= 0; i-- {
		p := m.proms[i]
		if (f.App == "" || p.App == f.App) && (f.To == "" || p.To == f.To) && (f.State == "" || p.State == f.State) {
			out = append(out, clone(p))
		}
	}
	return out, nil
}

func (m *memStore) RecordDeployment(_ context.Context, d *store.Deployment) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d.ID = int64(len(m.deps) + 1)
	d.DeployedAt = time.Now()
	m.deps = append(m.deps, *d)
	return nil
}

func (m *memStore) ListDeployments(_ context.Context, app, env string, _ int) ([]store.Deployment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Deployment
	for i := len(m.deps) - 1; i >= 0; i-- {
		if d := m.deps[i]; d.App == app && (env == "" || d.Env == env) {
			out = append(out, d)
		}
	}
	return out, nil
}

func (m *memStore) DeleteDeployments(_ context.Context, app string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.deps = slices.DeleteFunc(m.deps, func(d store.Deployment) bool { return d.App == app })
	return nil
}

func (m *memStore) AppendAudit(_ context.Context, e *store.AuditEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e.ID = int64(len(m.audits) + 1)
	if e.At.IsZero() {
		e.At = time.Now()
	}
	m.audits = append(m.audits, *e)
	return nil
}

func (m *memStore) ListAudit(_ context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.AuditEntry
	for i := len(m.audits) - 1; i >= 0; i-- {
		a := m.audits[i]
		if (f.App == "" || a.App == f.App) && (f.Actor == "" || a.Actor == f.Actor) && (f.PromotionID == 0 || a.PromotionID == f.PromotionID) {
			out = append(out, a)
		}
	}
	return out, nil
}

// signal is one call a fakeClusters received.
type signal struct {
	Cluster, Namespace, App string
	Signal                  Signal
	Rollout                 string
}

// fakeClusters records signals and deletions and reports a set progress.
type fakeClusters struct {
	mu       sync.Mutex
	signals  []signal
	deleted  []string
	removed  []string // canaries removed
	progress string
}

func (f *fakeClusters) Signal(_ context.Context, cl environment.Cluster, ns, app string, sig Signal, rollout, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signals = append(f.signals, signal{cl.Name, ns, app, sig, rollout})
	return nil
}

func (f *fakeClusters) Progress(context.Context, environment.Cluster, string, string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.progress, nil
}

func (f *fakeClusters) DeleteApp(_ context.Context, cl environment.Cluster, ns, app string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted = append(f.deleted, cl.Name+"/"+ns+"/"+app)
	return nil
}

func (f *fakeClusters) RemoveCanary(_ context.Context, cl environment.Cluster, t environment.Target) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, cl.Name+"/"+t.Namespace+"/"+t.Deployment)
	return nil
}

func (f *fakeClusters) gotRemoved() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.removed)
}

func (f *fakeClusters) gotSignals() []signal {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.signals)
}
