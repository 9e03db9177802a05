package server

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/utils/clock"

	"github.com/slipway-ci/slipway/pkg/config"
)

// leaderLoops are the components that must run once however many replicas
// serve: what they send (statuses, comments, notifications), start
// (promotions, auto-deploys) or delete (pruning, retention) is done by the
// replica holding the lease; so is asking git hosts for missed deliveries
// (recovery), which one asker is enough for. Webhooks, the dispatcher (row claims with
// SKIP LOCKED), the installer and the base-image check run everywhere.
var leaderLoops = []string{"reporter", "notifier", "log-collector", "pruner", "retention", "promotions",
	"recovery-github", "recovery-gitlab"}

// statusPostLease is how long a claimed commit status post keeps other
// replicas from posting it; a replica that died mid-post is replaced
// after it.
const statusPostLease = 2 * time.Minute

// electLeader moves the leader's loops of s into a leader group over a
// Lease when cfg.LeaderElect is set; otherwise this replica runs them all
// (one replica: SQLite's default).
func electLeader(cfg *config.Config, s *Server, kc kubernetes.Interface, reg prometheus.Registerer) error {
	if !cfg.LeaderElect {
		return nil
	}
	ns := cfg.LeaderElectNamespace
	if ns == "" {
		ns = os.Getenv("POD_NAMESPACE")
	}
	if ns == "" {
		ns = "slipway"
	}
	id := cfg.LeaderElectIdentity
	if id == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("leader election identity: %w", err)
		}
		id = h
	}
	loops := map[string]Component{}
	for _, name := range leaderLoops {
		if c, ok := s.Components[name]; ok {
			loops[name] = c
			delete(s.Components, name)
		}
	}
	g, err := newLeaderGroup(LeaderElection{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: ns, Name: cfg.LeaderElectLeaseName},
			Client:     kc.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: id},
		},
		LeaseDuration: cfg.LeaderElectLeaseDuration,
		RenewDeadline: cfg.LeaderElectRenewDeadline,
		RetryPeriod:   cfg.LeaderElectRetryPeriod,
	}, loops, reg)
	if err != nil {
		return err
	}
	s.Components["leader"] = g
	s.Leading = g.Leading
	return nil
}

// queueStats is what the queue metrics read (*store.DB).
type queueStats interface {
	QueueStats(ctx context.Context) (depth int64, oldest time.Time, err error)
}

// queueCollector reads the queue's depth and its oldest event's age from
// the store at each scrape: the queue is shared by the replicas, so every
// replica reports the same numbers.
type queueCollector struct {
	st          queueStats
	clock       clock.PassiveClock
	depth, age  *prometheus.Desc
	scrapeError *prometheus.Desc
}

func newQueueCollector(st queueStats, c clock.PassiveClock) *queueCollector {
	return &queueCollector{
		st: st, clock: c,
		depth:       prometheus.NewDesc("slipway_queue_depth", "Events queued for dispatch (every replica's view of the shared queue).", nil, nil),
		age:         prometheus.NewDesc("slipway_queue_oldest_age_seconds", "Age of the oldest queued event; 0 when the queue is empty.", nil, nil),
		scrapeError: prometheus.NewDesc("slipway_queue_stats_error", "1 when the store could not be asked for the queue's stats at this scrape.", nil, nil),
	}
}

func (q *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- q.depth
	ch <- q.age
	ch <- q.scrapeError
}

func (q *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	depth, oldest, err := q.st.QueueStats(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(q.scrapeError, prometheus.GaugeValue, 1)
		return
	}
	ch <- prometheus.MustNewConstMetric(q.scrapeError, prometheus.GaugeValue, 0)
	ch <- prometheus.MustNewConstMetric(q.depth, prometheus.GaugeValue, float64(depth))
	age := 0.0
	if !oldest.IsZero() {
		age = max(q.clock.Since(oldest).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(q.age, prometheus.GaugeValue, age)
}

// duplicatesSuppressed counts what was not sent because the store showed
// it sent (or being sent) already, by kind: status, notification.
func duplicatesSuppressed(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "slipway_duplicate_posts_suppressed_total",
		Help: "Commit statuses and notifications not sent again because the store had them sent or claimed, by kind.",
	}, []string{"kind"})
	if err := reg.Register(c); err != nil {
		return nil, fmt.Errorf("registering duplicate metrics: %w", err)
	}
	return c, nil
}

// informerStarter starts a shared Tekton informer factory on every
// replica. The reporter and the log collector start it too, but on a
// follower they do not run, and the UI's live pages read the same
// informers.
type informerStarter struct {
	factory interface{ Start(<-chan struct{}) }
}

func (i informerStarter) Run(ctx context.Context) error {
	i.factory.Start(ctx.Done())
	<-ctx.Done()
	return nil
}
