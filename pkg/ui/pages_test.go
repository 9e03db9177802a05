package ui

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/store/storetest"
)

// attrs lists the timeline items' hooks in page order: the contract with
// the browser test and app.js.
var hookRE = regexp.MustCompile(`<li class="(task|step)" data-task="([^"]+)"(?: data-step="([^"]+)")? data-state="([^"]+)">`)

func hooks(body string) []string {
	var out []string
	for _, m := range hookRE.FindAllStringSubmatch(body, -1) {
		s := m[1] + " " + m[2]
		if m[3] != "" {
			s += "/" + m[3]
		}
		out = append(out, s+" "+m[4])
	}
	return out
}

// runningPage gets the page of the running run of objects(false) and
// checks its timeline.
func runningPage(t *testing.T, e *env) (string, http.Header) {
	t.Helper()
	code, body, hdr := e.get("/runs/" + ns + "/" + runName)
	if code != http.StatusOK {
		t.Fatalf("GET run page: %d\n%s", code, body)
	}
	want := []string{
		"task clone succeeded", "step clone/clone succeeded",
		"task generate-dockerfile running", "step generate-dockerfile/render running",
		"task build-push queued",
	}
	if diff := cmp.Diff(want, hooks(body)); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
	return body, hdr
}

func TestRunPageRunning(t *testing.T) {
	e := newEnv(t, objects(false))
	e.recordRun(run.Running)
	// clone's log was saved by the collector; render's is read from its pod.
	if err := e.logs.SaveStepLog(context.Background(), &store.StepLog{RunID: ns + "/" + runName, Task: "clone", Step: "clone",
		Log: "Cloning into '.'...\n", FinishedAt: t0.Add(5 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	e.setPodLog("step-render", "detected go 1.26\n")

	body, hdr := runningPage(t, e)
	for _, s := range []string{
		`<pre id="log-clone-clone" class="log" role="log" aria-live="polite"`,
		"Cloning into &#39;.&#39;...\n</pre>",
		`<pre id="log-generate-dockerfile-render" class="log" role="log" aria-live="polite"`,
		"detected go 1.26\n</pre>",
		`data-stream="/runs/` + ns + `/` + runName + `/stream"`,
		`<a href="https://github.com/acme/web/commit/` + sha + `">`,
		`<dt>Author</dt><dd>ada</dd>`,
		`<script src="/ui/static/app.js" defer></script>`,
	} {
		if !strings.Contains(body, s) {
			t.Errorf("run page lacks %q", s)
		}
	}
	// Anonymous: read-only, no buttons, no sign-in without auth.
	for _, s := range []string{`id="rerun"`, `id="cancel"`, "Sign in"} {
		if strings.Contains(body, s) {
			t.Errorf("anonymous run page shows %q", s)
		}
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
}

func TestRunPageFinishedShowsDockerfileAndProvenanceError(t *testing.T) {
	e := newEnv(t, objects(true))
	e.recordRun(run.Failed)
	r, _ := e.st.GetRun(context.Background(), ns+"/"+runName)
	r.ImageURL, r.ImageDigest = "127.0.0.1:1/apps/web:3f786850", "sha256:"+strings.Repeat("a", 64)
	if err := e.st.UpdateRun(context.Background(), r, *r); err != nil {
		t.Fatal(err)
	}
	e.setPodLog("step-clone", "ok\n")
	e.setPodLog("step-render", "generated .slipway/Dockerfile\n--- slipway:dockerfile .slipway/Dockerfile ---\nFROM golang:1.26 AS build\nRUN echo <b>\n--- end slipway:dockerfile ---\nboom\n")
	code, body, _ := e.get("/runs/" + ns + "/" + runName)
	if code != http.StatusOK {
		t.Fatalf("GET run page: %d\n%s", code, body)
	}
	want := []string{
		"task clone succeeded", "step clone/clone succeeded",
		"task generate-dockerfile failed", "step generate-dockerfile/render failed",
		"task build-push skipped",
	}
	if diff := cmp.Diff(want, hooks(body)); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
	for _, s := range []string{
		`<pre class="dockerfile" id="dockerfile" tabindex="0">FROM golang:1.26 AS build` + "\nRUN echo &lt;b&gt;\n</pre>",
		"exit code 2",
		`<code id="digest">sha256:aaaa`,
		`id="provenance-error">Provenance could not be read: `,
	} {
		if !strings.Contains(body, s) {
			t.Errorf("run page lacks %q", s)
		}
	}
	if strings.Contains(body, "data-stream=") {
		t.Error("a finished run's page still opens a stream")
	}
}

func TestRunPageFromStoreOnly(t *testing.T) {
	e := newEnv(t, nil) // the PipelineRun was pruned
	e.recordRun(run.Succeeded)
	for _, l := range []store.StepLog{
		{RunID: ns + "/" + runName, Task: "clone", Step: "clone", Log: "cloned\n", StartedAt: t0, FinishedAt: t0.Add(time.Second)},
		{RunID: ns + "/" + runName, Task: "unit-test", Step: "test", Log: "PASS\n", Truncated: true, StartedAt: t0.Add(2 * time.Second), FinishedAt: t0.Add(9 * time.Second)},
	} {
		if err := e.logs.SaveStepLog(context.Background(), &l); err != nil {
			t.Fatal(err)
		}
	}
	code, body, _ := e.get("/runs/" + ns + "/" + runName)
	if code != http.StatusOK {
		t.Fatalf("GET run page: %d\n%s", code, body)
	}
	want := []string{"task clone succeeded", "step clone/clone succeeded", "task unit-test succeeded", "step unit-test/test succeeded"}
	if diff := cmp.Diff(want, hooks(body)); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
	for _, s := range []string{"cloned\n</pre>", "PASS\n</pre>", "Only the end of this log was kept."} {
		if !strings.Contains(body, s) {
			t.Errorf("run page lacks %q", s)
		}
	}
}

func TestRunPageNotFound(t *testing.T) {
	e := newEnv(t, nil)
	for _, p := range []string{"/runs/" + ns + "/nope", "/runs/other/" + runName, "/runs/" + ns + "/nope/stream"} {
		if code, body, _ := e.get(p); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404\n%s", p, code, body)
		}
	}
}

func TestLogsAreEscaped(t *testing.T) {
	e := newEnv(t, objects(true))
	e.recordRun(run.Failed)
	hostile := "</pre><script>alert(1)</script><img src=x onerror=alert(2)>\"'&\n"
	e.setPodLog("step-clone", hostile)
	e.setPodLog("step-render", "x\n")
	_, body, _ := e.get("/runs/" + ns + "/" + runName)
	if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
		t.Fatal("the log's markup reached the page unescaped")
	}
	if want := "&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;&#34;&#39;&amp;\n</pre>"; !strings.Contains(body, want) {
		t.Errorf("run page lacks the escaped log %q", want)
	}
	// The stream carries it as JSON: no raw "<" and no line break that
	// could end the data line.
	_, stream, _ := e.get("/runs/" + ns + "/" + runName + "/stream")
	for _, ev := range parseSSE(t, stream) {
		if strings.Contains(ev.data, "<") || strings.Contains(ev.data, "\n") {
			t.Errorf("%s event data not escaped: %q", ev.name, ev.data)
		}
	}
}

func TestRunsPage(t *testing.T) {
	e := newEnv(t, nil, WithSCMAPIURLs("", "https://gitlab.example.com/api/v4"))
	ctx := context.Background()
	add := func(id string, p event.Provider, repo, ref string, mr int, st run.State, author string) {
		ev := storetest.Event("d-" + id)
		ev.Provider, ev.Repo, ev.Author = p, repo, author
		eid, _, err := e.st.RecordEvent(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		r := &run.Run{ID: ns + "/" + id, EventID: eid, Provider: p, Kind: event.Push, Repo: repo, App: "web", Ref: ref, SHA: sha,
			MRNumber: mr, State: st, CreatedAt: t0, StartedAt: t0, FinishedAt: t0.Add(83 * time.Second)}
		if err := e.st.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := e.st.UpdateRun(ctx, r, *r); err != nil {
			t.Fatal(err)
		}
	}
	add("web-1", event.GitHub, "acme/web", "refs/heads/main", 0, run.Succeeded, "ada")
	add("api-1", event.GitLab, "team/sub/api", "refs/heads/feature", 7, run.Failed, "<bob>")
	add("ops-1", event.GitHub, "acme/ops", "refs/heads/queue", 0, run.Pending, "eve")

	tests := []struct {
		query string
		code  int
		runs  []string
		has   []string
	}{
		{"", 200, []string{ns + "/web-1", ns + "/ops-1", ns + "/api-1"}, []string{
			`<a href="https://github.com/acme/web/commit/` + sha + `"><code>3f786850</code></a>`,
			`<a href="https://gitlab.example.com/team/sub/api/-/commit/` + sha + `">`,
			`<a href="https://gitlab.example.com/team/sub/api/-/merge_requests/7">!7</a> feature`,
			`<td data-label="Author">&lt;bob&gt;</td>`,
			`<td data-label="Duration">1m 23s</td>`,
			`<span aria-hidden="true">✓</span> Succeeded`,
		}},
		{"?state=failed", 200, []string{ns + "/api-1"}, []string{`<option value="failed" selected>Failed</option>`}},
		// The badges' words: a queued run is "pending" only in the store.
		{"?state=queued", 200, []string{ns + "/ops-1"}, []string{`<option value="queued" selected>Queued</option>`, `<span aria-hidden="true">…</span> Queued`}},
		{"?state=succeeded", 200, []string{ns + "/web-1"}, []string{`<option value="cancelled">Cancelled</option>`}},
		// The stored names, as older links have them.
		{"?state=failure", 200, []string{ns + "/api-1"}, []string{`<option value="failed" selected>Failed</option>`}},
		{"?repo=acme/web&branch=main", 200, []string{ns + "/web-1"}, nil},
		{"?branch=feature&mr=7", 200, []string{ns + "/api-1"}, nil},
		{"?branch=nope", 200, nil, []string{"No runs match."}},
		{"?state=bogus", 400, nil, []string{`role="alert"`}},
		{"?mr=x", 400, nil, []string{"must be a number"}},
	}
	rowRE := regexp.MustCompile(`<tr data-run="([^"]+)"`)
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			code, body, _ := e.get("/runs" + tt.query)
			if code != tt.code {
				t.Fatalf("status %d, want %d\n%s", code, tt.code, body)
			}
			var got []string
			for _, m := range rowRE.FindAllStringSubmatch(body, -1) {
				got = append(got, m[1])
			}
			if diff := cmp.Diff(tt.runs, got); diff != "" {
				t.Errorf("runs (-want +got):\n%s", diff)
			}
			for _, s := range tt.has {
				if !strings.Contains(body, s) {
					t.Errorf("page lacks %q", s)
				}
			}
		})
	}
	if code, body, _ := e.get("/"); code != 200 || !strings.Contains(body, "<h1>Runs</h1>") {
		t.Errorf("GET /: %d", code)
	}
}

func TestEventsPage(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	ignored := storetest.Event("d-ign")
	ignored.Ignored("branch docs/x is not in .slipway.yaml branches")
	if _, _, err := e.st.RecordEvent(ctx, ignored); err != nil {
		t.Fatal(err)
	}
	queued := storetest.Event("d-q")
	if _, _, err := e.st.RecordEvent(ctx, queued); err != nil {
		t.Fatal(err)
	}
	code, body, _ := e.get("/events")
	if code != 200 {
		t.Fatalf("GET /events: %d", code)
	}
	for _, s := range []string{`data-state="ignored"`, "branch docs/x is not in .slipway.yaml branches", `data-state="queued"`} {
		if !strings.Contains(body, s) {
			t.Errorf("events page lacks %q", s)
		}
	}
	_, body, _ = e.get("/events?state=ignored")
	if strings.Contains(body, `data-state="queued"`) || !strings.Contains(body, `data-state="ignored"`) {
		t.Error("state filter not applied")
	}
	if code, _, _ := e.get("/events?state=lost"); code != 400 {
		t.Errorf("bad state: %d, want 400", code)
	}
}

// A merge request waiting for /ok-to-test is listed with who may approve.
func TestEventsPageWaiting(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	ev := storetest.Event("d-wait")
	id, _, err := e.st.RecordEvent(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	const why = "waiting for /ok-to-test by a maintainer (drive-by is not trusted): /ok-to-test from anyone with write access to acme/web or alice starts 11111111"
	if err := e.st.FinishEvent(ctx, id, event.Waiting, why); err != nil {
		t.Fatal(err)
	}
	code, body, _ := e.get("/events?state=waiting")
	if code != 200 {
		t.Fatalf("GET /events?state=waiting: %d", code)
	}
	for _, s := range []string{`data-state="waiting"`, "anyone with write access to acme/web or alice", `value="waiting"`} {
		if !strings.Contains(body, s) {
			t.Errorf("events page lacks %q", s)
		}
	}
}

func TestStaticAssets(t *testing.T) {
	e := newEnv(t, nil)
	for path, want := range map[string]string{"/ui/static/app.js": "EventSource", "/ui/static/style.css": "@media"} {
		code, body, _ := e.get(path)
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d, body lacks %q", path, code, want)
		}
	}
}

// prMap is a PipelineRunCache over fixed objects (the reporter's watch in
// production, tested in pkg/report).
type prMap map[string]*pipelinev1.PipelineRun

func (m prMap) CachedPipelineRun(ns, name string) (*pipelinev1.PipelineRun, bool) {
	return m[ns+"/"+name].DeepCopy(), true
}

// trMap is a TaskRunCache over fixed objects (the log collector's watch
// in production, tested in pkg/steplog).
type trMap map[string][]*pipelinev1.TaskRun

func (m trMap) CachedTaskRuns(ns, pipelineRun string) ([]pipelinev1.TaskRun, bool) {
	var out []pipelinev1.TaskRun
	for _, tr := range m[ns+"/"+pipelineRun] {
		out = append(out, *tr.DeepCopy())
	}
	return out, true
}

// With run caches — the reporter's PipelineRuns and the collector's
// TaskRuns — an open run page, re-read every second by each viewer, reads
// no PipelineRun or TaskRun from the API server and shows the same
// timeline.
func TestRunPageReadsFromTheRunCaches(t *testing.T) {
	e := newEnv(t, objects(false))
	e.recordRun(run.Running)
	e.setPodLog("step-render", "detected go 1.26\n")
	e.ui.prCache, e.ui.trCache = prMap{ns + "/" + runName: pipelineRun(false)}, trMap{ns + "/" + runName: taskRuns(false)}
	e.tekton.ClearActions()

	runningPage(t, e)
	for _, a := range e.tekton.Actions() {
		if r := a.GetResource().Resource; (r == "pipelineruns" || r == "taskruns") && (a.GetVerb() == "get" || a.GetVerb() == "list") {
			t.Errorf("run page asked the API: %s %s", a.GetVerb(), r)
		}
	}
}
