// Package promotion is the promotion service: it moves one image digest
// into one environment (promote, rollback, the automatic deploy after CI),
// asks for approval where the environment wants it, gates on provenance,
// copies by digest, rolls out cluster after cluster through deploy
// PipelineRuns, and writes every action to the audit log.
package promotion

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	listers "github.com/tektoncd/pipeline/pkg/client/listers/pipeline/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/slipway-ci/slipway/pkg/environment"
	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/logging"
	"github.com/slipway-ci/slipway/pkg/promote"
	"github.com/slipway-ci/slipway/pkg/provenance"
	"github.com/slipway-ci/slipway/pkg/release"
	"github.com/slipway-ci/slipway/pkg/rollout"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// Errors the API maps to status codes; each is wrapped with the reason.
var (
	// ErrNotFound: unknown app, environment or promotion (404).
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the request cannot be carried out as asked (400).
	ErrInvalid = errors.New("invalid request")
	// ErrForbidden: the caller's role may not do this (403).
	ErrForbidden = errors.New("forbidden")
	// ErrUnauthenticated: the API refused a request without a valid token
	// (401); it reaches the service only to be audited (RecordDenied).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrConflict: the promotion is not in a state that allows this, or it
	// moved meanwhile (409).
	ErrConflict = errors.New("conflict")
)

// Caller is who asks, as the API authenticated them. The service keeps
// the rules of who may do what (approve, abort another's promotion,
// delete an app); the API says what the caller's role allows.
type Caller struct {
	// Name is recorded as the actor, Role (e.g. "release-manager") beside it.
	Name, Role string
	// ReleaseManager: approves, promotes into environments that need
	// approval without waiting, continues rollouts there and aborts
	// others' promotions. Admin: also deletes apps.
	ReleaseManager, Admin bool
}

// Actor is who automatic actions are recorded as.
const Actor = "slipway"

// Promotions is where the service keeps promotions (*store.DB).
type Promotions interface {
	store.Promotions
}

// History is what the service records beside them: what each environment
// ran, and the audit log (*store.DB).
type History interface {
	store.Deployments
	store.Audit
}

// storePair keeps the two apart in the declaration but together at the call
// site (s.st.GetPromotion, s.st.AppendAudit).
type storePair struct {
	Promotions
	History
}

// Gate decides whether an image may be promoted (*promote.Gate).
type Gate interface {
	Check(ctx context.Context, image name.Digest, src promote.Source) (*provenance.Statement, error)
}

var _ Gate = (*promote.Gate)(nil)

// PolicyGate re-checks an image's dependencies at promotion time
// (*promote.PolicyGate): a *promote.PolicyRefusedError is a refusal.
type PolicyGate interface {
	Check(ctx context.Context, image name.Digest, app string) error
}

var _ PolicyGate = (*promote.PolicyGate)(nil)

// Options configure a Service.
type Options struct {
	// Namespace is where the deploy PipelineRuns run: the deploy
	// namespace (Slipway's own), where the kubeconfig Secrets they mount
	// live, never the builds namespace.
	Namespace string
	// SlipwayImage runs the deploy step; ServiceAccount the deploy TaskRuns.
	SlipwayImage   string
	ServiceAccount string
	// DeployTimeout bounds one deploy PipelineRun; 0 keeps Tekton's default.
	DeployTimeout time.Duration
	// Remote are the registry options (auth, transport) of every read and
	// copy.
	Remote []remote.Option
	// InsecureRegistries are spoken to over plain HTTP (CI's image registry
	// in local development; environments say so themselves).
	InsecureRegistries []string
	// Informers is the server's Tekton informer factory of Namespace, the
	// one place deploy PipelineRuns are read from while they run; required.
	Informers Informers
	// PollInterval is how often a followed rollout re-reads its promotion
	// (an abort through another replica) and its cached run; a change of
	// the run wakes it at once. Default 2s.
	PollInterval time.Duration
	// Clock stamps finished promotions and names deletions. Default: the
	// wall clock.
	Clock clock.PassiveClock
	// Policy re-checks images promoted into environments whose
	// policy.recheck is set; required when any is.
	Policy PolicyGate
	// Once makes the auto-deploy of a run happen once across replicas: an
	// insert-if-absent key per run (*store.DB). Default: none; the check
	// of earlier promotions alone, which two replicas can both pass.
	Once OnceKeys
	// GitCredentials names the Secret (.git-credentials, .gitconfig) the
	// deploy task clones an app's manifests with; "" clones anonymously.
	GitCredentials string
	// Notifier hears when a promotion waits for approval, was rolled back
	// or finished. Default: nobody.
	Notifier Notifier
	// Deployed lists the apps with deployments recorded, to find those
	// removed from the config. Default: the History, when it can
	// (*store.DB does); else no app outside the config is known.
	Deployed store.DeployedApps
}

// Notifier tells the team about a promotion; it must not block.
type Notifier interface {
	NotifyPromotion(ctx context.Context, ev release.PromotionEvent, p release.Promotion)
}

// OnceKeys records a key once: of concurrent callers, one gets true.
type OnceKeys interface {
	Once(ctx context.Context, scope, key string) (bool, error)
}

// onceAutoDeploy is the OnceKeys scope of auto-deploys, keyed by run id
// (migration 00013 fills it from earlier auto-deploys).
const onceAutoDeploy = "auto-deploy"

// Service runs promotions. It is a server.Component: Run resumes the
// running promotions and carries out the new ones.
type Service struct {
	cfg  *environment.Config
	st   storePair
	gate Gate
	tc   versioned.Interface
	o    Options

	wake    chan struct{}
	mu      sync.Mutex
	active  map[int64]bool
	running sync.WaitGroup
	clock   clock.PassiveClock

	// Deploy PipelineRuns, from the shared informer.
	lister  listers.PipelineRunLister
	synced  cache.InformerSynced
	changes runChanges

	// Apps removed from the config, as retireRemoved left them.
	removed removedApps
}

// New builds the service. It reaches no target cluster: rollouts, canary
// removals and app deletions are deploy PipelineRuns created with tc and
// followed through o.Informers.
func New(cfg *environment.Config, promos Promotions, hist History, gate Gate, tc versioned.Interface, o Options) (*Service, error) {
	if cfg == nil || promos == nil || hist == nil || gate == nil || tc == nil {
		return nil, errors.New("promotion service: config, stores, gate and tekton client are required")
	}
	if o.Namespace == "" || o.SlipwayImage == "" || o.Informers == nil {
		return nil, errors.New("promotion service: namespace, slipway image and informers are required")
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 2 * time.Second
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if d, ok := hist.(store.DeployedApps); ok && o.Deployed == nil {
		o.Deployed = d
	}
	if o.Policy == nil {
		for _, e := range cfg.Environments {
			if e.Policy.Recheck {
				return nil, fmt.Errorf("promotion service: environment %s re-checks the dependency policy, but no advisory feed is configured", e.Name)
			}
		}
	}
	s := &Service{cfg: cfg, st: storePair{promos, hist}, gate: gate, tc: tc, o: o,
		wake: make(chan struct{}, 1), active: map[int64]bool{}, clock: o.Clock,
		changes: runChanges{ch: map[string]chan struct{}{}}, removed: removedApps{state: map[string]release.RemovedApp{}}}
	if err := s.watchRuns(o.Informers); err != nil {
		return nil, err
	}
	return s, nil
}

// Request asks to promote App's digest from one environment to the next.
type Request struct {
	App  string `json:"app"`
	From string `json:"from,omitempty"`
	To   string `json:"to"`
	// Digest defaults to the one running in From.
	Digest string `json:"digest,omitempty"`
	// PolicyOverride, when set, is an admin's reason to promote although
	// the dependency policy re-check refuses; it is audited.
	PolicyOverride string `json:"policyOverride,omitempty"`
}

// maxOverrideReason bounds the reason kept in the audit log.
const maxOverrideReason = 500

// Promote moves req.Digest (default: the digest running in From) into To,
// which must be the environment right after From: an image reaches prod
// only through every environment before it. From defaults to the
// environment before To. The returned promotion is refused (with the
// gate's reason), awaiting approval (To needs approval and who is below
// release-manager) or running.
func (s *Service) Promote(ctx context.Context, who Caller, req Request) (*release.Promotion, error) {
	p, err := s.promote(ctx, who, req)
	if err != nil {
		s.audit(ctx, who, &release.AuditEntry{Action: "promote", App: req.App, From: req.From, To: req.To, Digest: req.Digest}, err)
	}
	return p, err
}

func (s *Service) promote(ctx context.Context, who Caller, req Request) (*release.Promotion, error) {
	req.PolicyOverride = strings.TrimSpace(req.PolicyOverride)
	if req.PolicyOverride != "" && !who.Admin {
		return nil, fmt.Errorf("%w: overriding the dependency policy needs the admin role; %s is a %s", ErrForbidden, who.Name, who.Role)
	}
	if len(req.PolicyOverride) > maxOverrideReason {
		return nil, fmt.Errorf("%w: the policy override reason is over %d bytes", ErrInvalid, maxOverrideReason)
	}
	app, ok := s.cfg.App(req.App)
	if !ok {
		return nil, fmt.Errorf("%w: unknown app %q", ErrNotFound, req.App)
	}
	to := s.cfg.Index(req.To)
	if to < 0 {
		return nil, fmt.Errorf("%w: unknown environment %q", ErrNotFound, req.To)
	}
	if to == 0 {
		return nil, fmt.Errorf("%w: %s is the first environment: successful CI runs on %s deploy to it", ErrInvalid, req.To, app.DeploysFrom("the default branch"))
	}
	if req.From == "" {
		req.From = s.cfg.Environments[to-1].Name
	}
	from := s.cfg.Index(req.From)
	switch {
	case from < 0:
		return nil, fmt.Errorf("%w: unknown environment %q", ErrNotFound, req.From)
	case from != to-1:
		return nil, fmt.Errorf("%w: %s does not come right after %s (order: %s); promote through every environment in between",
			ErrInvalid, req.To, req.From, s.order())
	}
	src, err := s.cfg.Target(app.Name, req.From)
	if err != nil {
		return nil, err
	}
	hist, err := s.st.ListDeployments(ctx, app.Name, req.From, 0)
	if err != nil {
		return nil, fmt.Errorf("reading what runs in %s: %w", req.From, err)
	}
	var from0 *release.Deployment
	for i, d := range hist {
		if req.Digest == "" || d.Digest == req.Digest {
			from0 = &hist[i]
			break
		}
	}
	if from0 == nil {
		if req.Digest == "" {
			return nil, fmt.Errorf("%w: nothing of %s has been deployed to %s yet", ErrInvalid, app.Name, req.From)
		}
		// The gate still looks first: "Slipway did not build this" is the
		// verdict a release manager needs for an image pushed by hand, and
		// it is recorded; "never ran there" is only a request error.
		p := &release.Promotion{Kind: release.KindPromote, App: app.Name, From: req.From, To: req.To,
			Digest: req.Digest, SourceImage: src.Repository + "@" + req.Digest, RequestedBy: who.Name}
		return s.startIf(ctx, who, p, src.Insecure, req.PolicyOverride,
			fmt.Errorf("%w: %s never ran in %s; only digests that did can be promoted from it", ErrInvalid, req.Digest, req.From))
	}
	p := &release.Promotion{Kind: release.KindPromote, App: app.Name, From: req.From, To: req.To,
		Digest: from0.Digest, SourceImage: src.Repository + "@" + from0.Digest, RequestedBy: who.Name}
	return s.startIf(ctx, who, p, src.Insecure, req.PolicyOverride, nil)
}

// Rollback brings back the previous distinct digest of app in env (the
// newest one in its history that differs from the one running). Nothing
// is copied: the image is already in env's registry. The gate and the
// approval rule apply as for a promotion into env.
func (s *Service) Rollback(ctx context.Context, who Caller, appName, env string) (*release.Promotion, error) {
	p, err := s.rollback(ctx, who, appName, env)
	if err != nil {
		s.audit(ctx, who, &release.AuditEntry{Action: "rollback", App: appName, To: env}, err)
	}
	return p, err
}

func (s *Service) rollback(ctx context.Context, who Caller, appName, env string) (*release.Promotion, error) {
	t, err := s.target(appName, env)
	if err != nil {
		return nil, err
	}
	hist, err := s.st.ListDeployments(ctx, appName, env, 0)
	if err != nil {
		return nil, fmt.Errorf("reading the history of %s in %s: %w", appName, env, err)
	}
	if len(hist) == 0 {
		return nil, fmt.Errorf("%w: nothing of %s has been deployed to %s", ErrInvalid, appName, env)
	}
	for _, d := range hist[1:] {
		if d.Digest == hist[0].Digest {
			continue
		}
		img := t.Repository + "@" + d.Digest
		p := &release.Promotion{Kind: release.KindRollback, App: appName, From: env, To: env, Digest: d.Digest,
			SourceImage: img, TargetImage: img, RequestedBy: who.Name}
		return s.start(ctx, who, p, t.Insecure)
	}
	return nil, fmt.Errorf("%w: %s has no earlier digest than %s in %s", ErrInvalid, appName, hist[0].Digest, env)
}

// AutoDeploy deploys the image of a successful CI run on an app's branch
// (App.DeploysFrom: its branch setting, else defaultBranch, the
// repository's default branch as the run's webhook payload said) to the
// first environment. Other runs are ignored (nil, nil); a run already
// deployed is not deployed twice.
func (s *Service) AutoDeploy(ctx context.Context, ciRun run.Run, defaultBranch string) (*release.Promotion, error) {
	app, ok := s.cfg.AppForRepo(ciRun.Repo)
	// A merge request's build is untrusted code, whatever its ref says:
	// it never deploys by itself.
	if !ok || ciRun.Kind == event.MergeRequest || ciRun.State != run.Succeeded || ciRun.Ref != "refs/heads/"+app.DeploysFrom(defaultBranch) || ciRun.ImageDigest == "" || ciRun.ImageURL == "" {
		return nil, nil
	}
	first := s.cfg.First().Name
	prev, err := s.st.ListPromotions(ctx, store.PromotionFilter{App: app.Name, To: first, Limit: 100})
	if err != nil {
		return nil, fmt.Errorf("looking for an earlier deploy of %s: %w", ciRun.ID, err)
	}
	for _, p := range prev {
		if p.Kind == release.KindAutoDeploy && p.RunID == ciRun.ID {
			return nil, nil
		}
	}
	if s.o.Once != nil {
		first, err := s.o.Once.Once(ctx, onceAutoDeploy, ciRun.ID)
		if err != nil {
			return nil, fmt.Errorf("claiming the auto-deploy of %s: %w", ciRun.ID, err)
		}
		if !first {
			return nil, nil // another replica (or an earlier call) deploys it
		}
	}
	repo := ciRun.ImageURL
	if i := strings.LastIndex(repo, "@"); i >= 0 {
		repo = repo[:i]
	}
	ref, err := name.ParseReference(repo, s.nameOpts(s.insecureRepo(repo))...)
	if err != nil {
		return nil, fmt.Errorf("image of run %s: %w", ciRun.ID, err)
	}
	who := Caller{Name: Actor}
	p := &release.Promotion{Kind: release.KindAutoDeploy, App: app.Name, To: first, Digest: ciRun.ImageDigest,
		SourceImage: ref.Context().String() + "@" + ciRun.ImageDigest, Commit: ciRun.SHA, RunID: ciRun.ID, RequestedBy: Actor}
	p, err = s.start(ctx, who, p, s.insecureRepo(repo))
	if err != nil {
		s.audit(ctx, who, &release.AuditEntry{Action: string(release.KindAutoDeploy), App: app.Name, To: first, Digest: ciRun.ImageDigest}, err)
	}
	return p, err
}

// start gates p's source image, decides whether it waits for approval,
// records it and, when it may run, queues it for its app's and
// environment's one rollout slot (see advance).
func (s *Service) start(ctx context.Context, who Caller, p *release.Promotion, insecure bool) (*release.Promotion, error) {
	return s.startIf(ctx, who, p, insecure, "", nil)
}

// startIf is start, except that when the gate lets p through, unmet (if
// not nil) is returned instead and nothing is recorded; a refusal is
// recorded either way. override is an admin's reason to pass a refusal
// of the dependency policy re-check ("" for none).
func (s *Service) startIf(ctx context.Context, who Caller, p *release.Promotion, insecure bool, override string, unmet error) (*release.Promotion, error) {
	app, _ := s.cfg.App(p.App)
	to, _ := s.cfg.Env(p.To)
	img, err := name.NewDigest(p.SourceImage, s.nameOpts(insecure)...)
	if err != nil {
		return nil, fmt.Errorf("%w: source image %q: %w", ErrInvalid, p.SourceImage, err)
	}
	st, err := s.gate.Check(ctx, img, promote.Source{Repo: app.Repo, CloneURL: app.CloneURL})
	var overridden *promote.PolicyRefusedError
	if err == nil && to.Policy.Recheck {
		// After provenance: an override never passes an image Slipway did
		// not build.
		err = s.o.Policy.Check(ctx, img, p.App)
		var pref *promote.PolicyRefusedError
		if errors.As(err, &pref) {
			if override != "" {
				overridden, err = pref, nil
			} else {
				err = &pref.RefusedError
			}
		}
	}
	var refused *promote.RefusedError
	switch {
	case errors.As(err, &refused):
		p.State, _ = release.Transition(release.New, release.ActionRefuse)
		p.Reason, p.FinishedAt = refused.Error(), s.clock.Now()
	case err != nil:
		return nil, fmt.Errorf("checking the provenance and dependencies of %s: %w", img, err)
	case unmet != nil:
		return nil, unmet
	default:
		_, p.Commit = st.Source()
		action := runnable(p.Kind)
		p.Progress = queuedProgress
		if to.Approval && !who.ReleaseManager {
			action, p.Progress = release.ActionAwaitApproval, "waiting for a release manager's approval"
		}
		p.State, _ = release.Transition(release.New, action)
	}
	if p.State == release.PromotionRunning && p.Kind == release.KindRollback {
		if err := s.rollbackMayStart(ctx, p); err != nil {
			return nil, err
		}
	}
	if err := s.st.CreatePromotion(ctx, p); err != nil {
		if errors.Is(err, store.ErrActive) {
			return nil, s.busy(ctx, p)
		}
		return nil, fmt.Errorf("recording the promotion: %w", err)
	}
	if overridden != nil {
		s.record(ctx, who, entry("policy-override", p), release.OutcomeSucceeded,
			fmt.Sprintf("overridden: %s (refused for %s)", override, overridden.IDs()))
	}
	if p.State == release.PromotionQueued {
		if p.Kind == release.KindAutoDeploy {
			s.supersede(ctx, p)
		}
		s.advance(ctx, p.App, p.To)
		if cur, err := s.st.GetPromotion(ctx, p.ID); err == nil {
			*p = *cur
		}
	}
	outcome, result := release.OutcomeAccepted, "accepted"
	switch p.State {
	case release.PromotionRefused:
		outcome, result = release.OutcomeRefused, "refused: "+p.Reason
	case release.PromotionAwaitingApproval:
		result = "accepted: awaiting approval"
	case release.PromotionQueued:
		result = "accepted: queued"
	}
	s.record(ctx, who, entry(string(p.Kind), p), outcome, result)
	if p.State == release.PromotionAwaitingApproval && s.o.Notifier != nil {
		s.o.Notifier.NotifyPromotion(ctx, release.EventApprovalPending, *p)
	}
	if p.State == release.PromotionRunning {
		s.kick()
	}
	return p, nil
}

// queuedProgress is the progress of a promotion waiting for its slot.
const queuedProgress = "queued: waiting for the active promotion of the app into the environment to end"

// runnable is the action that records a promotion that may run.
//
// One promotion per app and environment rolls out at a time (the store's
// ErrActive). Promotions and auto-deploys queue behind the active one and
// start in order: they name their digest, which stays right however long
// they wait. A rollback does not queue and is refused (409, naming the
// active promotion) instead: its digest is "the one before what runs
// now", which the active promotion is about to change, so a queued
// rollback would bring back the wrong one; aborting the active promotion
// is the way back meanwhile (its rollout rolls back by itself, a
// blue-green one in its scale-down delay switches back at once).
func runnable(k release.PromotionKind) release.Action {
	if k == release.KindRollback {
		return release.ActionStart
	}
	return release.ActionQueue
}

// busy is the conflict of p with the active promotion of its app and
// environment, read once.
func (s *Service) busy(ctx context.Context, p *release.Promotion) error {
	v, err := s.readSlot(ctx, p.App, p.To, false)
	if err != nil {
		return fmt.Errorf("%w: another promotion of %s into %s is active; try again when it ends", ErrConflict, p.App, p.To)
	}
	return v.busy(p)
}

// supersede aborts the queued auto-deploys of p's app and environment
// older than p: CI's newest image is what the first environment should
// run, and rolling out each older one first only delays it.
func (s *Service) supersede(ctx context.Context, p *release.Promotion) {
	queued, err := s.st.ListPromotions(ctx, store.PromotionFilter{App: p.App, To: p.To, State: release.PromotionQueued})
	if err != nil {
		logging.From(ctx).Warn("listing queued promotions to supersede", "app", p.App, "to", p.To, "err", err)
		return
	}
	for _, old := range queued {
		if old.Kind != release.KindAutoDeploy || old.ID >= p.ID {
			continue
		}
		prev := old.State
		var err error
		if old.State, err = release.Transition(prev, release.ActionSupersede); err != nil {
			continue
		}
		old.Reason = fmt.Sprintf("superseded by auto-deploy %d of %s", p.ID, p.Digest)
		old.FinishedAt = s.clock.Now()
		// A conflict: it started or was aborted meanwhile; it is left be.
		if err := s.st.UpdatePromotion(ctx, &old, prev); err == nil {
			s.audit(ctx, Caller{Name: Actor}, entry("supersede", &old), nil)
		}
	}
}

// rolloutInFlight names a deploy PipelineRun of app in env that has not
// ended ("" when none): an aborted promotion's rollout rolls back after
// the promotion itself ended, and nothing else may roll out beside it.
func (s *Service) rolloutInFlight(ctx context.Context, app, env string) (string, error) {
	runs, err := s.tc.TektonV1().PipelineRuns(s.o.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(labels.Set{tekton.LabelKind: tekton.KindDeploy, tekton.LabelApp: app, tekton.LabelEnv: env}).String(),
	})
	if err != nil {
		return "", fmt.Errorf("listing the deploy PipelineRuns of %s in %s: %w", app, env, err)
	}
	for i := range runs.Items {
		if st, _ := tekton.RunState(&runs.Items[i]); !st.Terminal() {
			return runs.Items[i].Name, nil
		}
	}
	return "", nil
}

// rollbackMayStart reads p's slot once and decides (slot.rollbackMayStart).
func (s *Service) rollbackMayStart(ctx context.Context, p *release.Promotion) error {
	v, err := s.readSlot(ctx, p.App, p.To, true)
	if err != nil {
		return err
	}
	return v.rollbackMayStart(p)
}

// advance starts the oldest queued promotion of app into env when none is
// active and no deploy PipelineRun of the app in env is still running (an
// aborted one rolls back after its promotion ended). The store arbitrates
// between replicas: the one that loses the race to start it gets
// ErrActive or ErrConflict and leaves it. Errors are logged; the worker's
// periodic scan tries again.
func (s *Service) advance(ctx context.Context, app, env string) {
	log := logging.From(ctx).With("app", app, "to", env)
	// One read, one decision, one compare-and-set write. Tekton is asked
	// only when something waits for a free slot.
	v, err := s.readSlot(ctx, app, env, false)
	if err == nil && v.active() == nil && v.next() != nil {
		v.inFlight, err = s.rolloutInFlight(ctx, app, env)
	}
	if err != nil {
		log.Warn("reading the rollout slot", "err", err)
		return
	}
	n := v.next()
	if n == nil {
		return
	}
	next := *n
	prev := next.State
	if next.State, err = release.Transition(prev, release.ActionStart); err != nil {
		log.Warn("starting a queued promotion", "promotion", next.ID, "err", err)
		return
	}
	next.Progress = "starting"
	err = s.st.UpdatePromotion(ctx, &next, prev)
	switch {
	case errors.Is(err, store.ErrActive), errors.Is(err, store.ErrConflict):
		return
	case err != nil:
		log.Warn("starting a queued promotion", "promotion", next.ID, "err", err)
		return
	}
	s.kick()
}

// Approve lets an awaiting promotion run; release managers and admins only.
func (s *Service) Approve(ctx context.Context, who Caller, id int64) (*release.Promotion, error) {
	p, err := s.transition(ctx, who, id, "approve", func(p *release.Promotion) ([]release.PromotionState, error) {
		if !who.ReleaseManager {
			return nil, fmt.Errorf("%w: approving needs the release-manager role; %s is a %s", ErrForbidden, who.Name, who.Role)
		}
		if p.State != release.PromotionAwaitingApproval {
			return nil, fmt.Errorf("%w: promotion %d is %s, not awaiting approval", ErrConflict, p.ID, p.State)
		}
		to, err := release.Transition(p.State, runnable(p.Kind))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConflict, err)
		}
		p.State, p.ApprovedBy, p.Progress = to, who.Name, "approved by "+who.Name+"; "+queuedProgress
		if p.State == release.PromotionRunning {
			p.Progress = "approved by " + who.Name
			if err := s.rollbackMayStart(ctx, p); err != nil {
				return nil, err
			}
		}
		return []release.PromotionState{release.PromotionAwaitingApproval}, nil
	})
	if err == nil && p.State == release.PromotionQueued {
		s.advance(ctx, p.App, p.To)
		if cur, gerr := s.st.GetPromotion(ctx, p.ID); gerr == nil {
			*p = *cur
		}
	}
	if err == nil {
		s.kick()
	}
	return p, err
}

// Abort stops a promotion that has not finished; a rollout in progress is
// told to roll back. The requester or a release manager may abort.
func (s *Service) Abort(ctx context.Context, who Caller, id int64) (*release.Promotion, error) {
	var wave int
	p, err := s.transition(ctx, who, id, "abort", func(p *release.Promotion) ([]release.PromotionState, error) {
		if p.RequestedBy != who.Name && !who.ReleaseManager {
			return nil, fmt.Errorf("%w: only the requester (%s) or a release manager may abort; %s is a %s", ErrForbidden, p.RequestedBy, who.Name, who.Role)
		}
		to, err := release.Transition(p.State, release.ActionAbort)
		if err != nil {
			return nil, fmt.Errorf("%w: promotion %d already %s", ErrConflict, p.ID, p.State)
		}
		wave = len(p.PipelineRuns)
		p.State, p.Reason, p.FinishedAt = to, "aborted by "+who.Name, s.clock.Now()
		// Any state an abort may leave: the worker moving it between
		// running and paused meanwhile does not make the abort a conflict.
		return release.Sources(release.ActionAbort), nil
	})
	if err != nil || wave == 0 {
		return p, err
	}
	// The worker stops at its next update (the state is no longer running)
	// and creates no further PipelineRun; the rollout itself rolls back on
	// the signal. The signal names the wave's PipelineRun: if its deploy
	// step has not started yet, it stops at its start instead of clearing
	// the abort as a stale one and rolling out.
	prName, terr := waveRun(p.PipelineRuns, wave-1)
	if terr == nil {
		terr = s.signal(ctx, prName, rollout.SignalAbort, p.Reason)
	}
	if terr != nil {
		return p, fmt.Errorf("promotion %d is aborted, but signalling its rollout failed (it may finish on its own): %w", p.ID, terr)
	}
	return p, nil
}

// Continue moves a canary that pauses "manual" to its next step. The same
// role may continue as may promote into the environment.
func (s *Service) Continue(ctx context.Context, who Caller, id int64) (*release.Promotion, error) {
	p, err := s.get(ctx, id)
	if err == nil {
		err = s.continueRollout(ctx, who, p)
	}
	if err != nil {
		e := &release.AuditEntry{Action: "continue", PromotionID: id}
		if p != nil {
			e = entry("continue", p)
		}
		s.audit(ctx, who, e, err)
		return p, err
	}
	s.audit(ctx, who, entry("continue", p), nil)
	return p, nil
}

func (s *Service) continueRollout(ctx context.Context, who Caller, p *release.Promotion) error {
	to, ok := s.cfg.Env(p.To)
	if ok && to.Approval && !who.ReleaseManager {
		return fmt.Errorf("%w: continuing a rollout into %s needs the release-manager role; %s is a %s", ErrForbidden, p.To, who.Name, who.Role)
	}
	if (p.State != release.PromotionRunning && p.State != release.PromotionPaused) || len(p.PipelineRuns) == 0 {
		return fmt.Errorf("%w: promotion %d is %s with no rollout in progress", ErrConflict, p.ID, p.State)
	}
	prName, err := waveRun(p.PipelineRuns, len(p.PipelineRuns)-1)
	if err != nil {
		return err
	}
	if err := s.signal(ctx, prName, rollout.SignalContinue, ""); err != nil {
		return fmt.Errorf("signalling the rollout of promotion %d: %w", p.ID, err)
	}
	return nil
}

// Get returns one promotion.
func (s *Service) Get(ctx context.Context, id int64) (*release.Promotion, error) {
	return s.get(ctx, id)
}

// List returns promotions, newest first.
func (s *Service) List(ctx context.Context, f store.PromotionFilter) ([]release.Promotion, error) {
	return s.st.ListPromotions(ctx, f)
}

// Audit returns audit entries, newest first.
func (s *Service) Audit(ctx context.Context, f store.AuditFilter) ([]release.AuditEntry, error) {
	return s.st.ListAudit(ctx, f)
}

func (s *Service) get(ctx context.Context, id int64) (*release.Promotion, error) {
	p, err := s.st.GetPromotion(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: no promotion %d", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("reading promotion %d: %w", id, err)
	}
	return p, nil
}

// transition reads promotion id, lets change check and modify it and name
// the states it may move from, stores it with compare-and-set, and audits.
func (s *Service) transition(ctx context.Context, who Caller, id int64, action string,
	change func(*release.Promotion) ([]release.PromotionState, error)) (*release.Promotion, error) {
	p, err := s.get(ctx, id)
	if err == nil {
		var from []release.PromotionState
		if from, err = change(p); err == nil {
			err = s.st.UpdatePromotion(ctx, p, from...)
			switch {
			case errors.Is(err, store.ErrConflict):
				err = fmt.Errorf("%w: promotion %d changed meanwhile; read it again", ErrConflict, id)
			case errors.Is(err, store.ErrActive):
				err = s.busy(ctx, p)
			}
		}
	}
	e := &release.AuditEntry{Action: action, PromotionID: id}
	if p != nil {
		e = entry(action, p)
	}
	s.audit(ctx, who, e, err)
	return p, err
}

func (s *Service) target(app, env string) (environment.Target, error) {
	if _, ok := s.cfg.App(app); !ok {
		return environment.Target{}, fmt.Errorf("%w: unknown app %q", ErrNotFound, app)
	}
	if _, ok := s.cfg.Env(env); !ok {
		return environment.Target{}, fmt.Errorf("%w: unknown environment %q", ErrNotFound, env)
	}
	return s.cfg.Target(app, env)
}

func (s *Service) order() string {
	names := make([]string, len(s.cfg.Environments))
	for i, e := range s.cfg.Environments {
		names[i] = e.Name
	}
	return strings.Join(names, " → ")
}

func (s *Service) nameOpts(insecure bool) []name.Option {
	if insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

// insecureRepo reports whether ref's registry is one of InsecureRegistries.
func (s *Service) insecureRepo(ref string) bool {
	for _, r := range s.o.InsecureRegistries {
		if strings.HasPrefix(ref, strings.TrimSuffix(r, "/")+"/") {
			return true
		}
	}
	return false
}

func entry(action string, p *release.Promotion) *release.AuditEntry {
	return &release.AuditEntry{Action: action, App: p.App, From: p.From, To: p.To, Digest: p.Digest, PromotionID: p.ID}
}

// audit appends e with who and the outcome of err: nil is succeeded;
// ErrForbidden and ErrUnauthenticated are theirs; any other failed.
func (s *Service) audit(ctx context.Context, who Caller, e *release.AuditEntry, err error) {
	switch {
	case err == nil:
		s.record(ctx, who, e, release.OutcomeSucceeded, "succeeded")
	case errors.Is(err, ErrForbidden):
		s.record(ctx, who, e, release.OutcomeForbidden, "forbidden: "+strings.TrimPrefix(err.Error(), ErrForbidden.Error()+": "))
	case errors.Is(err, ErrUnauthenticated):
		s.record(ctx, who, e, release.OutcomeUnauthenticated, err.Error())
	default:
		s.record(ctx, who, e, release.OutcomeFailed, "failed: "+err.Error())
	}
}

// record appends e with who, its outcome and the result in words.
// Auditing never fails the action (it already happened); a store error
// is logged.
func (s *Service) record(ctx context.Context, who Caller, e *release.AuditEntry, outcome release.Outcome, result string) {
	e.Actor, e.Role, e.Outcome, e.Result = who.Name, who.Role, outcome, result
	if e.Actor == "" {
		e.Actor = "anonymous"
	}
	if aerr := s.st.AppendAudit(context.WithoutCancel(ctx), e); aerr != nil {
		logging.From(ctx).Error("writing the audit log", "action", e.Action, "app", e.App, "actor", e.Actor, "err", aerr)
	}
}

func (s *Service) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
