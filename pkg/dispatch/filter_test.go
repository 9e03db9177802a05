package dispatch

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/repoconfig"
)

// A .slipway.yaml over the filter caps fails its event with the cap named
// as the reason; nothing is created.
func TestFilterCapsFailTheEvent(t *testing.T) {
	h := newHarness(t)
	h.scm.files[shaA] = "paths: [\"" + strings.Repeat("**/", repoconfig.MaxDoubleStars+1) + "x\"]\n"
	id := h.store.add(push("main", shaA, "d1"))
	h.step(t)
	got := h.outcome(id)
	want := outcome{State: event.Failed, Attempts: 1,
		Reason: `invalid .slipway.yaml: paths[0]: 33 "**" elements, more than the 32 allowed`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("event (-want +got)\n%s", diff)
	}
	if n := len(h.runs(t)); n != 0 {
		t.Errorf("%d PipelineRuns, want none", n)
	}
}

// Issue 13's config: eight "**" and a 41-element changed path took 21.8 s
// of CPU with the backtracking matcher. It is now filtered at once.
func TestAdversarialPathFilter(t *testing.T) {
	h := newHarness(t)
	h.scm.files[shaA] = "paths: [\"" + strings.Repeat("**/a/", 8) + "b\"]\n"
	ev := push("main", shaA, "d1")
	ev.ChangedPaths = []string{strings.Repeat("a/", 40) + "c"}
	id := h.store.add(ev)
	h.step(t)
	if got := h.outcome(id); got.State != event.Ignored || !strings.HasPrefix(got.Reason, "no changed path matches") {
		t.Errorf("event = %+v, want ignored by the paths filter", got)
	}
}

func TestFilterHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ev := push("main", shaA, "d1")
	ev.ChangedPaths = []string{"src/a.go"}
	for _, rc := range []*repoconfig.Config{{Paths: []string{"src/**"}}, {IgnorePaths: []string{"docs/**"}}} {
		why, err := filter(ctx, &ev, rc, ev.ChangedPaths)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("filter(%+v) = %q, %v; want context.Canceled", rc, why, err)
		}
	}
}
