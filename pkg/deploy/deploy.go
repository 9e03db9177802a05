// Package deploy runs one rollout of an image digest against a Kubernetes
// cluster with one of three strategies (rolling, blue-green, canary). Each
// strategy waits on real readiness and rolls back by itself on failure.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/slipway-ci/slipway/pkg/rollout"
)

// Labels Slipway puts on the objects it creates for a rollout.
const (
	// LabelColor is the blue-green colour ("blue" or "green") of a Deployment's
	// pods; the Service selector carries the active one.
	LabelColor = "slipway.dev/color"
	// LabelTrack is "canary" on the pods of a canary Deployment, so they can be
	// told apart from the stable ones behind the same Service.
	LabelTrack = "slipway.dev/track"
)

// Spec is one rollout.
type Spec struct {
	Strategy  rollout.Strategy
	Namespace string
	// App names the Deployment (rolling, canary's stable one) and the Service
	// (blue-green, canary); blue-green Deployments are App-blue and App-green.
	App string
	// Image is REPO@sha256:…; tags are refused so what runs is what was verified.
	Image string
	// RolloutID names this rollout (the deploy PipelineRun's name), so an
	// abort signalled for it before it started stops it rather than being
	// cleared as stale. Empty: only aborts signalled while it runs count.
	RolloutID string
	// RunNamespace is the namespace of the deploy PipelineRun named
	// RolloutID. Set, the rollout also takes its signals from that
	// PipelineRun's annotations and writes its progress there (it needs
	// WithRunClient): that is how the server steers it without reaching
	// the target cluster.
	RunNamespace string
	// Container is the container to set the image on; empty means the first.
	Container string
	// ProgressDeadline bounds each wait for readiness. Default 10m.
	ProgressDeadline time.Duration

	// SmokeURL (blue-green) is fetched once the idle colour is ready; any
	// answer but 2xx aborts before the switch.
	SmokeURL string
	// ScaleDownDelay (blue-green) keeps the old colour running (and watched
	// for a switch back) after the switch. Default 0.
	ScaleDownDelay time.Duration

	// Steps (canary) are the canary's size in percent of the stable
	// replicas, ascending, e.g. 10, 50, 100. Default 100.
	Steps []int
	// Pause (canary) is how long each step is analysed before the next.
	Pause time.Duration
	// ManualPause (canary) makes every step, the last included, wait for a
	// continue signal (see Signal) instead of Pause, analysing meanwhile.
	ManualPause bool
	// HTTPRoute (canary) names a Gateway API HTTPRoute ("NAME" in
	// Namespace, or "NAMESPACE/NAME") whose backendRefs to Service App are
	// split with Service App-canary by the step's percent.
	HTTPRoute string
	// NginxIngress (canary) names an Ingress whose ingress-nginx canary
	// copy (App's backends pointed at App-canary) carries the step's percent.
	NginxIngress string
	// Analysis (canary) is what each step must satisfy.
	Analysis Analysis

	// Manifests are the app's objects rendered for this environment
	// (pkg/manifest), the Deployment App among them. Set, they are applied
	// (server-side, field manager "slipway", recorded in the applied set)
	// before the strategy rolls Image out on that Deployment; the first
	// promotion creates the app; objects an earlier apply made and the
	// manifests no longer hold are pruned once the rollout succeeded. It
	// needs WithDynamic and WithMapper. Empty: the image-swap mode on a
	// Deployment that exists.
	Manifests []*unstructured.Unstructured
	// Env labels the applied set with its environment.
	Env string
	// DryRun (delete-app mode) lists what would be deleted and deletes nothing.
	DryRun bool
}

// Analysis is the health a canary must keep during every step. Readiness
// and crash loops are always checked.
type Analysis struct {
	// MaxRestarts is the most container restarts tolerated across the new
	// image's pods (every strategy uses it while waiting). Default 0.
	MaxRestarts int32
	// Queries are Prometheus thresholds; they need WithMetrics.
	Queries []Query
}

// Query is a Prometheus threshold with its failure and inconclusive
// limits (rollout.ParseQuery reads it from the command line and the
// release configuration).
type Query = rollout.Query

// Validate reports the first problem with s, with defaults applied.
func (s *Spec) Validate() error {
	switch s.Strategy {
	case rollout.Rolling, rollout.BlueGreen, rollout.Canary:
	default:
		return fmt.Errorf("unknown strategy %q (want rolling, bluegreen or canary)", s.Strategy)
	}
	if s.Namespace == "" || s.App == "" {
		return errors.New("namespace and app are required")
	}
	if err := ValidateImage(s.Image); err != nil {
		return err
	}
	if s.ProgressDeadline < 0 || s.ScaleDownDelay < 0 || s.Pause < 0 {
		return errors.New("durations must not be negative")
	}
	prev := 0
	for _, p := range s.Steps {
		if p <= prev || p > 100 {
			return fmt.Errorf("canary steps %v: each must be in 1..100 and greater than the one before", s.Steps)
		}
		prev = p
	}
	for _, q := range s.Analysis.Queries {
		if q.Query == "" || (q.Min == nil && q.Max == nil) {
			return fmt.Errorf("analysis query %q: needs a query and a min or max", q.Name)
		}
	}
	return nil
}

func (s *Spec) defaults() {
	if s.ProgressDeadline == 0 {
		s.ProgressDeadline = 10 * time.Minute
	}
	if len(s.Steps) == 0 {
		s.Steps = []int{100}
	}
}

// ValidateImage accepts only REPO@sha256:<64 hex>, without a tag.
func ValidateImage(image string) error {
	if _, err := name.NewDigest(image, name.StrictValidation); err != nil {
		return fmt.Errorf("image %q must be REPO@sha256:<digest>: %w", image, err)
	}
	repo, _, _ := strings.Cut(image, "@")
	// StrictValidation makes NewTag fail when no tag is spelled out.
	if _, err := name.NewTag(repo, name.StrictValidation); err == nil {
		return fmt.Errorf("image %q: give the digest alone, without a tag", image)
	}
	return nil
}

// RollbackError says the rollout failed and what was undone. The cluster
// is back on what ran before (Restored false means the undo itself failed).
type RollbackError struct {
	Strategy rollout.Strategy
	Reason   string
	Restored bool
	// Aborted: the rollback followed an abort signal, not a failure; Reason
	// then starts with "aborted: ".
	Aborted bool
	Err     error
}

func (e *RollbackError) Error() string {
	msg := fmt.Sprintf("%s rollout rolled back: %s", e.Strategy, e.Reason)
	if !e.Restored {
		msg = fmt.Sprintf("%s rollout failed and the rollback did not complete: %s", e.Strategy, e.Reason)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *RollbackError) Unwrap() error { return e.Err }

// MetricsQuerier runs an instant query and returns its scalar value.
type MetricsQuerier interface {
	Query(ctx context.Context, query string) (float64, error)
}

// Deployer runs rollouts with one client. Each Run works on a copy, so
// one Deployer may run several rollouts at once.
type Deployer struct {
	client   kubernetes.Interface
	dynamic  dynamic.Interface
	clock    clock.Clock
	poll     time.Duration
	progress func(string)
	http     *http.Client
	metrics  MetricsQuerier
	// runs reaches the deploy PipelineRun (Spec.RunNamespace).
	runs dynamic.Interface
	// mapper maps the kinds of Spec.Manifests to resources.
	mapper meta.RESTMapper

	// sig is the current rollout's signals (set on the copy Run makes).
	sig *signals
}

// Option configures a Deployer.
type Option func(*Deployer)

// WithClock sets the time source; every wait is a clock.After. Default:
// the wall clock.
func WithClock(c clock.Clock) Option { return func(d *Deployer) { d.clock = c } }

// WithPollInterval sets how often state is read while waiting. Default 2s.
func WithPollInterval(p time.Duration) Option { return func(d *Deployer) { d.poll = p } }

// WithProgress receives one line per step of the rollout. Default: discarded.
func WithProgress(f func(string)) Option { return func(d *Deployer) { d.progress = f } }

// WithHTTPClient is used for smoke URLs. Default: a client with a 10s timeout.
func WithHTTPClient(c *http.Client) Option { return func(d *Deployer) { d.http = c } }

// WithMetrics answers canary analysis queries. Default: none; a Spec with
// queries is then refused.
func WithMetrics(m MetricsQuerier) Option { return func(d *Deployer) { d.metrics = m } }

// WithDynamic is the client for Gateway API HTTPRoutes. Default: none; a
// Spec with an HTTPRoute is then refused.
func WithDynamic(c dynamic.Interface) Option { return func(d *Deployer) { d.dynamic = c } }

// WithMapper maps manifest kinds to resources (and tells namespaced
// ones). Default: none; a Spec with Manifests is then refused.
func WithMapper(m meta.RESTMapper) Option { return func(d *Deployer) { d.mapper = m } }

// WithRunClient is the client of the cluster the deploy PipelineRun runs
// in (the pod's own). Default: none; a Spec with a RunNamespace is then
// refused.
func WithRunClient(c dynamic.Interface) Option { return func(d *Deployer) { d.runs = c } }

// New returns a Deployer for the cluster behind client.
func New(client kubernetes.Interface, opts ...Option) *Deployer {
	d := &Deployer{
		client:   client,
		clock:    clock.RealClock{},
		poll:     2 * time.Second,
		progress: func(string) {},
		http:     &http.Client{Timeout: 10 * time.Second},
	}
	for _, o := range opts {
		o(d)
	}
	return d
}

// Run performs the rollout. A failed rollout that was undone returns a
// *RollbackError; other errors mean nothing was changed (bad input, objects
// missing) or the cluster could not be reached.
func (d *Deployer) Run(ctx context.Context, s Spec) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if len(s.Analysis.Queries) > 0 && d.metrics == nil {
		return errors.New("analysis queries need a metrics source (Prometheus URL)")
	}
	if s.HTTPRoute != "" && d.dynamic == nil {
		return errors.New("an HTTPRoute needs a dynamic client")
	}
	if len(s.Manifests) > 0 && (d.dynamic == nil || d.mapper == nil) {
		return errors.New("manifests need a dynamic client and a REST mapper")
	}
	if s.RunNamespace != "" && (d.runs == nil || s.RolloutID == "") {
		return errors.New("signals through the deploy PipelineRun need its name (rollout id) and a client of its cluster")
	}
	s.defaults()
	r := *d
	chans := []channel{target{client: d.client, ns: s.Namespace, app: s.App}}
	if s.RunNamespace != "" {
		chans = append(chans, run{client: d.runs, ns: s.RunNamespace, name: s.RolloutID})
	}
	r.sig = newSignals(s.RolloutID, chans...)
	var early *failure
	if err := r.sig.start(ctx); errors.As(err, &early) {
		// Aborted before it began: nothing changed, so nothing to undo.
		r.finalStatus(ctx, "aborted before it started: %s", r.sig.aborted)
		return &RollbackError{Strategy: s.Strategy, Reason: early.reason, Restored: true, Aborted: true}
	} else if err != nil {
		return fmt.Errorf("reading the rollout signals: %w", err)
	}
	r.status(ctx, "%s: starting %s", s.Strategy, s.Image)
	var mr *manifestRun
	if len(s.Manifests) > 0 {
		var err error
		if mr, err = r.applyManifests(ctx, s); err != nil {
			r.finalStatus(ctx, "failed: %v", err)
			return err
		}
	}
	var err error
	switch {
	case mr != nil && mr.created:
		err = r.create(ctx, s)
	case s.Strategy == rollout.Rolling:
		err = r.rolling(ctx, s)
	case s.Strategy == rollout.BlueGreen:
		err = r.blueGreen(ctx, s)
	default:
		err = r.canary(ctx, s)
	}
	if err == nil && mr != nil {
		if _, perr := r.pruneManifests(ctx, s, mr); perr != nil {
			err = fmt.Errorf("rollout done, but pruning what the manifests no longer hold: %w", perr)
		}
	}
	var rb *RollbackError
	switch {
	case errors.As(err, &rb):
		rb.Aborted = r.sig.aborted != ""
		r.finalStatus(ctx, "rolled back: %s", rb.Reason)
	case err != nil:
		r.finalStatus(ctx, "failed: %v", err)
	default:
		r.finalStatus(ctx, "done")
	}
	return err
}

// sleep waits dur on the Deployer's clock, or until ctx is done.
func (d *Deployer) sleep(ctx context.Context, dur time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-d.clock.After(dur):
	}
	return ctx.Err()
}

func (d *Deployer) logf(format string, args ...any) { d.progress(fmt.Sprintf(format, args...)) }

// status logs a line and records it as the rollout's progress annotation.
// Recording is best effort: a rollout does not fail for its progress line.
func (d *Deployer) status(ctx context.Context, format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	d.progress(line)
	if d.sig == nil || ctx.Err() != nil {
		return
	}
	if err := d.sig.record(ctx, line); err != nil {
		d.progress("recording progress: " + err.Error())
	}
}

// finalStatus records the outcome even when ctx was cancelled.
func (d *Deployer) finalStatus(ctx context.Context, format string, args ...any) {
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	d.status(cctx, format, args...)
}

// signalled returns how many continues were given since the rollout
// started, and a *failure ("aborted: …") once an abort was signalled.
func (d *Deployer) signalled(ctx context.Context) (int, error) {
	return d.sig.check(ctx)
}
