package notify

import (
	"context"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"sync"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
)

// maxAppRuns bounds the runs of one merge request head read to compose
// its comment: a monorepo has at most repoconfig.MaxApps apps, each with a
// few retests.
const maxAppRuns = 200

// AppsComment is the MR comment of a monorepo's merge request head: a
// line per app with its result, then each app's section (what Comment
// shows for a single app). sums are the latest run of each app.
func AppsComment(sums []Summary) string {
	sums = slicesSortedByApp(sums)
	counts := map[run.State]int{}
	for _, s := range sums {
		counts[s.Run.State]++
	}
	var b strings.Builder
	switch {
	case counts[run.Failed] > 0:
		fmt.Fprintf(&b, "### ❌ Slipway CI: %d of %d apps failed\n\n", counts[run.Failed], len(sums))
	case counts[run.Running]+counts[run.Pending] > 0:
		fmt.Fprintf(&b, "### ⏳ Slipway CI: %d of %d apps still running\n\n", counts[run.Running]+counts[run.Pending], len(sums))
	case counts[run.Succeeded] == len(sums):
		fmt.Fprintf(&b, "### ✅ Slipway CI: %d apps succeeded\n\n", len(sums))
	default:
		fmt.Fprintf(&b, "### Slipway CI: %d apps\n\n", len(sums))
	}
	b.WriteString("| App | Result | Run |\n|---|---|---|\n")
	for _, s := range sums {
		r := s.Run
		link := "`" + r.ID + "`"
		if s.Link != "" {
			link = "[" + r.ID + "](" + s.Link + ")"
		}
		fmt.Fprintf(&b, "| %s | %s %s | %s |\n", r.App, stateIcons[r.State], r.State.Word(), link)
	}
	for _, s := range sums {
		fmt.Fprintf(&b, "\n#### %s %s %s\n\n", stateIcons[s.Run.State], s.Run.App, s.Run.State.Word())
		details(&b, s)
	}
	b.WriteString("\nComment `/retest` to run them again or `/cancel` to stop them.\n")
	return b.String()
}

func slicesSortedByApp(sums []Summary) []Summary {
	out := append([]Summary(nil), sums...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Run.App < out[j].Run.App })
	return out
}

// mrComment is the MR comment s's run updates: the run's own (Comment),
// or, when runs of several apps built this head (a monorepo), every app's
// latest run (AppsComment). The store is read as the comment is sent, under
// the merge request's lock, so the last send of a head, made after every
// one of its runs finished, lists them all finished.
func (n *Notifier) mrComment(ctx context.Context, s Summary) string {
	r := s.Run
	runs, err := n.records.ListRuns(ctx, store.RunFilter{Repo: r.Repo, SHA: r.SHA, MRNumber: r.MRNumber, Limit: maxAppRuns})
	if err != nil {
		n.log.WarnContext(ctx, "reading the other apps' runs for the MR comment; this run's result alone", "run", r.ID, "err", err)
		return Comment(s)
	}
	latest := map[string]run.Run{}
	for _, x := range runs { // newest first
		if x.Provider != r.Provider || x.Kind != event.MergeRequest || x.App == r.App {
			continue
		}
		if _, seen := latest[x.App]; !seen {
			latest[x.App] = x
		}
	}
	if len(latest) == 0 {
		return Comment(s)
	}
	sums := []Summary{s}
	for _, x := range latest {
		if x.State.Terminal() {
			sums = append(sums, n.summarize(ctx, x))
		} else {
			sums = append(sums, Summary{Run: x})
		}
	}
	return AppsComment(sums)
}

// mrLocks serialise the comment sends of each merge request (striped by
// hash, so the set stays bounded).
type mrLocks [64]sync.Mutex

func (l *mrLocks) lock(repo string, mr int) func() {
	h := fnv.New32a()
	_, _ = fmt.Fprintf(h, "%s#%d", repo, mr)
	m := &l[h.Sum32()%uint32(len(l))]
	m.Lock()
	return m.Unlock
}
