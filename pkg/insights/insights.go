// Package insights computes the four DORA keys of each app and
// environment from Slipway's own records: deployment frequency, lead
// time for changes, change failure rate and time to restore. Nothing is
// sampled from outside: promotions say what was rolled out and how it
// ended, the CI run of a commit leads to the webhook event that carries
// the commit's timestamp, and the audit log says when a release manager
// approved.
package insights

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"k8s.io/utils/clock"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/release"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
)

// Source is the part of the store the keys are computed from
// (*store.DB is one).
type Source interface {
	ListPromotions(ctx context.Context, f store.PromotionFilter) ([]release.Promotion, error)
	ListAudit(ctx context.Context, f store.AuditFilter) ([]release.AuditEntry, error)
	ListRuns(ctx context.Context, f store.RunFilter) ([]run.Run, error)
	GetEvent(ctx context.Context, id int64) (*event.Event, error)
}

// ErrInvalid marks a query naming an app or environment the release
// configuration does not have.
var ErrInvalid = errors.New("invalid insights query")

const (
	// DefaultWindow is the period figures cover when none is asked for.
	DefaultWindow = 30 * 24 * time.Hour
	// DefaultFailureWindow is how soon after a rollout a rollback of the
	// same app and environment marks that rollout as a failed change.
	DefaultFailureWindow = 24 * time.Hour
	// maxPromotions bounds what one app and environment reads: far more
	// than MaxWindow holds at several deployments a day.
	maxPromotions = 10000
	// maxAudit bounds the audit entries read for approval times.
	maxAudit = 10000
)

// Query asks for the keys over [Now-Window, Now) of one app and
// environment, or of every one when App or Env is empty.
type Query struct {
	App, Env string
	Window   time.Duration
}

// Keys are the four figures of one app in one environment over a window.
type Keys struct {
	App, Env string
	From, To time.Time
	// Deployments is how many changes (promotions and auto-deploys, not
	// rollbacks) finished their rollout successfully in the window.
	Deployments int
	// PerDay is Deployments per 24 hours of the window.
	PerDay float64
	// Daily counts the deployments of each 24 hours from From on; the
	// last bucket may be shorter.
	Daily []int
	// LeadTime is the median, over the deployments whose commit time is
	// known (LeadTimes), of commit time → rollout finished.
	LeadTime  time.Duration
	LeadTimes []Sample
	// Changes is how many changes reached the clusters (a deploy
	// PipelineRun was started) and ended in the window; Failures of them
	// were rolled back by their rollout, aborted, or followed by a
	// rollback within the failure window.
	Changes, Failures int
	// ChangeFailureRate is Failures / Changes, 0 without changes.
	ChangeFailureRate float64
	// TimeToRestore is the median over Restores: how long each failure
	// left the environment on a failed change.
	TimeToRestore time.Duration
	Restores      []Sample
	// Unrestored counts failures with nothing deployed successfully since.
	Unrestored int
}

// Sample is one measured duration and what it belongs to.
type Sample struct {
	PromotionID int64
	Commit      string
	At          time.Time
	Duration    time.Duration
}

// Service computes keys for the apps and environments of a release
// configuration. Create it with New.
type Service struct {
	src           Source
	apps, envs    []string
	clock         clock.PassiveClock
	failureWindow time.Duration
}

// Option configures a Service.
type Option func(*Service)

// WithClock sets the clock "now" is read from. Default: the real clock.
func WithClock(c clock.PassiveClock) Option { return func(s *Service) { s.clock = c } }

// WithFailureWindow sets how soon a rollback must follow a rollout for the
// rollout to count as a failed change. Default: DefaultFailureWindow.
func WithFailureWindow(d time.Duration) Option {
	return func(s *Service) {
		if d > 0 {
			s.failureWindow = d
		}
	}
}

// New computes keys from src for apps × envs (the release configuration's,
// envs in promotion order), the only label values they are given under.
func New(src Source, apps, envs []string, opts ...Option) *Service {
	s := &Service{src: src, apps: slices.Clone(apps), envs: slices.Clone(envs),
		clock: clock.RealClock{}, failureWindow: DefaultFailureWindow}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Apps and Envs are the names keys are computed for, in configuration order.
func (s *Service) Apps() []string { return slices.Clone(s.apps) }
func (s *Service) Envs() []string { return slices.Clone(s.envs) }

// Compute returns the keys of q's apps and environments, apps in
// configuration order and each app's environments in promotion order.
// An unknown app or environment is ErrInvalid; a window outside
// [MinWindow, MaxWindow] too.
func (s *Service) Compute(ctx context.Context, q Query) ([]Keys, error) {
	if q.Window == 0 {
		q.Window = DefaultWindow
	}
	if q.Window < MinWindow || q.Window > MaxWindow {
		return nil, fmt.Errorf("%w: window %s is outside %s to %s", ErrInvalid, q.Window, MinWindow, MaxWindow)
	}
	apps, envs := s.apps, s.envs
	if q.App != "" {
		if !slices.Contains(s.apps, q.App) {
			return nil, fmt.Errorf("%w: no app %q in the release configuration", ErrInvalid, q.App)
		}
		apps = []string{q.App}
	}
	if q.Env != "" {
		if !slices.Contains(s.envs, q.Env) {
			return nil, fmt.Errorf("%w: no environment %q in the release configuration", ErrInvalid, q.Env)
		}
		envs = []string{q.Env}
	}
	now := s.clock.Now()
	commits := commitTimes{src: s.src, known: map[string]time.Time{}}
	var out []Keys
	for _, app := range apps {
		approved, err := s.approvals(ctx, app)
		if err != nil {
			return nil, err
		}
		for _, env := range envs {
			ps, err := s.src.ListPromotions(ctx, store.PromotionFilter{App: app, To: env, Limit: maxPromotions})
			if err != nil {
				return nil, fmt.Errorf("listing promotions of %s into %s: %w", app, env, err)
			}
			k, err := compute(ctx, history{app: app, env: env, promotions: ps, approved: approved,
				commitTime: commits.get, failureWindow: s.failureWindow}, now.Add(-q.Window), now)
			if err != nil {
				return nil, err
			}
			out = append(out, k)
		}
	}
	return out, nil
}

// approvals maps promotion ids of app to when a release manager approved them.
func (s *Service) approvals(ctx context.Context, app string) (map[int64]time.Time, error) {
	es, err := s.src.ListAudit(ctx, store.AuditFilter{App: app, Limit: maxAudit})
	if err != nil {
		return nil, fmt.Errorf("reading the audit log of %s: %w", app, err)
	}
	m := map[int64]time.Time{}
	for _, e := range es {
		if e.Action == "approve" && e.Outcome == release.OutcomeSucceeded && e.PromotionID != 0 {
			m[e.PromotionID] = e.At
		}
	}
	return m, nil
}

// commitTimes finds a commit's timestamp through a CI run of it and the
// webhook event that started that run, once per commit per Compute.
type commitTimes struct {
	src   Source
	known map[string]time.Time
}

func (c commitTimes) get(ctx context.Context, sha string) (time.Time, error) {
	if t, ok := c.known[sha]; ok {
		return t, nil
	}
	runs, err := c.src.ListRuns(ctx, store.RunFilter{SHA: sha, Limit: 5})
	if err != nil {
		return time.Time{}, fmt.Errorf("finding the CI runs of %s: %w", sha, err)
	}
	var t time.Time
	for _, r := range runs {
		ev, err := c.src.GetEvent(ctx, r.EventID)
		if errors.Is(err, store.ErrNotFound) {
			// Pruned by retention: the commit time is lost with it.
			continue
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("reading the event of run %s: %w", r.ID, err)
		}
		if !ev.CommitTime.IsZero() {
			t = ev.CommitTime
			break
		}
	}
	c.known[sha] = t
	return t, nil
}

// history is everything known of one app in one environment.
type history struct {
	app, env      string
	promotions    []release.Promotion
	approved      map[int64]time.Time
	commitTime    func(ctx context.Context, sha string) (time.Time, error)
	failureWindow time.Duration
}

// reached reports whether p's rollout reached a cluster and ended: a
// refused promotion or a failed copy changed nothing that runs.
func reached(p *release.Promotion) bool {
	switch p.State {
	case release.PromotionSucceeded:
		return true
	case release.PromotionFailed, release.PromotionAborted:
		return len(p.PipelineRuns) > 0
	}
	return false
}

func in(t, from, to time.Time) bool { return !t.Before(from) && t.Before(to) }

// compute derives the keys of h over [from, to).
func compute(ctx context.Context, h history, from, to time.Time) (Keys, error) {
	k := Keys{App: h.app, Env: h.env, From: from, To: to}
	days := int((to.Sub(from) + 24*time.Hour - 1) / (24 * time.Hour))
	k.Daily = make([]int, days)

	// Ended rollouts in the order they ended: the slot holds one at a time.
	var ended []*release.Promotion
	for i := range h.promotions {
		if p := &h.promotions[i]; reached(p) {
			ended = append(ended, p)
		}
	}
	sort.SliceStable(ended, func(i, j int) bool { return ended[i].FinishedAt.Before(ended[j].FinishedAt) })

	var leads, restores []time.Duration
	for i, p := range ended {
		if p.Kind == release.KindRollback || !in(p.FinishedAt, from, to) {
			continue
		}
		k.Changes++
		if p.State == release.PromotionSucceeded {
			k.Deployments++
			k.Daily[int(p.FinishedAt.Sub(from)/(24*time.Hour))]++
			if p.Commit != "" {
				ct, err := h.commitTime(ctx, p.Commit)
				if err != nil {
					return Keys{}, err
				}
				if !ct.IsZero() {
					// A committer's clock ahead of ours is no negative lead time.
					d := max(p.FinishedAt.Sub(ct), 0)
					leads = append(leads, d)
					k.LeadTimes = append(k.LeadTimes, Sample{PromotionID: p.ID, Commit: p.Commit, At: p.FinishedAt, Duration: d})
				}
			}
		}
		failed, down, restored := h.failure(ended, i)
		if !failed {
			continue
		}
		k.Failures++
		if restored.IsZero() {
			k.Unrestored++
			continue
		}
		d := restored.Sub(down)
		restores = append(restores, d)
		k.Restores = append(k.Restores, Sample{PromotionID: p.ID, Commit: p.Commit, At: restored, Duration: d})
	}
	if k.Changes > 0 {
		k.ChangeFailureRate = float64(k.Failures) / float64(k.Changes)
	}
	k.PerDay = float64(k.Deployments) / (to.Sub(from).Hours() / 24)
	k.LeadTime = median(leads)
	k.TimeToRestore = median(restores)
	return k, nil
}

// failure says whether ended[i] is a failed change, since when the
// environment suffered from it and when it was restored (zero: not yet).
//
// A rollout its deploy pod rolled back or someone aborted failed while it
// ran: from when it could start (created, approved, the slot freed by the
// rollout before) to its end, when stable was restored. A successful
// rollout followed within the failure window by a rollback, before any
// other change, failed from its end until the next successful rollout
// (normally that rollback).
func (h history) failure(ended []*release.Promotion, i int) (failed bool, down, restored time.Time) {
	p := ended[i]
	if p.State != release.PromotionSucceeded {
		down = p.CreatedAt
		if t, ok := h.approved[p.ID]; ok && t.After(down) {
			down = t
		}
		if i > 0 && ended[i-1].FinishedAt.After(down) {
			down = ended[i-1].FinishedAt
		}
		return true, down, p.FinishedAt
	}
	rolledBack := false
	for _, q := range h.promotions {
		if q.Kind == release.KindRollback && q.CreatedAt.After(p.FinishedAt) && q.CreatedAt.Sub(p.FinishedAt) <= h.failureWindow && !h.changedBetween(ended, p.FinishedAt, q.CreatedAt) {
			rolledBack = true
			break
		}
	}
	if !rolledBack {
		return false, time.Time{}, time.Time{}
	}
	for _, q := range ended[i+1:] {
		if q.State == release.PromotionSucceeded {
			return true, p.FinishedAt, q.FinishedAt
		}
	}
	return true, p.FinishedAt, time.Time{}
}

// changedBetween reports whether another change finished its rollout
// successfully in (after, before): a later rollback then undoes that one.
func (h history) changedBetween(ended []*release.Promotion, after, before time.Time) bool {
	for _, q := range ended {
		if q.Kind != release.KindRollback && q.State == release.PromotionSucceeded && q.FinishedAt.After(after) && q.FinishedAt.Before(before) {
			return true
		}
	}
	return false
}

// median of ds, 0 for none; the mean of the middle two for an even count.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
