package faults

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/slipway-ci/slipway/e2e/fakescm"
)

func sec(n float64) time.Duration { return time.Duration(n * float64(time.Second)) }

// A kill at +10 s: two refused attempts until +11.5 s, the Lease renewed
// by another replica at +26 s, the killed pod back at +30 s, the last
// event acknowledged before the kill run at +40 s and its status at +41 s.
func TestRecoveries(t *testing.T) {
	before, after := ev(0, GitHubPush), ev(1, GitHubPush)
	kill := Fault{Kind: KillLeader, Start: t0.Add(sec(10)), End: t0.Add(sec(10)), Target: "slipway-a", RestartsBefore: 0}
	pg := Fault{Kind: PostgresRestart, Start: t0.Add(sec(60)), End: t0.Add(sec(62))}
	o := Observed{
		Prefix: "e2e/faults-r-",
		Outcomes: []Outcome{
			{Send: Send{Event: before}, Attempts: []Attempt{ok(sec(9))}},
			{Send: Send{Event: after}, Attempts: []Attempt{refusedAt(sec(10.5)), {Start: t0.Add(sec(11)), End: t0.Add(sec(11.5))}, ok(sec(12))}},
		},
		Runs: map[string][]PipelineRun{
			before.SHA: {{Name: "b", SHA: before.SHA, Created: t0.Add(sec(40))}},
			after.SHA:  {{Name: "a", SHA: after.SHA, Created: t0.Add(sec(20))}},
		},
		Record: Record{Statuses: []fakescm.Status{
			{Repo: before.Repo, SHA: before.SHA, Context: StatusContext, State: "failure", At: t0.Add(sec(41))},
			{Repo: before.Repo, SHA: before.SHA, Context: StatusContext, State: "failure", At: t0.Add(sec(50))},
			{Repo: after.Repo, SHA: after.SHA, Context: StatusContext, State: "failure", At: t0.Add(sec(21))},
		}},
	}
	pods := func(aReady bool, aRestarts int32) []PodState {
		return []PodState{{Name: "slipway-a", Ready: aReady, Restarts: aRestarts}, {Name: "slipway-b", Ready: true}}
	}
	samples := []Sample{
		{At: t0.Add(sec(9)), Holder: "slipway-a", RenewTime: t0.Add(sec(9)), Want: 2, Pods: pods(true, 0)},
		{At: t0.Add(sec(11)), Holder: "slipway-a", RenewTime: t0.Add(sec(9)), Want: 2, Pods: pods(true, 0)}, // not seen dead yet
		{At: t0.Add(sec(20)), Err: "connection refused"},
		{At: t0.Add(sec(27)), Holder: "slipway-b", RenewTime: t0.Add(sec(26)), Want: 2, Pods: pods(false, 1)},
		{At: t0.Add(sec(30)), Holder: "slipway-b", RenewTime: t0.Add(sec(30)), Want: 2, Pods: pods(true, 1)},
		{At: t0.Add(sec(63)), Holder: "slipway-b", RenewTime: t0.Add(sec(62.5)), Want: 2, Pods: pods(true, 1)},
	}
	got := Recoveries([]Fault{kill, pg, {Kind: APIServerDown, Err: errors.New("not done")}}, o, samples)
	want := []Recovery{
		{Fault: kill, Refused: 2, RefusedFor: sec(1.5), Leader: sec(16), LeaderOK: true, Holder: "slipway-b",
			Ready: sec(20), ReadyOK: true, Queue: sec(30), QueueOK: true, Statuses: sec(31), StatusesOK: true},
		{Fault: pg, Leader: sec(0.5), LeaderOK: true, Holder: "slipway-b", Ready: sec(1), ReadyOK: true, QueueOK: true, StatusesOK: true},
		{Fault: Fault{Kind: APIServerDown, Err: errors.New("not done")}},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b error) bool { return (a == nil) == (b == nil) })); diff != "" {
		t.Errorf("Recoveries (-want +got)\n%s", diff)
	}

	// An event acknowledged before the fault and never run: the queue
	// never caught up.
	delete(o.Runs, before.SHA)
	if r := Recoveries([]Fault{kill}, o, samples)[0]; r.QueueOK {
		t.Errorf("queue caught up with a lost event: %+v", r)
	}
}

func TestTimeline(t *testing.T) {
	faults := []Fault{
		{Kind: KillLeader, Start: t0.Add(sec(10)), End: t0.Add(sec(10)), Detail: "container x of slipway-a (the leader)"},
		{Kind: APIServerDown, Start: t0.Add(sec(40)), End: t0.Add(sec(72)), Detail: "down for 30s"},
		{Kind: PostgresRestart, At: sec(90), Err: errors.New("not done: context canceled")},
	}
	samples := []Sample{
		{At: t0.Add(sec(1)), Holder: "slipway-a", Want: 2, Pods: []PodState{{Name: "slipway-a", Ready: true}, {Name: "slipway-b", Ready: true}}},
		{At: t0.Add(sec(12)), Holder: "slipway-a", Want: 2, Pods: []PodState{{Name: "slipway-a", Restarts: 1}, {Name: "slipway-b", Ready: true}}},
		{At: t0.Add(sec(26)), Holder: "slipway-b", Want: 2, Pods: []PodState{{Name: "slipway-a", Restarts: 1}, {Name: "slipway-b", Ready: true}}},
		{At: t0.Add(sec(41)), Err: "refused"},
		{At: t0.Add(sec(42)), Err: "refused"},
		{At: t0.Add(sec(73)), Holder: "slipway-b", Want: 2, Pods: []PodState{{Name: "slipway-a", Ready: true, Restarts: 1}, {Name: "slipway-b", Ready: true}}},
	}
	var got []string
	for _, m := range Timeline(t0, t0.Add(sec(100)), faults, samples) {
		got = append(got, secs(m.At.Sub(t0))+" "+m.What)
	}
	want := []string{
		"0.0 stream starts",
		"1.0 monitor: leader slipway-a, 2/2 replicas ready",
		"10.0 leader SIGKILLed: container x of slipway-a (the leader)",
		"12.0 monitor: 1/2 replicas ready",
		"12.0 monitor: slipway-a restarted (1 restarts)",
		"26.0 monitor: Lease held by slipway-b (was slipway-a)",
		"40.0 kube-apiserver stopped: down for 30s",
		"41.0 monitor: apiserver unreachable",
		"72.0 kube-apiserver back (/readyz)",
		"73.0 monitor: apiserver answers again",
		"73.0 monitor: 2/2 replicas ready",
		"90.0 PostgreSQL restarted: not done (not done: context canceled)",
		"100.0 stream ends (last send answered)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Timeline (-want +got)\n%s", diff)
	}
}

type fakeInjector struct {
	mu      sync.Mutex
	calls   []string
	stopErr error
}

func (f *fakeInjector) record(c string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

func (f *fakeInjector) KillLeader(context.Context) (string, int32, string, error) {
	f.record("kill")
	return "slipway-a", 2, "killed", nil
}
func (f *fakeInjector) StopAPIServer(context.Context) error  { f.record("stop"); return f.stopErr }
func (f *fakeInjector) StartAPIServer(context.Context) error { f.record("start"); return nil }
func (f *fakeInjector) RestartPostgres(context.Context) error {
	f.record("restart")
	return nil
}

// Faults run in order, each after the previous one plus the gap even when
// due sooner; the apiserver is started again even when stopping failed.
func TestInjectRunsFaultsInOrderWithGaps(t *testing.T) {
	inj := &fakeInjector{stopErr: errors.New("no PID file")}
	start := time.Now()
	plan := []Fault{{Kind: KillLeader, At: 0}, {Kind: APIServerDown, At: 0}, {Kind: PostgresRestart, At: 0}}
	got := Inject(context.Background(), inj, start, plan, 20*time.Millisecond, 30*time.Millisecond, t.Logf)
	if diff := cmp.Diff([]string{"kill", "stop", "start", "restart"}, inj.calls); diff != "" {
		t.Errorf("calls (-want +got)\n%s", diff)
	}
	if got[0].Target != "slipway-a" || got[0].RestartsBefore != 2 || got[0].Err != nil {
		t.Errorf("kill recorded as %+v", got[0])
	}
	if got[1].Err == nil {
		t.Error("the failed stop is not recorded")
	}
	for i := 1; i < len(got); i++ {
		if gap := got[i].Start.Sub(got[i-1].End); gap < 30*time.Millisecond {
			t.Errorf("fault %d started %s after the previous one ended, want at least the gap", i, gap)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, f := range Inject(ctx, &fakeInjector{}, time.Now().Add(time.Hour), plan, time.Millisecond, 0, t.Logf) {
		if f.Err == nil || !f.Start.IsZero() {
			t.Errorf("a fault ran after the cancel: %+v", f)
		}
	}
}

func TestSchedule(t *testing.T) {
	var got []string
	for _, f := range Schedule(400 * time.Second) {
		got = append(got, secs(f.At)+" "+string(f.Kind))
	}
	want := []string{"60.0 leader SIGKILLed", "140.0 kube-apiserver stopped", "240.0 PostgreSQL restarted", "320.0 leader SIGKILLed"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Schedule (-want +got)\n%s", diff)
	}
}

func TestMonitorSamples(t *testing.T) {
	holder, replicas := "slipway-a", int32(2)
	renew := metav1.NewMicroTime(t0)
	ready := func(name string, ok bool, restarts int32) *corev1.Pod {
		st := corev1.ConditionFalse
		if ok {
			st = corev1.ConditionTrue
		}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "slipway", Labels: map[string]string{"app.kubernetes.io/name": "slipway"}},
			Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "slipway", RestartCount: restarts}}}}
	}
	kc := fake.NewClientset(
		&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "slipway-leader", Namespace: "slipway"},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, RenewTime: &renew}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "slipway", Namespace: "slipway"}, Spec: appsv1.DeploymentSpec{Replicas: &replicas}},
		ready("slipway-b", false, 3), ready("slipway-a", true, 0),
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "slipway"}},
	)
	m := &Monitor{Kube: kc, Namespace: "slipway", Deployment: "slipway", Lease: "slipway-leader", Selector: PodSelector, Period: time.Hour}
	s := m.sample(context.Background())
	s.At = time.Time{}
	want := Sample{Holder: "slipway-a", RenewTime: t0, Want: 2,
		Pods: []PodState{{Name: "slipway-a", Ready: true}, {Name: "slipway-b", Restarts: 3}}}
	if diff := cmp.Diff(want, s, cmpopts.EquateApproxTime(0)); diff != "" {
		t.Errorf("sample (-want +got)\n%s", diff)
	}
	if s.Ready() != 1 {
		t.Errorf("Ready = %d", s.Ready())
	}
	// No Lease: a sample with the error, nothing else.
	if s := (&Monitor{Kube: fake.NewClientset(), Namespace: "slipway", Lease: "x"}).sample(context.Background()); s.Err == "" || !strings.Contains(s.Err, "not found") {
		t.Errorf("sample without a Lease: %+v", s)
	}
}
