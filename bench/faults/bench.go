// Package faults is the fault run of issue 16 (bench/cmd/faultbench):
// thousands of signed GitHub and GitLab webhooks against Slipway's HA
// deployment on the local stack while its leader is SIGKILLed, the
// kube-apiserver is stopped and PostgreSQL is restarted; then a count of
// what every acknowledged event became (one PipelineRun, one final commit
// status, one email and chat message, one merge request comment) and of
// how long each fault took to recover from.
package faults

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-ci/slipway/pkg/retry"
)

// Config is one fault run.
type Config struct {
	Stack *Stack
	// Namespace is the builds namespace Slipway gets for the run (made
	// afresh; deleted afterwards unless Keep).
	Namespace string
	Sends     int // POSTs in all
	// Redeliveries of them repeat an earlier delivery id, each
	// RedeliverAfter sends after its original.
	Redeliveries, RedeliverAfter int
	Rate                         float64
	Replicas                     int // of the HA deployment
	Repos                        int // per host
	// Retries: how often a refused send is delivered again.
	Retries int
	// Faults off sends the same stream without any (a baseline).
	Faults        bool
	APIServerDown time.Duration
	FaultGap      time.Duration
	// Settle ends the drain when nothing new arrived for that long;
	// DrainTimeout bounds it.
	Settle, DrainTimeout time.Duration
	Keep                 bool // keep the namespace (and its runs)
	Restore              bool // put the stack's default deployment back
	Logf                 func(format string, args ...any)
}

// Result is what a run found.
type Result struct {
	Run                         string // the run id in repository names
	Config                      Config
	Start, StreamEnd, DrainEnd  time.Time
	Drained                     bool
	Totals                      Counts
	ByKind                      map[Kind]Counts
	Faults                      []Fault
	Recoveries                  []Recovery
	Timeline                    []Moment
	Sends, Distinct, RunsInNS   int
	RefusedAttempts, OtherCodes int
}

// OK is the aim: every fault done, nothing lost or sent twice.
func (r Result) OK() bool {
	for _, f := range r.Faults {
		if f.Err != nil {
			return false
		}
	}
	return r.Totals.OK()
}

func (c Config) check() error {
	switch {
	case c.Stack == nil || c.Logf == nil:
		return errors.New("faults: a stack and a logger are required")
	case c.Namespace == "":
		return errors.New("faults: a builds namespace is required")
	case c.Sends <= 0 || c.Rate <= 0 || c.Replicas < 2 || c.Repos <= 0:
		return fmt.Errorf("faults: sends (%d), rate (%v) and repositories (%d) must be positive, replicas (%d) at least 2", c.Sends, c.Rate, c.Repos, c.Replicas)
	case c.Settle <= 0 || c.DrainTimeout <= 0 || c.APIServerDown <= 0 || c.FaultGap < 0:
		return errors.New("faults: settle, drain timeout and apiserver downtime must be positive, the fault gap not negative")
	}
	return nil
}

// Run does the fault run on the stack and counts what came of it. The
// stack's default deployment is put back at the end (Restore) whatever
// happened, and the apiserver and PostgreSQL are made sure to be up.
func Run(ctx context.Context, cfg Config) (res Result, err error) {
	if err := cfg.check(); err != nil {
		return res, err
	}
	s, logf := cfg.Stack, cfg.Logf
	res.Config = cfg
	if res.Run, err = NewRun(); err != nil {
		return res, err
	}
	repos, err := NewRepos(res.Run, cfg.Repos)
	if err != nil {
		return res, err
	}
	logf("run %s: preparing namespace %s", res.Run, cfg.Namespace)
	if err := s.PrepareNamespace(ctx, cfg.Namespace); err != nil {
		return res, err
	}
	defer func() {
		// Whatever happened: the apiserver and PostgreSQL up (no-ops when
		// they are), the default deployment back, the namespace gone.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
		defer cancel()
		if _, e := s.Script(cctx, nil, "slipway.sh", "apiserver-start"); e != nil {
			logf("cleanup: %v", e)
		}
		if _, e := s.Script(cctx, nil, "postgres.sh", "up"); e != nil {
			logf("cleanup: %v", e)
		}
		if cfg.Restore {
			logf("putting the stack's default deployment back (one replica, SQLite)")
			if _, e := s.Deploy(cctx, false, 1, nil); e != nil {
				err = errors.Join(err, fmt.Errorf("restoring the default deployment: %w", e))
			}
		}
		if !cfg.Keep {
			if e := s.DeleteNamespace(cctx, cfg.Namespace, false); e != nil {
				logf("cleanup: %v", e)
			}
		}
	}()

	logf("deploying Slipway HA: %d replicas on the stack's PostgreSQL, builds namespace %s", cfg.Replicas, cfg.Namespace)
	env, err := s.Deploy(ctx, true, cfg.Replicas, []string{
		"SLIPWAY_NAMESPACE=" + cfg.Namespace,
		// The namespace has the bench's Pipeline; Slipway must not
		// replace it with its own on a restart.
		"SLIPWAY_INSTALL_PIPELINES=false",
		// Every run is counted at the end: none pruned.
		"SLIPWAY_PRUNE_KEEP=0",
		"SLIPWAY_LOG_LEVEL=info",
	})
	if err != nil {
		return res, err
	}
	if err := s.Register(ctx, env.FakeSCM, repos); err != nil {
		return res, err
	}
	plan, err := Plan(PlanConfig{Run: res.Run, Sends: cfg.Sends, Redeliveries: cfg.Redeliveries, RedeliverAfter: cfg.RedeliverAfter,
		Repos: repos, FakeSCM: env.FakeSCM, GitHubSecret: env.GitHubSecret, GitLabToken: env.GitLabToken})
	if err != nil {
		return res, err
	}
	res.Sends = len(plan)
	res.Distinct = cfg.Sends - cfg.Redeliveries

	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	runs, err := WatchRuns(wctx, s.Meta, cfg.Namespace)
	if err != nil {
		return res, err
	}
	if err := waitFor(ctx, time.Minute, "the PipelineRun watch to sync", func(context.Context) (bool, error) { return runs.Synced(), nil }); err != nil {
		return res, err
	}
	if err := waitFor(ctx, 2*time.Minute, "a replica to hold the leader Lease", func(ctx context.Context) (bool, error) {
		l, err := s.Kube.CoordinationV1().Leases(SlipwayNamespace).Get(ctx, LeaderLease, metav1.GetOptions{})
		return err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "", nil
	}); err != nil {
		return res, err
	}
	mon := &Monitor{Kube: s.Kube, Namespace: SlipwayNamespace, Deployment: Deployment, Lease: LeaderLease, Selector: PodSelector, Period: time.Second}
	mctx, stopMon := context.WithCancel(ctx)
	monDone := make(chan struct{})
	go func() { defer close(monDone); mon.Run(mctx) }()
	defer func() { stopMon(); <-monDone }()

	duration := time.Duration(float64(len(plan)) / cfg.Rate * float64(time.Second))
	res.Start = time.Now().Add(time.Second)
	logf("sending %d webhooks (%d distinct events, %d redeliveries) at %.0f/s: about %s", len(plan), res.Distinct, cfg.Redeliveries, cfg.Rate, duration.Round(time.Second))
	faultsDone := make(chan []Fault, 1)
	if cfg.Faults {
		go func() {
			faultsDone <- Inject(ctx, s.Injector(), res.Start, Schedule(duration), cfg.APIServerDown, cfg.FaultGap, logf)
		}()
	} else {
		faultsDone <- nil
	}
	tenth := max(len(plan)/10, 1)
	outcomes, err := Stream(ctx, StreamConfig{URL: env.URL, Rate: cfg.Rate, Retries: cfg.Retries,
		Backoff: retry.Exponential(time.Second, 15*time.Second),
		Progress: func(n int) {
			if n%tenth == 0 {
				logf("%d/%d sends answered (or given up)", n, len(plan))
			}
		}}, res.Start, plan)
	res.StreamEnd = time.Now()
	res.Faults = <-faultsDone
	if err != nil {
		return res, fmt.Errorf("the stream stopped: %w", err)
	}

	// The drain: until every acknowledged event is run, reported and
	// notified, or nothing new came for Settle.
	logf("draining: waiting for every run, status and notification (settle %s, at most %s)", cfg.Settle, cfg.DrainTimeout)
	prefix := Prefix(res.Run)
	obs := Observed{Prefix: prefix, Outcomes: outcomes}
	deadline := time.Now().Add(cfg.DrainTimeout)
	lastChange, lastLeft := time.Now(), -1
	for {
		obs.Runs = runs.Runs()
		rec, err := ReadFakeSCM(ctx, s.HTTP, env.FakeSCM, repos)
		if err != nil {
			return res, err
		}
		obs.Record = rec
		left := Incomplete(obs)
		if left != lastLeft {
			lastChange, lastLeft = time.Now(), left
			logf("draining: %d runs, statuses or notifications still missing", left)
		}
		if left == 0 {
			res.Drained = true
			break
		}
		if time.Since(lastChange) > cfg.Settle || time.Now().After(deadline) {
			logf("draining: giving up with %d missing", left)
			break
		}
		if !sleepUntil(ctx, time.Now().Add(10*time.Second)) {
			return res, ctx.Err()
		}
	}
	res.DrainEnd = time.Now()
	stopMon()
	<-monDone
	samples := mon.Samples()
	for _, rs := range obs.Runs {
		res.RunsInNS += len(rs)
	}
	for _, oc := range outcomes {
		for _, a := range oc.Attempts {
			switch {
			case a.refused():
				res.RefusedAttempts++
			case !a.OK():
				res.OtherCodes++
			}
		}
	}
	res.Totals, res.ByKind = Count(obs)
	res.Recoveries = Recoveries(res.Faults, obs, samples)
	res.Timeline = Timeline(res.Start, res.StreamEnd, res.Faults, samples)
	return res, nil
}

// waitFor polls cond every second for up to d; errors from cond are
// retried as the apiserver's may be transient.
func waitFor(ctx context.Context, d time.Duration, what string, cond func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		if ok, err := cond(ctx); err == nil && ok {
			return nil
		}
		if !sleepUntil(ctx, time.Now().Add(time.Second)) {
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		}
	}
}
