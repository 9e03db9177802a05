package server

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tektonfake "github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/release"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/scm/github"
	"github.com/slipway-ci/slipway/pkg/scm/gitlab"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/tekton"
	"github.com/slipway-ci/slipway/webhooks"
)

// finishedRun is a finished PipelineRun of app created at minute min: a
// CI run in the builds namespace "ci", a deploy run (deploy true) in the
// deploy namespace "slipway".
func finishedRun(app string, min int, deploy bool) *pipelinev1.PipelineRun {
	ns, pipeline, name := "ci", tekton.KindCI, fmt.Sprintf("%s-%02d", app, min)
	if deploy {
		ns, pipeline, name = "slipway", tekton.KindDeploy, "deploy-"+name
	}
	pr := &pipelinev1.PipelineRun{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: ns,
		Labels:            map[string]string{tekton.LabelApp: app, tekton.LabelPipeline: pipeline},
		CreationTimestamp: metav1.NewTime(time.Date(2026, 11, 22, 10, min, 0, 0, time.UTC)),
	}}
	pr.Status.SetCondition(&apis.Condition{Type: apis.ConditionSucceeded, Status: corev1.ConditionTrue})
	return pr
}

// runNames are the runs of both namespaces, "namespace/name".
func runNames(t *testing.T, tc *tektonfake.Clientset) []string {
	t.Helper()
	var out []string
	for _, ns := range []string{"ci", "slipway"} {
		l, err := tc.TektonV1().PipelineRuns(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, pr := range l.Items {
			out = append(out, ns+"/"+pr.Name)
		}
	}
	slices.Sort(out)
	return out
}

func waitRuns(t *testing.T, tc *tektonfake.Clientset, want []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := runNames(t, tc)
		if cmp.Equal(want, got) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs (-want +got):\n%s", cmp.Diff(want, got))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The pruner prunes the builds and the deploy namespace, at start and
// again on every tick, until its context ends; prune-keep 0 keeps
// everything.
func TestPrunerLoop(t *testing.T) {
	tc := tektonfake.NewSimpleClientset(finishedRun("web", 1, false), finishedRun("web", 2, false), finishedRun("web", 3, false), finishedRun("api", 1, false),
		finishedRun("web", 1, true), finishedRun("web", 2, true), finishedRun("web", 3, true))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- (&pruner{tc: tc, namespaces: []string{"ci", "slipway"}, keep: 2, every: 10 * time.Millisecond}).Run(ctx)
	}()
	waitRuns(t, tc, []string{"ci/api-01", "ci/web-02", "ci/web-03", "slipway/deploy-web-02", "slipway/deploy-web-03"})
	// Later runs are pruned by a later tick.
	for _, pr := range []*pipelinev1.PipelineRun{finishedRun("web", 4, false), finishedRun("web", 5, false), finishedRun("web", 4, true)} {
		if _, err := tc.TektonV1().PipelineRuns(pr.Namespace).Create(ctx, pr, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitRuns(t, tc, []string{"ci/api-01", "ci/web-04", "ci/web-05", "slipway/deploy-web-03", "slipway/deploy-web-04"})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil at shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the pruner did not stop with its context")
	}

	keepAll := tektonfake.NewSimpleClientset(finishedRun("web", 1, false), finishedRun("web", 2, false), finishedRun("web", 1, true))
	if err := (&pruner{tc: keepAll, namespaces: []string{"ci", "slipway"}, keep: 0, every: time.Millisecond}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"ci/web-01", "ci/web-02", "slipway/deploy-web-01"}, runNames(t, keepAll)); diff != "" {
		t.Errorf("prune-keep 0 (-want +got):\n%s", diff)
	}
}

// autoDeploys records what withAutoDeploy asked for.
type autoDeploys struct {
	mu  sync.Mutex
	got []string // "run default-branch"
}

func (a *autoDeploys) AutoDeploy(_ context.Context, run run.Run, defaultBranch string) (*release.Promotion, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, run.ID+" "+defaultBranch)
	return nil, nil
}

// withAutoDeploy runs the hook it wraps, then auto-deploys with the
// default branch the run's event (a real push payload of either host)
// recorded.
func TestWithAutoDeploy(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+t.TempDir()+"/db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	record := func(provider, eventType string, parse func(string, string, []byte) (*event.Event, error)) int64 {
		t.Helper()
		body, err := fs.ReadFile(webhooks.FS, provider+"/push.json")
		if err != nil {
			t.Fatal(err)
		}
		ev, err := parse(eventType, "d-"+provider, body)
		if err != nil {
			t.Fatal(err)
		}
		id, _, err := st.RecordEvent(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	gh, gl := record("github", "push", github.ParseWebhook), record("gitlab", "Push Hook", gitlab.ParseWebhook)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var hooked []string
	next := func(_ context.Context, run run.Run) { hooked = append(hooked, run.ID) }

	ad := &autoDeploys{}
	hook := withAutoDeploy(next, ad, st, log)
	for _, run := range []run.Run{{ID: "ci/gh", EventID: gh}, {ID: "ci/gl", EventID: gl}, {ID: "ci/lost", EventID: 999}} {
		hook(ctx, run)
	}
	if diff := cmp.Diff([]string{"ci/gh master", "ci/gl master", "ci/lost "}, ad.got); diff != "" {
		t.Errorf("auto-deploys (-want +got):\n%s", diff)
	}
	// Without a promotion service the hook is the one it wraps.
	withAutoDeploy(next, autoDeployer(nil), st, log)(ctx, run.Run{ID: "ci/none"})
	if diff := cmp.Diff([]string{"ci/gh", "ci/gl", "ci/lost", "ci/none"}, hooked); diff != "" {
		t.Errorf("wrapped hook calls (-want +got):\n%s", diff)
	}
}
