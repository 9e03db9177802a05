package report

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/store/storetest"
)

// Two reporters ("replicas") watch the same PipelineRuns and share one
// real store: each commit gets each status once, and the finished hook
// fires once per run.
func TestTwoReplicasPostOnce(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "slipway.db")
	tc := fake.NewSimpleClientset()
	gh := &fakeSCM{fail: map[string][]error{}}
	dups := prometheus.NewCounter(prometheus.CounterOpts{Name: "dups"})
	var mu sync.Mutex
	var finished []string
	for range 2 {
		db := storetest.Open(t, url)
		r, err := New(factoryOf(tc), db, map[event.Provider]scm.Client{event.GitHub: gh},
			WithNamespace(ns), WithBaseURL(baseURL), WithBackoff(time.Millisecond, 10*time.Millisecond),
			WithPostLedger(db, time.Minute, dups),
			WithOnFinished(func(_ context.Context, r run.Run) {
				mu.Lock()
				defer mu.Unlock()
				finished = append(finished, r.ID)
			}))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	pr := newPR("web-1", "1111")
	if _, err := tc.TektonV1().PipelineRuns(ns).Create(context.Background(), pr, metav1CreateOptions); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pending", func() bool { return len(gh.callsFor("1111")) >= 1 })
	running(pr)
	pr = update(t, tc, pr)
	waitFor(t, "running", func() bool { return len(gh.callsFor("1111")) >= 2 })
	succeeded(pr)
	update(t, tc, pr)
	waitFor(t, "the finished hook", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(finished) >= 1
	})
	// Both replicas have seen the final state once the second one stops
	// retrying; a third PipelineRun, seen after, orders the check.
	sync := newPR("web-sync", "5555", succeeded)
	if _, err := tc.TektonV1().PipelineRuns(ns).Create(context.Background(), sync, metav1CreateOptions); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the sync run's hook", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(finished) >= 2
	})
	var states []scm.StatusState
	for _, c := range gh.callsFor("1111") {
		states = append(states, c.Status.State)
	}
	if diff := cmp.Diff([]scm.StatusState{scm.StatePending, scm.StateRunning, scm.StateSuccess}, states); diff != "" {
		t.Errorf("statuses posted (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"ci/web-1", "ci/web-sync"}, finished); diff != "" {
		t.Errorf("finished hook calls (-want +got):\n%s", diff)
	}
}

var metav1CreateOptions = metav1.CreateOptions{}

func update(t *testing.T, tc *fake.Clientset, pr *pipelinev1.PipelineRun) *pipelinev1.PipelineRun {
	t.Helper()
	out, err := tc.TektonV1().PipelineRuns(pr.Namespace).Update(context.Background(), pr, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("updating %s: %v", pr.Name, err)
	}
	return out
}
