package server

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/slipway-ci/slipway/pkg/config"
	"github.com/slipway-ci/slipway/pkg/logging"
)

// candidate is one replica's leader group over a shared fake cluster.
type candidate struct {
	g    *leaderGroup
	comp *component
	reg  *prometheus.Registry
	stop context.CancelFunc
	done chan error
}

func newCandidate(t *testing.T, kc *fake.Clientset, id string) *candidate {
	t.Helper()
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: "slipway", Name: "slipway-leader"},
		Client:     kc.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	c := &candidate{comp: &component{started: make(chan struct{}), stopped: make(chan struct{})}, reg: prometheus.NewRegistry(), done: make(chan error, 1)}
	var err error
	// Short, so hand-over in the test is quick; nothing asserts on time.
	c.g, err = newLeaderGroup(LeaderElection{Lock: lock, LeaseDuration: 2 * time.Second, RenewDeadline: time.Second, RetryPeriod: 100 * time.Millisecond},
		map[string]Component{"reporter": c.comp}, c.reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(logging.Into(context.Background(), slog.New(slog.DiscardHandler)))
	c.stop = cancel
	go func() { c.done <- c.g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-c.done
	})
	return c
}

func started(c *component) bool {
	select {
	case <-c.started:
		return true
	default:
		return false
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // bounds a hang only
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Two candidates: one leads and runs the loops, the other runs nothing;
// when the leader stops it releases the lease and the other takes over.
func TestLeaderElectionOneLeads(t *testing.T) {
	kc := fake.NewClientset()
	a, b := newCandidate(t, kc, "replica-a"), newCandidate(t, kc, "replica-b")
	waitUntil(t, "a leader", func() bool { return a.g.Leading() || b.g.Leading() })
	leader, follower := a, b
	if b.g.Leading() {
		leader, follower = b, a
	}
	<-leader.comp.started
	// The follower has seen the leader's lease; still it runs nothing.
	waitUntil(t, "the follower to see the leader", func() bool { return testutil.ToFloat64(follower.g.metrics.transitions) >= 1 })
	if follower.g.Leading() || started(follower.comp) {
		t.Fatal("the follower runs the leader's loops too")
	}
	if got := testutil.ToFloat64(leader.g.metrics.leader); got != 1 {
		t.Errorf("slipway_leader on the leader = %v, want 1", got)
	}
	if got := testutil.ToFloat64(follower.g.metrics.leader); got != 0 {
		t.Errorf("slipway_leader on the follower = %v, want 0", got)
	}

	// The leader shuts down (SIGTERM): its loops stop before the lease is
	// released, then the follower takes over.
	leader.stop()
	if err := <-leader.done; err != nil {
		t.Errorf("leader Run = %v, want nil on shutdown", err)
	}
	leader.done <- nil // for Cleanup
	<-leader.comp.stopped
	<-follower.comp.started
	if !follower.g.Leading() {
		t.Error("the follower runs the loops but does not say it leads")
	}
}

// A leader that cannot renew its lease stops its loops and ends Run with
// errLeaseLost, so the process restarts as a follower.
func TestLeaderElectionLostLease(t *testing.T) {
	kc := fake.NewClientset()
	// Installed before the elector runs: the fake is not safe to change
	// while it serves.
	var broken atomic.Bool
	kc.PrependReactor("update", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		if broken.Load() {
			return true, nil, errors.New("etcd unavailable")
		}
		return false, nil, nil
	})
	c := newCandidate(t, kc, "replica-a")
	<-c.comp.started
	broken.Store(true)
	err := <-c.done
	c.done <- nil // for Cleanup
	if !errors.Is(err, errLeaseLost) {
		t.Errorf("Run = %v, want errLeaseLost", err)
	}
	<-c.comp.stopped
	if c.g.Leading() {
		t.Error("still says it leads")
	}
}

// With leader election on, the loops that must run once move under the
// leader group; the webhook side and the dispatcher stay on every replica.
func TestElectLeaderSplitsTheLoops(t *testing.T) {
	names := func(m map[string]Component) []string {
		var out []string
		for n := range m {
			out = append(out, n)
		}
		slices.Sort(out)
		return out
	}
	all := func() map[string]Component {
		m := map[string]Component{}
		for _, n := range []string{"dispatcher", "installer", "base-images", "reporter", "notifier", "log-collector", "pruner", "retention", "promotions"} {
			m[n] = &component{}
		}
		return m
	}
	cfg := &config.Config{LeaderElectLeaseName: "slipway-leader", LeaderElectIdentity: "pod-a",
		LeaderElectLeaseDuration: 15 * time.Second, LeaderElectRenewDeadline: 10 * time.Second, LeaderElectRetryPeriod: 2 * time.Second}

	off := &Server{Components: all()}
	if err := electLeader(cfg, off, fake.NewClientset(), prometheus.NewRegistry()); err != nil {
		t.Fatal(err)
	}
	if len(off.Components) != 9 || off.Leading != nil {
		t.Errorf("leader election off: components %v, Leading set %v", names(off.Components), off.Leading != nil)
	}

	cfg.LeaderElect = true
	on := &Server{Components: all()}
	if err := electLeader(cfg, on, fake.NewClientset(), prometheus.NewRegistry()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"base-images", "dispatcher", "installer", "leader"}, names(on.Components)); diff != "" {
		t.Errorf("every replica runs (-want +got):\n%s", diff)
	}
	g := on.Components["leader"].(*leaderGroup)
	if diff := cmp.Diff([]string{"log-collector", "notifier", "promotions", "pruner", "reporter", "retention"}, names(g.components)); diff != "" {
		t.Errorf("the leader runs (-want +got):\n%s", diff)
	}
	if on.Leading == nil || on.Leading() {
		t.Error("Leading should be set and false before any election")
	}
}
