package dispatch

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/store/storetest"
	"github.com/slipway-ci/slipway/pkg/tekton"
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

// TestLimitCountedAcrossReplicas: two dispatchers ("replicas") share the
// cluster and the store's slot count (two handles on one SQLite file).
// Admitting at the same moment, from both, never starts more than the
// limit between them.
func TestLimitCountedAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	url := "sqlite://" + filepath.Join(t.TempDir(), "slipway.db")
	slotsA, slotsB := storetest.Open(t, url), storetest.Open(t, url)
	const limit = 2
	h := newHarness(t, WithMaxRunningPerRepo(limit), WithRunSlots(slotsA))
	other, err := New(h.store, h.cs, map[event.Provider]scm.Client{event.GitHub: h.scm}, runOpts,
		WithClock(h.clock), WithMaxRunningPerRepo(limit), WithRunSlots(slotsB))
	if err != nil {
		t.Fatal(err)
	}
	for i, sha := range []string{shaA, shaB, shaC, strings.Repeat("4", 40), strings.Repeat("5", 40)} {
		h.store.add(push(fmt.Sprintf("b%d", i), sha, fmt.Sprintf("d%d", i)))
	}
	h.step(t) // each dispatch admits: the first two start
	running := func() []string {
		var out []string
		for _, pr := range h.runs(t) {
			if pr.Spec.Status == "" && !pr.IsDone() {
				out = append(out, pr.Name)
			}
		}
		slices.Sort(out)
		return out
	}
	if got := running(); len(got) != limit {
		t.Fatalf("running after dispatch: %v, want %d", got, limit)
	}
	// Both replicas admit at once, many times: nothing more starts.
	admitBoth := func() {
		var wg sync.WaitGroup
		for _, d := range []*Dispatcher{h.d, other, h.d, other} {
			wg.Go(func() {
				if _, err := d.admitAll(ctx); err != nil {
					t.Errorf("admitAll: %v", err)
				}
			})
		}
		wg.Wait()
	}
	admitBoth()
	first := running()
	if len(first) != limit {
		t.Fatalf("running after concurrent admission: %v, want %d", first, limit)
	}
	// One finishes: both replicas race for its slot; one more starts,
	// and the store's count moves the slot from the finished run to it.
	finish(t, h, first[0])
	admitBoth()
	if got := running(); len(got) != limit {
		t.Errorf("running after one finished: %v, want %d", got, limit)
	}
	slots, err := slotsB.RunSlots(ctx, tekton.RepoHash(event.GitHub, "acme/web"))
	if err != nil || len(slots) != limit {
		t.Errorf("store slots = %v, %v; want %d", slots, err, limit)
	}
}
