package dispatch

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/retry"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// shop is a monorepo: a Go API and a Node web app, a shared library.
const shop = `apps:
  - name: api
    dir: services/api
    build: {testCommand: go test ./...}
  - name: web
    dir: services/web
    image: shop/web
sharedPaths: ["libs/**"]
ignorePaths: ["**/*.md"]
`

// fakeFiles serves a merge request's changed files.
type fakeFiles struct {
	mu       sync.Mutex
	files    []string
	complete bool
	err      error
	calls    int
	limit    int
}

func (f *fakeFiles) MergeRequestFiles(_ context.Context, _ scm.Repo, _, limit int) ([]string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.limit = limit
	if f.err != nil {
		return nil, false, f.err
	}
	return f.files, f.complete, nil
}

// appsOf maps the PipelineRuns' apps to their app-dir and image params.
func appsOf(prs []pipelinev1.PipelineRun) map[string]string {
	out := map[string]string{}
	for _, pr := range prs {
		var dir, image string
		for _, p := range pr.Spec.Params {
			switch p.Name {
			case "app-dir":
				dir = p.Value.StringVal
			case "image":
				image = p.Value.StringVal
			}
		}
		out[pr.Labels[tekton.LabelApp]] = dir + " " + image
	}
	return out
}

const (
	apiRun = "services/api registry.local:5000/team/api"
	webRun = "services/web registry.local:5000/team/shop/web"
)

func TestMonorepoPush(t *testing.T) {
	for _, tc := range []struct {
		name    string
		changed []string
		message string
		want    map[string]string
		reason  string // the event's reason starts with it
	}{
		{name: "only the web app changed", changed: []string{"services/web/server.js"},
			want: map[string]string{"web": webRun}, reason: "apps web: created PipelineRun ci/web-11111111-"},
		{name: "both apps changed", changed: []string{"services/api/main.go", "services/web/server.js"},
			want: map[string]string{"api": apiRun, "web": webRun}, reason: "apps api, web: created PipelineRun ci/api-11111111-"},
		{name: "a shared path builds every app", changed: []string{"libs/log/log.go"},
			want: map[string]string{"api": apiRun, "web": webRun}, reason: "apps api, web: "},
		{name: "ignored files build nothing of their app", changed: []string{"services/api/README.md", "services/web/index.js"},
			want: map[string]string{"web": webRun}, reason: "apps web: "},
		{name: "nothing of any app", changed: []string{"docs/guide.txt"},
			want: map[string]string{}, reason: "no changed path matches the paths of any app"},
		{name: "force every app", changed: []string{"docs/guide.txt"}, message: "Rebuild everything\n\n[Slipway build-all]",
			want: map[string]string{"api": apiRun, "web": webRun}, reason: "apps api, web: "},
		{name: "changed files unknown", changed: nil,
			want: map[string]string{"api": apiRun, "web": webRun}, reason: "apps api, web: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, f := newMRHarness(t)
			h.scm.files[shaA] = shop
			ev := push("main", shaA, "d1")
			ev.ChangedPaths = tc.changed
			if tc.message != "" {
				ev.CommitMessage = tc.message
			}
			id := h.store.add(ev)
			h.step(t)
			if diff := cmp.Diff(tc.want, appsOf(h.runs(t))); diff != "" {
				t.Errorf("apps built (-want +got)\n%s", diff)
			}
			got := h.outcome(id)
			if !strings.HasPrefix(got.Reason, tc.reason) {
				t.Errorf("event %s %q, want the reason to start with %q", got.State, got.Reason, tc.reason)
			}
			if tc.message != "" && !strings.Contains(got.Reason, BuildAllMarker) {
				t.Errorf("reason %q does not say every app was asked for", got.Reason)
			}
			// One run record per app, each under its app.
			var recorded []string
			for _, r := range h.store.runs {
				if r.EventID == id {
					recorded = append(recorded, r.App)
				}
			}
			sort.Strings(recorded)
			var want []string
			for app := range tc.want {
				want = append(want, app)
			}
			sort.Strings(want)
			if diff := cmp.Diff(want, recorded); diff != "" {
				t.Errorf("runs recorded (-want +got)\n%s", diff)
			}
			if len(f.statusLines()) != 0 {
				t.Errorf("statuses posted by the dispatcher: %v", f.statusLines())
			}
		})
	}
}

// A redelivered or retried event creates no second run of any app.
func TestMonorepoRetryIsIdempotent(t *testing.T) {
	h := newHarness(t)
	h.scm.files[shaA] = shop
	ev := push("main", shaA, "d1")
	ev.ChangedPaths = []string{"libs/x.go"}
	id := h.store.add(ev)
	h.step(t)
	again := h.store.get(id)
	h.d.Handle(context.Background(), &again)
	prs := h.runs(t)
	if len(prs) != 2 {
		t.Fatalf("%d PipelineRuns after a retry, want 2", len(prs))
	}
	if got := h.outcome(id).Reason; !strings.Contains(got, "already existed") {
		t.Errorf("retried event's reason %q does not say the runs existed", got)
	}
}

// A merge request builds the apps its changed files (from the host's API)
// touch, and only the default branch's apps, with their images.
func TestMonorepoMergeRequest(t *testing.T) {
	head := `apps:
  - name: api
    dir: services/api
    image: elsewhere/api
  - name: miner
    dir: miner
sharedPaths: ["libs/**"]
`
	for _, tc := range []struct {
		name     string
		files    []string
		complete bool
		want     map[string]string
		reason   string
	}{
		{name: "only the api", files: []string{"services/api/main.go"}, complete: true,
			want: map[string]string{"api": "services/api registry.local:5000/team/api/pr"}, reason: "apps api: "},
		{name: "an app the MR adds is not built", files: []string{"miner/main.go"}, complete: true,
			want: map[string]string{}, reason: "no changed path matches the paths of any app"},
		{name: "more files than the cap build everything", files: []string{"services/api/main.go"}, complete: false,
			want:   map[string]string{"api": "services/api registry.local:5000/team/api/pr", "web": "services/web registry.local:5000/team/shop/web/pr"},
			reason: "apps api, web: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cf := &fakeFiles{files: tc.files, complete: tc.complete}
			h, _ := newMRHarness(t, WithChangedFiles(map[event.Provider]ChangedFiles{event.GitHub: cf}, 50))
			h.scm.files["main"], h.scm.files[shaA] = shop, head
			id := h.store.add(mr(7, shaA, "d1"))
			h.step(t)
			if diff := cmp.Diff(tc.want, appsOf(h.runs(t))); diff != "" {
				t.Errorf("apps built (-want +got)\n%s", diff)
			}
			got := h.outcome(id)
			if !strings.HasPrefix(got.Reason, tc.reason) {
				t.Errorf("event %s %q, want the reason to start with %q", got.State, got.Reason, tc.reason)
			}
			if !tc.complete && !strings.Contains(got.Reason, "changes more than 50 files: path filters not applied") {
				t.Errorf("reason %q does not say the file list was cut", got.Reason)
			}
			if cf.calls != 1 || cf.limit != 50 {
				t.Errorf("changed files read %d times with limit %d, want once with 50", cf.calls, cf.limit)
			}
		})
	}
}

// A single-app repository's merge request honours paths and ignorePaths
// now that its changed files are known; without a path filter the host
// is not asked.
func TestMergeRequestPathFilters(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		files        []string
		want         event.State
		wantCalls    int
	}{
		{"paths match", `paths: ["src/**"]`, []string{"src/a.go"}, event.Dispatched, 1},
		{"paths do not match", `paths: ["src/**"]`, []string{"docs/a.txt"}, event.Ignored, 1},
		{"only ignored files", `ignorePaths: ["docs/**"]`, []string{"docs/a.txt"}, event.Ignored, 1},
		{"no path filter", `app: web`, []string{"docs/a.txt"}, event.Dispatched, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cf := &fakeFiles{files: tc.files, complete: true}
			h, _ := newMRHarness(t, WithChangedFiles(map[event.Provider]ChangedFiles{event.GitHub: cf}, 0))
			h.scm.files[shaA] = tc.config
			id := h.store.add(mr(7, shaA, "d1"))
			h.step(t)
			if got := h.outcome(id); got.State != tc.want {
				t.Errorf("event %s %q, want %s", got.State, got.Reason, tc.want)
			}
			if cf.calls != tc.wantCalls {
				t.Errorf("changed files read %d times, want %d", cf.calls, tc.wantCalls)
			}
			if tc.wantCalls > 0 && cf.limit != DefaultMaxMRFiles {
				t.Errorf("limit %d, want the default %d", cf.limit, DefaultMaxMRFiles)
			}
		})
	}
}

// A host that cannot list the files now is asked again later; one that
// refuses fails the event.
func TestMergeRequestFilesErrors(t *testing.T) {
	cf := &fakeFiles{err: &retry.TransientError{Err: errors.New("502 from the host")}}
	h, _ := newMRHarness(t, WithChangedFiles(map[event.Provider]ChangedFiles{event.GitHub: cf}, 0))
	h.scm.files["main"] = shop
	id := h.store.add(mr(7, shaA, "d1"))
	h.step(t)
	if got := h.store.get(id); got.State != event.Queued || !strings.Contains(got.LastError, "502 from the host") {
		t.Errorf("event %s (last error %q), want queued for a retry", got.State, got.LastError)
	}
	cf.err = errors.New("403 forbidden")
	h.clock.Step(h.d.backoff.Cap)
	h.step(t)
	if got := h.outcome(id); got.State != event.Failed || !strings.Contains(got.Reason, "403 forbidden") {
		t.Errorf("event %+v, want failed with the host's answer", got)
	}
	if n := len(h.runs(t)); n != 0 {
		t.Errorf("%d PipelineRuns, want none", n)
	}
}

// An invalid apps: list fails the event with the reason, on the event and
// on the commit, and creates nothing.
func TestMonorepoInvalidConfig(t *testing.T) {
	for _, tc := range []struct {
		name, config, reason string
	}{
		{"app and apps", "app: web\napps: [{name: api, dir: api}]", "invalid .slipway.yaml: app: and apps: are exclusive: name each app in its apps entry"},
		{"duplicate names", "apps: [{name: api, dir: a}, {name: api, dir: b}]", `invalid .slipway.yaml: apps[1].name "api": apps[0] has the same name`},
		{"name not DNS-1123", "apps: [{name: Api_1, dir: a}]", `invalid .slipway.yaml: apps[0].name "Api_1": use lowercase letters, digits and '-' (max 40)`},
		{"too many", "apps: [" + strings.Repeat("{name: a, dir: a},", 20) + "{name: b, dir: b}]", "invalid .slipway.yaml: apps: 21 apps, more than the 20 allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, f := newMRHarness(t)
			h.scm.files[shaA] = tc.config
			id := h.store.add(push("main", shaA, "d1"))
			h.step(t)
			want := outcome{State: event.Failed, Reason: tc.reason, Attempts: 1}
			if diff := cmp.Diff(want, h.outcome(id)); diff != "" {
				t.Errorf("event (-want +got)\n%s", diff)
			}
			if diff := cmp.Diff([]string{shaA[:8] + " failure slipway/ci: " + tc.reason}, f.statusLines()); diff != "" {
				t.Errorf("statuses (-want +got)\n%s", diff)
			}
			if n := len(h.runs(t)); n != 0 {
				t.Errorf("%d PipelineRuns, want none", n)
			}
		})
	}
	// The default branch's file decides a merge request's apps: broken
	// there, the merge request fails the same way.
	h, f := newMRHarness(t)
	h.scm.files["main"] = "apps: [{name: api}]"
	id := h.store.add(mr(7, shaA, "d1"))
	h.step(t)
	reason := ".slipway.yaml on the default branch main: invalid .slipway.yaml: apps[0].dir: required (\".\" for the repository root)"
	if diff := cmp.Diff(outcome{State: event.Failed, Reason: reason, Attempts: 1}, h.outcome(id)); diff != "" {
		t.Errorf("event (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff([]string{shaA[:8] + " failure slipway/ci: " + reason}, f.statusLines()); diff != "" {
		t.Errorf("statuses (-want +got)\n%s", diff)
	}
}

// An untrusted merge request of a monorepo waits with a pending status on
// the context of each app it would build.
func TestMonorepoGateStatuses(t *testing.T) {
	h, f, _ := gated(t)
	h.d.changedFiles = map[event.Provider]ChangedFiles{event.GitHub: &fakeFiles{files: []string{"libs/a.go"}, complete: true}}
	h.d.maxMRFiles = DefaultMaxMRFiles
	h.scm.files["main"] = shop
	id := h.store.add(byAuthor("drive-by", shaA, "d1"))
	h.step(t)
	if got := h.outcome(id); got.State != event.Waiting {
		t.Fatalf("event %+v, want waiting", got)
	}
	want := []string{shaA[:8] + " pending slipway/ci/api: " + WaitingStatus, shaA[:8] + " pending slipway/ci/web: " + WaitingStatus}
	if diff := cmp.Diff(want, f.statusLines()); diff != "" {
		t.Errorf("statuses (-want +got)\n%s", diff)
	}
}

// With cancelInProgress on branches, a newer push cancels the older run
// of the same app only: an app it does not build keeps its run.
func TestMonorepoSupersedePerApp(t *testing.T) {
	h := newHarness(t)
	cfg := shop + "cancelInProgress: {branches: true}\n"
	h.scm.files[shaA], h.scm.files[shaB] = cfg, cfg
	first := push("main", shaA, "d1")
	first.ChangedPaths = []string{"libs/a.go"}
	second := push("main", shaB, "d2")
	second.ChangedPaths = []string{"services/web/a.js"}
	h.store.add(first)
	id := h.store.add(second)
	h.step(t)
	got := map[string]bool{}
	for _, app := range []string{"api", "web"} {
		ev := first
		got[app] = isCancelled(t, h, tekton.RunName(app, &ev))
	}
	if diff := cmp.Diff(map[string]bool{"api": false, "web": true}, got); diff != "" {
		t.Errorf("first push's runs cancelled (-want +got)\n%s", diff)
	}
	if r := h.outcome(id).Reason; !strings.HasSuffix(r, ", cancelled 1 older runs") {
		t.Errorf("reason %q", r)
	}
}

func ExampleBuildAllMarker() {
	fmt.Println(BuildAllMarker)
	// Output: [slipway build-all]
}
