package promotion

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	"github.com/tektoncd/pipeline/pkg/client/informers/externalversions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/slipway-ci/slipway/pkg/release"
	"github.com/slipway-ci/slipway/pkg/rollout"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// memStore is an in-memory Store with the SQL engines' compare-and-set.
type memStore struct {
	mu     sync.Mutex
	proms  []release.Promotion
	deps   []release.Deployment
	audits []release.AuditEntry
}

var (
	_ Promotions = (*memStore)(nil)
	_ History    = (*memStore)(nil)
)

// activeBeside reports whether another promotion of p's app and
// environment holds the slot p would take (the SQL engines' unique index).
func (m *memStore) activeBeside(p *release.Promotion) bool {
	if !p.State.Active() {
		return false
	}
	return slices.ContainsFunc(m.proms, func(o release.Promotion) bool {
		return o.ID != p.ID && o.App == p.App && o.To == p.To && o.State.Active()
	})
}

func (m *memStore) CreatePromotion(_ context.Context, p *release.Promotion) error {
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

func clone(p release.Promotion) release.Promotion {
	p.PipelineRuns = slices.Clone(p.PipelineRuns)
	return p
}

func (m *memStore) UpdatePromotion(_ context.Context, p *release.Promotion, from ...release.PromotionState) error {
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

func (m *memStore) GetPromotion(_ context.Context, id int64) (*release.Promotion, error) {
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

func (m *memStore) ListPromotions(_ context.Context, f store.PromotionFilter) ([]release.Promotion, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []release.Promotion
	for i := len(m.proms) - 1; i >= 0; i-- {
		p := m.proms[i]
		if (f.App == "" || p.App == f.App) && (f.To == "" || p.To == f.To) && (f.State == "" || p.State == f.State) && (!f.Open || !p.State.Terminal()) {
			out = append(out, clone(p))
		}
	}
	return out, nil
}

func (m *memStore) RecordDeployment(_ context.Context, d *release.Deployment) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d.ID = int64(len(m.deps) + 1)
	d.DeployedAt = time.Now()
	m.deps = append(m.deps, *d)
	return nil
}

func (m *memStore) ListDeployments(_ context.Context, app, env string, _ int) ([]release.Deployment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []release.Deployment
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
	m.deps = slices.DeleteFunc(m.deps, func(d release.Deployment) bool { return d.App == app })
	return nil
}

func (m *memStore) DeployedApps(context.Context) (map[string][]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string][]string{}
	for _, d := range m.deps {
		if !slices.Contains(out[d.App], d.Env) {
			out[d.App] = append(out[d.App], d.Env)
		}
	}
	for _, envs := range out {
		slices.Sort(envs)
	}
	return out, nil
}

func (m *memStore) AppendAudit(_ context.Context, e *release.AuditEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e.ID = int64(len(m.audits) + 1)
	if e.At.IsZero() {
		e.At = time.Now()
	}
	m.audits = append(m.audits, *e)
	return nil
}

func (m *memStore) ListAudit(_ context.Context, f store.AuditFilter) ([]release.AuditEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []release.AuditEntry
	for i := len(m.audits) - 1; i >= 0; i-- {
		a := m.audits[i]
		if (f.App == "" || a.App == f.App) && (f.Actor == "" || a.Actor == f.Actor) && (f.PromotionID == 0 || a.PromotionID == f.PromotionID) {
			out = append(out, a)
		}
	}
	return out, nil
}

// annotations are deploy PipelineRun name's annotations, where the
// service signals a rollout.
func (e *env) annotations(name string) map[string]string {
	e.t.Helper()
	pr, err := e.tc.TektonV1().PipelineRuns(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return pr.Annotations
}

// waitAnnotation waits for annotation key of run name to be want.
func (e *env) waitAnnotation(name, key, want string) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for e.annotations(name)[key] != want {
		if time.Now().After(deadline) {
			e.t.Fatalf("PipelineRun %s: annotation %s never %q: %v", name, key, want, e.annotations(name))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// setProgress writes a progress line on a deploy PipelineRun, as the
// deploy pod does.
func (e *env) setProgress(name, line string) {
	e.t.Helper()
	body := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, rollout.AnnotationProgress, line)
	if _, err := e.tc.TektonV1().PipelineRuns(ns).Patch(context.Background(), name, types.MergePatchType, body, metav1.PatchOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// modeRun is a remove-canary or delete-app deploy run the service started.
type modeRun struct {
	Mode, Env, Cluster, Namespace, App string
}

// playModeRuns plays Tekton and the deploy pod for the deploy runs that
// are not rollouts: each ends with outcome (succeeded unless set) as soon
// as it is seen. It runs until the test ends.
func (e *env) playModeRuns(outcome, reason string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	e.t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			l, err := e.tc.TektonV1().PipelineRuns(ns).List(ctx, metav1.ListOptions{LabelSelector: tekton.LabelMode + "!=" + string(rollout.ModeRollout)})
			if err == nil {
				for i := range l.Items {
					pr := &l.Items[i]
					if len(pr.Status.Conditions) == 0 {
						e.finishWith(pr, outcome, reason)
					}
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
}

// modeRuns are the runs of mode m the service started, in name order.
func (e *env) modeRuns(m rollout.Mode) []modeRun {
	e.t.Helper()
	l, err := e.tc.TektonV1().PipelineRuns(ns).List(context.Background(), metav1.ListOptions{LabelSelector: tekton.LabelMode + "=" + string(m)})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []modeRun
	for _, pr := range l.Items {
		r := modeRun{Mode: string(m), Env: pr.Labels[tekton.LabelEnv], Cluster: pr.Labels[tekton.LabelCluster]}
		for _, prm := range pr.Spec.Params {
			switch prm.Name {
			case "namespace":
				r.Namespace = prm.Value.StringVal
			case "app":
				r.App = prm.Value.StringVal
			case "image":
				e.t.Errorf("%s run %s carries an image", m, pr.Name)
			}
		}
		out = append(out, r)
	}
	return out
}

// informersOf is a factory like the server's of the deploy namespace
// over tc: deploy runs in ns.
func informersOf(tc *fake.Clientset) externalversions.SharedInformerFactory {
	return externalversions.NewSharedInformerFactoryWithOptions(tc, 0, externalversions.WithNamespace(ns),
		externalversions.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = tekton.LabelPipeline + "=" + tekton.KindDeploy
		}))
}
