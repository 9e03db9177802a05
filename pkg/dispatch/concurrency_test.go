package dispatch

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/slipway-ci/slipway/pkg/event"
)

const shaC = "3333333333333333333333333333333333333333"

// TestLimitWithCancelInProgress: the per-repo limit (1) and cancel-in-
// progress on merge request pushes at once. A runs, B waits queued behind
// it, then C (a newer push to B's merge request) arrives: B is cancelled
// while queued and never starts, and C starts once A is done.
func TestLimitWithCancelInProgress(t *testing.T) {
	for _, tc := range []struct {
		name    string
		a, b, c event.Event
		// aCancelled: B's push supersedes A too (same MR); A keeps its slot
		// until Tekton reports it stopped.
		aCancelled bool
	}{
		{name: "A on another branch", a: push("main", shaA, "d1"), b: mr(7, shaB, "d2"), c: mr(7, shaC, "d3")},
		{name: "A on the same merge request", a: mr(7, shaA, "d1"), b: mr(7, shaB, "d2"), c: mr(7, shaC, "d3"), aCancelled: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, WithMaxRunningPerRepo(1))
			ctx := context.Background()
			// Which runs admission started, in order.
			var mu sync.Mutex
			var started []string
			h.cs.PrependReactor("patch", "pipelineruns", func(a k8stesting.Action) (bool, runtime.Object, error) {
				if p, ok := a.(k8stesting.PatchAction); ok && bytes.Equal(p.GetPatch(), startPatch) {
					mu.Lock()
					started = append(started, p.GetName())
					mu.Unlock()
				}
				return false, nil, nil
			})
			handleNext := func() {
				t.Helper()
				evs, err := h.store.ClaimEvents(ctx, 1, 0)
				if err != nil || len(evs) != 1 {
					t.Fatalf("ClaimEvents = %d events, %v", len(evs), err)
				}
				h.d.Handle(ctx, &evs[0])
			}
			a, b, c := h.store.add(tc.a), h.store.add(tc.b), h.store.add(tc.c)
			name := func(id int64) string { return h.runName(t, id) }

			handleNext()
			markStarted(t, h, name(a)) // as Tekton does once it starts a run
			handleNext()
			if got := h.outcome(b).Reason; !strings.HasSuffix(got, ", queued behind 1 running") {
				t.Errorf("B's reason %q, want it queued", got)
			}
			handleNext()
			if got := h.outcome(c).Reason; !strings.Contains(got, ", cancelled 1 older runs") || !strings.HasSuffix(got, ", queued behind 1 running") {
				t.Errorf("C's reason %q, want B cancelled and C queued", got)
			}
			const (
				pending   = pipelinev1.PipelineRunSpecStatusPending
				cancelled = pipelinev1.PipelineRunSpecStatusCancelled
			)
			aState := ""
			if tc.aCancelled {
				aState = cancelled
			}
			want := map[string]string{name(a): aState, name(b): cancelled, name(c): pending}
			if diff := cmp.Diff(want, specStatus(t, h)); diff != "" {
				t.Fatalf("while A runs (-want +got)\n%s", diff)
			}
			// A (even cancelling) holds the slot: nothing starts.
			if n, err := h.d.admitAll(ctx); err != nil || n != 0 {
				t.Fatalf("admitAll while A runs = %d, %v; want 0", n, err)
			}

			finish(t, h, name(a))
			if n, err := h.d.Admit(ctx, event.GitHub, "acme/web"); err != nil || n != 1 {
				t.Fatalf("Admit after A finished = %d, %v; want 1", n, err)
			}
			want[name(c)] = ""
			if diff := cmp.Diff(want, specStatus(t, h)); diff != "" {
				t.Errorf("after A finished (-want +got)\n%s", diff)
			}
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff([]string{name(a), name(c)}, started); diff != "" {
				t.Errorf("runs started (-want +got)\n%s", diff)
			}
		})
	}
}

// markStarted sets the start time Tekton sets on a run it started.
func markStarted(t *testing.T, h *harness, name string) {
	t.Helper()
	pr := mustGet(t, h, name)
	if pr.Spec.Status != "" {
		t.Fatalf("%s was not started: spec.status %q", name, pr.Spec.Status)
	}
	pr.Status.StartTime = &metav1.Time{Time: h.clock.Now()}
	if _, err := h.cs.TektonV1().PipelineRuns(ns).UpdateStatus(context.Background(), pr, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}
