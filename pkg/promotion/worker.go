package promotion

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-ci/slipway/pkg/environment"
	"github.com/slipway-ci/slipway/pkg/logging"
	"github.com/slipway-ci/slipway/pkg/promote"
	"github.com/slipway-ci/slipway/pkg/release"
	"github.com/slipway-ci/slipway/pkg/rollout"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// Deploy outcomes, the deploy Pipeline's "outcome" result.
const (
	outcomeSucceeded  = rollout.OutcomeSucceeded
	outcomeRolledBack = rollout.OutcomeRolledBack
	outcomeAborted    = rollout.OutcomeAborted
)

// errStopped: the promotion left running/paused under the worker (aborted).
var errStopped = errors.New("promotion no longer running")

// Run carries out promotions until ctx ends: at start every running or
// paused one (a restart resumes them: their PipelineRuns have
// deterministic names, so nothing is started twice), then each new one as
// it is started or approved. A periodic scan catches what a wake-up missed.
func (s *Service) Run(ctx context.Context) error {
	// Starting is idempotent: this starts the informers not started yet;
	// whoever built the factory shuts it down.
	s.o.Informers.Start(ctx.Done())
	scan := time.NewTicker(max(s.o.PollInterval*10, time.Second))
	defer scan.Stop()
	// Returning only once every promotion goroutine has: they write to the
	// store, which closes after the components stop.
	defer s.running.Wait()
	// Apps removed from the config, beside the promotions: their runs
	// take minutes.
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		s.retireRemoved(ctx)
	}()
	for {
		s.resume(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-scan.C:
		}
	}
}

func (s *Service) resume(ctx context.Context) {
	// Queued promotions whose slot came free: the active one ended on
	// another replica, before a restart, or its aborted rollout ended.
	queued, err := s.st.ListPromotions(ctx, store.PromotionFilter{State: release.PromotionQueued, Limit: 1000})
	if err != nil {
		logging.From(ctx).Warn("listing queued promotions", "err", err)
	}
	seen := map[[2]string]bool{}
	for _, p := range queued {
		if k := [2]string{p.App, p.To}; !seen[k] {
			seen[k] = true
			s.advance(ctx, p.App, p.To)
		}
	}
	for _, state := range []release.PromotionState{release.PromotionRunning, release.PromotionPaused} {
		ps, err := s.st.ListPromotions(ctx, store.PromotionFilter{State: state, Limit: 1000})
		if err != nil {
			logging.From(ctx).Warn("listing promotions to carry out", "err", err)
			return
		}
		for _, p := range ps {
			s.mu.Lock()
			busy := s.active[p.ID]
			s.active[p.ID] = true
			s.mu.Unlock()
			if busy {
				continue
			}
			s.running.Add(1)
			go func() {
				defer s.running.Done()
				defer func() {
					s.mu.Lock()
					delete(s.active, p.ID)
					s.mu.Unlock()
				}()
				s.carryOut(ctx, p)
			}()
		}
	}
}

// carryOut copies p's image and rolls it out wave after wave.
func (s *Service) carryOut(ctx context.Context, p release.Promotion) {
	log := logging.From(ctx).With("promotion", p.ID, "app", p.App, "to", p.To)
	err := s.execute(ctx, &p)
	switch {
	case errors.Is(err, errStopped):
		log.Info("promotion stopped by someone else", "state", p.State)
		s.advance(ctx, p.App, p.To)
		return
	case ctx.Err() != nil:
		// Shutting down: the promotion stays running and is resumed.
		return
	}
	final := entry("rollout", &p)
	final.Actor = Actor
	action := release.ActionSucceed
	if err != nil {
		action, p.Reason = release.ActionFail, err.Error()
		final.Outcome, final.Result = release.OutcomeFailed, "failed: "+err.Error()
	} else {
		p.Reason, p.Progress = "", fmt.Sprintf("%s runs in %s", p.Digest, p.To)
		final.Outcome, final.Result = release.OutcomeSucceeded, "succeeded"
	}
	prev := p.State
	var terr error
	if p.State, terr = release.Transition(prev, action); terr != nil {
		log.Error("ending a promotion", "err", terr)
		return
	}
	p.FinishedAt = s.clock.Now()
	if err := s.update(ctx, &p); err != nil {
		if !errors.Is(err, errStopped) {
			log.Error("recording the end of a promotion", "err", err)
		}
		return
	}
	if err := s.st.AppendAudit(ctx, final); err != nil {
		log.Error("writing the audit log", "err", err)
	}
	log.Info("promotion finished", "state", p.State, "reason", p.Reason)
	if s.o.Notifier != nil {
		ev := release.EventFinished
		if errors.Is(err, errRolledBack) {
			ev = release.EventRolledBack
		}
		s.o.Notifier.NotifyPromotion(ctx, ev, p)
	}
	s.advance(ctx, p.App, p.To)
}

// errRolledBack: a deploy run rolled back by itself (the environment
// runs what it ran before).
var errRolledBack = errors.New("rolled back")

// execute returns nil when every wave succeeded and the deployment is
// recorded, errStopped when the promotion was aborted meanwhile, another
// error (the reason) when it failed.
func (s *Service) execute(ctx context.Context, p *release.Promotion) error {
	t, err := s.target(p.App, p.To)
	if err != nil {
		return err
	}
	if p.TargetImage == "" {
		p.Progress = "copying " + p.SourceImage + " to " + t.Repository
		if err := s.update(ctx, p); err != nil {
			return err
		}
		dst, err := s.copy(ctx, p, t)
		if err != nil {
			return err
		}
		p.TargetImage = dst
		if err := s.update(ctx, p); err != nil {
			return err
		}
	}
	for i, cl := range t.Clusters {
		if err := s.rollOut(ctx, p, t, i, cl); err != nil {
			return err
		}
	}
	// Resumed after recording it but before the final state: once is enough.
	if last, err := s.st.ListDeployments(ctx, p.App, p.To, 1); err == nil && len(last) > 0 && last[0].PromotionID == p.ID {
		return nil
	}
	d := &release.Deployment{App: p.App, Env: p.To, Digest: p.Digest, Image: p.TargetImage, Commit: p.Commit, PromotionID: p.ID}
	if err := s.st.RecordDeployment(ctx, d); err != nil {
		return fmt.Errorf("every wave succeeded but recording the deployment failed: %w", err)
	}
	return nil
}

// copy copies by digest into the target environment's registry (the
// digest identical on both sides; promote.Copy checks it).
func (s *Service) copy(ctx context.Context, p *release.Promotion, t environment.Target) (string, error) {
	insecure := t.Insecure
	if p.Kind == release.KindAutoDeploy {
		insecure = s.insecureRepo(p.SourceImage)
	} else if from, ok := s.cfg.Env(p.From); ok {
		insecure = from.Insecure
	}
	src, err := name.NewDigest(p.SourceImage, s.nameOpts(insecure)...)
	if err != nil {
		return "", fmt.Errorf("source image %q: %w", p.SourceImage, err)
	}
	repo, err := name.NewRepository(t.Repository, s.nameOpts(t.Insecure)...)
	if err != nil {
		return "", fmt.Errorf("registry of %s: %w", p.To, err)
	}
	dst, err := promote.Copy(ctx, src, repo, promote.CopyOptions{Source: s.o.Remote, Target: s.o.Remote})
	if err != nil {
		return "", fmt.Errorf("copying into %s: %w", p.To, err)
	}
	if dst.DigestStr() != p.Digest {
		return "", fmt.Errorf("copy into %s has digest %s, want %s", p.To, dst.DigestStr(), p.Digest)
	}
	return dst.String(), nil
}

// rollOut runs wave i: creates (or finds, after a restart) its deploy
// PipelineRun and follows it to its end.
func (s *Service) rollOut(ctx context.Context, p *release.Promotion, t environment.Target, i int, cl environment.Cluster) error {
	wave := fmt.Sprintf("wave %d/%d %s", i+1, len(t.Clusters), cl.Name)
	prName := tekton.DeployRunName(p.App, p.To, cl.Name, p.ID)
	id := s.o.Namespace + "/" + prName
	pr, err := s.deployRun(p, t, cl, prName)
	if err != nil {
		return fmt.Errorf("%s: %w", wave, err)
	}
	if !slices.Contains(p.PipelineRuns, id) {
		// Recorded before it exists, so Abort and Continue find the wave.
		p.PipelineRuns = append(p.PipelineRuns, id)
		p.Progress = wave + ": starting"
		if err := s.update(ctx, p); err != nil {
			return err
		}
	}
	// An abort may have come since the last update; no new rollout then.
	if cur, err := s.st.GetPromotion(ctx, p.ID); err == nil && cur.State != release.PromotionRunning && cur.State != release.PromotionPaused {
		*p = *cur
		return errStopped
	}
	// After a restart it usually exists already: the name is deterministic.
	_, err = s.tc.TektonV1().PipelineRuns(s.o.Namespace).Create(ctx, pr, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("%s: creating PipelineRun %s: %w", wave, id, err)
	}
	// An abort that came while the run was being created found no run to
	// signal; the worker signals it now, so the deploy step stops at its
	// start (an abort on its PipelineRun is always its own).
	if cur, err := s.st.GetPromotion(ctx, p.ID); err == nil && cur.State == release.PromotionAborted {
		if err := s.signal(ctx, prName, rollout.SignalAbort, cur.Reason); err != nil {
			logging.From(ctx).Warn("signalling the abort to a new deploy PipelineRun", "run", id, "err", err)
		}
	}
	return s.follow(ctx, wave, prName, func(pr *pipelinev1.PipelineRun) (bool, error) {
		if done, err := s.finished(wave, pr); done {
			if err != nil && killed(pr) && t.Rollout.Strategy == string(rollout.Canary) {
				err = s.removeCanary(ctx, p, cl, t, err)
			}
			return true, err
		}
		// Until the deploy step runs, the app's progress annotation is
		// the previous rollout's.
		started := false
		if st, _ := tekton.RunState(pr); st == run.Running {
			started = true
		}
		return false, s.observe(ctx, p, t, wave, started, progressOf(pr))
	})
}

// killed reports whether a deploy PipelineRun ended without its deploy
// step reporting an outcome: Tekton stopped it (timeout, cancel, pod
// killed) before the step's own rollback could run.
func killed(pr *pipelinev1.PipelineRun) bool {
	for _, r := range pr.Status.Results {
		if r.Name == rollout.ResultOutcome && strings.TrimSpace(r.Value.StringVal) != "" {
			return false
		}
	}
	return true
}

// removeCanary cleans up after a killed canary rollout, which would
// otherwise keep its canary (and its traffic share) beside the untouched
// stable Deployment, with a remove-canary deploy run in the wave's
// cluster; the reason says whether it worked.
func (s *Service) removeCanary(ctx context.Context, p *release.Promotion, cl environment.Cluster, t environment.Target, cause error) error {
	cctx := context.WithoutCancel(ctx)
	if err := s.runMode(cctx, rollout.ModeRemoveCanary, p.App, p.To, t, cl, strconv.FormatInt(p.ID, 10)); err != nil {
		return fmt.Errorf("%w; removing the canary it left failed: %w", cause, err)
	}
	return fmt.Errorf("%w; the canary it left was removed, stable untouched", cause)
}

// finished reads a deploy PipelineRun's end: its outcome and reason
// results, else its condition.
func (s *Service) finished(wave string, pr *pipelinev1.PipelineRun) (bool, error) {
	state, msg := tekton.RunState(pr)
	if !state.Terminal() {
		return false, nil
	}
	var outcome, reason string
	for _, r := range pr.Status.Results {
		switch r.Name {
		case rollout.ResultOutcome:
			outcome = strings.TrimSpace(r.Value.StringVal)
		case rollout.ResultReason:
			reason = strings.TrimSpace(r.Value.StringVal)
		}
	}
	if reason == "" {
		reason = msg
	}
	switch {
	case state == run.Succeeded && (outcome == "" || outcome == outcomeSucceeded):
		return true, nil
	case outcome == outcomeRolledBack:
		return true, fmt.Errorf("%s: %w: %s", wave, errRolledBack, reason)
	case outcome == outcomeAborted:
		return true, fmt.Errorf("%s: aborted: %s", wave, reason)
	case state == run.Canceled:
		return true, fmt.Errorf("%s: PipelineRun cancelled: %s", wave, reason)
	default:
		return true, fmt.Errorf("%s: %s", wave, reason)
	}
}

// observe records the rollout's progress as the deploy pod reports it on
// its PipelineRun (and paused while a manual canary step waits), and
// notices an abort.
func (s *Service) observe(ctx context.Context, p *release.Promotion, t environment.Target, wave string, started bool, reported string) error {
	progress := "waiting for the deploy PipelineRun to start"
	if started {
		progress = reported
		if progress == "" {
			progress = "rolling out"
		}
	}
	progress = wave + ": " + progress
	// Paused while a manual canary step waits, running again once continued.
	state := p.State
	paused := t.Rollout.Pause == environment.PauseManual && rollout.Paused(progress)
	switch {
	case paused && state == release.PromotionRunning:
		state, _ = release.Transition(state, release.ActionPause)
	case !paused && state == release.PromotionPaused:
		state, _ = release.Transition(state, release.ActionResume)
	}
	if progress == p.Progress && state == p.State {
		// Still read the record: an abort must end the wait promptly.
		cur, err := s.st.GetPromotion(ctx, p.ID)
		if err == nil && cur.State != release.PromotionRunning && cur.State != release.PromotionPaused {
			*p = *cur
			return errStopped
		}
		return nil
	}
	p.Progress, p.State = progress, state
	return s.update(ctx, p)
}

// update stores p if it is still running or paused; errStopped (with p
// reloaded) when someone else ended it.
func (s *Service) update(ctx context.Context, p *release.Promotion) error {
	err := s.st.UpdatePromotion(ctx, p, release.PromotionRunning, release.PromotionPaused)
	if errors.Is(err, store.ErrConflict) {
		if cur, gerr := s.st.GetPromotion(ctx, p.ID); gerr == nil {
			*p = *cur
		}
		return errStopped
	}
	if err != nil {
		return fmt.Errorf("recording promotion %d: %w", p.ID, err)
	}
	return nil
}

func (s *Service) deployRun(p *release.Promotion, t environment.Target, cl environment.Cluster, prName string) (*pipelinev1.PipelineRun, error) {
	r := t.Rollout
	o := tekton.DeployRunOptions{
		Namespace: s.o.Namespace, Name: prName, SlipwayImage: s.o.SlipwayImage, ServiceAccount: s.o.ServiceAccount,
		App: p.App, Env: p.To, Cluster: cl.Name, PromotionID: p.ID, Image: p.TargetImage,
		TargetNamespace: t.Namespace, Deployment: t.Deployment, Strategy: r.Strategy, Steps: r.Steps,
		Pause: r.Pause, SmokeURL: r.SmokeURL, Timeout: s.o.DeployTimeout, PrometheusURL: r.PrometheusURL,
		Analysis: r.Analysis, HTTPRoute: r.HTTPRoute, NginxIngress: r.NginxIngress, KubeconfigSecret: cl.KubeconfigSecret,
	}
	if t.Source != "" {
		// The manifests versioned with the promoted code; a promotion
		// that does not know its commit is refused by NewDeployRun.
		o.SourceURL, o.SourceRevision, o.GitCredentialsSecret = t.Source, p.Commit, s.o.GitCredentials
	}
	if r.MaxRestarts != nil {
		o.MaxRestarts = *r.MaxRestarts
	}
	// Durations were validated when the config was loaded. A scale-down
	// delay that is set goes as it is: "0s" must not become the
	// Pipeline's default.
	if r.ScaleDownDelay != "" {
		d, _ := time.ParseDuration(r.ScaleDownDelay)
		o.ScaleDownDelay = &d
	}
	o.ProgressDeadline, _ = parseDuration(r.ProgressDeadline)
	return tekton.NewDeployRun(o)
}

func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	return time.ParseDuration(s)
}
