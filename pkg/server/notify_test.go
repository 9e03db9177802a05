package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tektonfake "github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"knative.dev/pkg/apis"

	"github.com/slipway-ci/slipway/pkg/config"
	"github.com/slipway-ci/slipway/pkg/dispatch"
	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// TestOnFinished checks the reporter's hook as serve wires it: the finished
// run frees its slot for the queued one, and its notifications are sent
// and recorded in the store.
func TestOnFinished(t *testing.T) {
	ctx := t.Context()
	repoHash := tekton.RepoHash(event.GitHub, "acme/web")
	pr := func(name, eventID string, status pipelinev1.PipelineRunSpecStatus, done bool) *pipelinev1.PipelineRun {
		p := &pipelinev1.PipelineRun{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ci", Labels: map[string]string{
				tekton.LabelManaged: "true", tekton.LabelPipeline: "ci", tekton.LabelRepoHash: repoHash, tekton.LabelEventID: eventID,
			}},
			Spec: pipelinev1.PipelineRunSpec{Status: status},
		}
		if done {
			p.Status.SetCondition(&apis.Condition{Type: apis.ConditionSucceeded, Status: corev1.ConditionFalse})
		}
		return p
	}
	tc := tektonfake.NewSimpleClientset(pr("web-done", "1", "", true), pr("web-queued", "2", pipelinev1.PipelineRunSpecStatusPending, false))
	st, err := store.Open(ctx, "sqlite://"+t.TempDir()+"/s.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, err := dispatch.New(st, tc, nil, tekton.RunOptions{Namespace: "ci", ImagePrefix: "r.local/team", SlipwayImage: "r.local/slipway:v1"},
		dispatch.WithMaxRunningPerRepo(1))
	if err != nil {
		t.Fatal(err)
	}
	posted := make(chan struct{}, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posted <- struct{}{}
	}))
	defer hook.Close()
	cfg := &config.Config{PublicURL: "https://ci.example.com", ChatWebhookURL: config.NewSecret(hook.URL), MRComments: true}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	informers := informerFactory(tc, "ci", tekton.KindCI)
	n, err := newNotifier(cfg, st, informers, kubefake.NewSimpleClientset(), map[event.Provider]scm.Client{}, log)
	if err != nil {
		t.Fatal(err)
	}
	nctx, cancel := context.WithCancel(ctx)
	// The reporter and the collector start the shared informers in serve.
	informers.Start(nctx.Done())
	defer informers.Shutdown()
	done := make(chan error)
	go func() { done <- n.Run(nctx) }()

	onFinished(d, n, log)(ctx, run.Run{ID: "ci/web-done", Provider: event.GitHub, Repo: "acme/web", Kind: event.Push,
		Ref: "refs/heads/main", SHA: "abc", State: run.Failed})
	queued, err := tc.TektonV1().PipelineRuns("ci").Get(ctx, "web-queued", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if queued.Spec.Status != "" {
		t.Errorf("queued run spec.status = %q after the other finished, want started", queued.Spec.Status)
	}
	<-posted
	// Wait for the outcome to be recorded before stopping the notifier:
	// stopping cancels deliveries in flight.
	var recs []store.Notification
	for {
		recs, err = st.ListNotifications(ctx, store.NotificationFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) > 0 && recs[0].State != store.NotificationPending {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no outcome recorded: %+v", recs)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Channel != "webhook" || recs[0].State != store.NotificationSent {
		t.Errorf("recorded notifications %+v, want one sent webhook", recs)
	}
}
