package server

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/slipway-ci/slipway/pkg/logging"
)

// errLeaseLost ends Run when this replica stops holding the leader lease
// without being asked to stop: its loops were built to run once, so the
// process exits and the kubelet restarts it as a follower.
var errLeaseLost = errors.New("lost the leader lease")

// LeaderElection configures a leaderGroup.
type LeaderElection struct {
	// Lock is the Lease the replicas compete for.
	Lock resourcelock.Interface
	// LeaseDuration is how long followers wait before taking over a lease
	// that is not renewed; a leader that cannot renew within
	// RenewDeadline steps down. Followers retry every RetryPeriod.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// leaderGroup runs its components only while this replica holds the
// leader Lease (client-go leaderelection): the loops that must run once
// however many replicas serve (the reporter, notifications, the log
// collector, pruners, promotions). The others (webhooks, the
// dispatcher's row claims) run on every replica.
type leaderGroup struct {
	cfg        LeaderElection
	components map[string]Component
	metrics    *leaderMetrics

	leading atomic.Bool

	mu       sync.Mutex
	finished bool // Run is past the election: a late start runs nothing
	running  bool
	done     chan struct{} // closed when the components have returned
	err      error         // the first component's failure
}

func newLeaderGroup(cfg LeaderElection, components map[string]Component, reg prometheus.Registerer) (*leaderGroup, error) {
	if cfg.Lock == nil {
		return nil, errors.New("leader election: a lock is required")
	}
	m, err := newLeaderMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &leaderGroup{cfg: cfg, components: components, metrics: m, done: make(chan struct{})}, nil
}

// Leading reports whether this replica holds the lease now.
func (g *leaderGroup) Leading() bool { return g.leading.Load() }

// Run campaigns for the lease until ctx is done. While leading it runs the
// components; when ctx ends it stops them first and then releases the
// lease, so a successor never overlaps a predecessor that is still
// posting. Losing the lease otherwise returns errLeaseLost.
func (g *leaderGroup) Run(ctx context.Context) error {
	log := logging.From(ctx)
	// The election outlives ctx until the components have stopped.
	ectx, stopElection := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElection()
	stopped := make(chan struct{}) // components returned (failure or ctx)
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            g.cfg.Lock,
		LeaseDuration:   g.cfg.LeaseDuration,
		RenewDeadline:   g.cfg.RenewDeadline,
		RetryPeriod:     g.cfg.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            "slipway",
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) {
				g.mu.Lock()
				if g.finished {
					g.mu.Unlock()
					return
				}
				g.running = true
				g.mu.Unlock()
				g.leading.Store(true)
				g.metrics.leader.Set(1)
				log.Info("leading: starting the leader's loops", "identity", g.cfg.Lock.Identity())
				cctx, cancel := context.WithCancel(lctx)
				defer cancel()
				stop := context.AfterFunc(ctx, cancel)
				defer stop()
				g.err = runAll(logging.Into(cctx, log), g.components)
				close(g.done)
				close(stopped)
			},
			OnStoppedLeading: func() {
				if g.leading.Swap(false) {
					g.metrics.leader.Set(0)
					log.Info("no longer leading", "identity", g.cfg.Lock.Identity())
				}
			},
			OnNewLeader: func(identity string) {
				g.metrics.transitions.Inc()
				log.Info("new leader", "leader", identity)
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	elected := make(chan struct{})
	go func() { defer close(elected); le.Run(ectx) }()
	select {
	case <-ctx.Done():
	case <-elected:
	case <-stopped:
	}
	g.mu.Lock()
	g.finished = true
	wasRunning := g.running
	g.mu.Unlock()
	if wasRunning {
		<-g.done
	}
	stopElection() // releases the lease, now that nothing runs
	<-elected
	switch {
	case g.err != nil && !errors.Is(g.err, context.Canceled):
		return g.err
	case ctx.Err() != nil:
		return nil
	}
	return errLeaseLost
}

// runAll runs components until ctx is done or one fails; a failure stops
// the others. Each component's error is named.
func runAll(ctx context.Context, components map[string]Component) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	names := make([]string, 0, len(components))
	for n := range components {
		names = append(names, n)
	}
	sort.Strings(names)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, n := range names {
		wg.Go(func() {
			if err := components[n].Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				once.Do(func() { first = fmt.Errorf("%s: %w", n, err); cancel() })
			}
		})
	}
	wg.Wait()
	return first
}

type leaderMetrics struct {
	leader      prometheus.Gauge
	transitions prometheus.Counter
}

func newLeaderMetrics(reg prometheus.Registerer) (*leaderMetrics, error) {
	m := &leaderMetrics{
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "slipway_leader",
			Help: "1 while this replica holds the leader lease and runs the leader's loops, else 0.",
		}),
		transitions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_leader_transitions_total",
			Help: "Leader changes this replica observed (the first leader seen counts as one).",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.leader, m.transitions} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("registering leader metrics: %w", err)
			}
		}
	}
	return m, nil
}
