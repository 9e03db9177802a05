package notify

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/scm"
)

// apiRun is the Go API's run on the same head as failedRun (the web app).
func apiRun(state run.State) run.Run {
	r := failedRun()
	r.ID, r.App, r.State, r.Message = "ci/api-1a2b3c4d-abcd", "api", state, ""
	if state == run.Succeeded {
		r.ImageURL, r.ImageDigest = "registry.local:5000/team/api/pr:1a2b3c4d", "sha256:"+strings.Repeat("ab", 32)
	}
	return r
}

// TestGoldenAppsComment: a line per app, then each app's section.
func TestGoldenAppsComment(t *testing.T) {
	web := failedSummary()
	web.Tests = failingTests()
	api := Summary{Run: apiRun(run.Succeeded), Link: "https://ci.example.com/runs/ci/api-1a2b3c4d-abcd"}
	got := AppsComment([]Summary{web, api})
	p := filepath.Join("testdata", "comment-apps.golden.md")
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run make update-golden)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("comment (-want +got):\n%s", diff)
	}
}

func TestAppsCommentHeadline(t *testing.T) {
	for _, tc := range []struct {
		name   string
		states []run.State
		want   string
	}{
		{"all succeeded", []run.State{run.Succeeded, run.Succeeded}, "### ✅ Slipway CI: 2 apps succeeded"},
		{"one failed", []run.State{run.Succeeded, run.Failed, run.Running}, "### ❌ Slipway CI: 1 of 3 apps failed"},
		{"one running", []run.State{run.Succeeded, run.Running}, "### ⏳ Slipway CI: 1 of 2 apps still running"},
		{"one cancelled", []run.State{run.Succeeded, run.Canceled}, "### Slipway CI: 2 apps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sums []Summary
			for i, st := range tc.states {
				r := apiRun(st)
				r.App = string(rune('a' + i))
				sums = append(sums, Summary{Run: r})
			}
			if got := AppsComment(sums); !strings.HasPrefix(got, tc.want+"\n") {
				t.Errorf("headline of\n%s\nwant %q", got, tc.want)
			}
		})
	}
}

// The MR comment a monorepo's run sends lists every app's latest run on
// the head, read from the store as it is sent; a repository's single app
// gets its own run's comment as before.
func TestMRCommentListsEveryApp(t *testing.T) {
	otherMR := apiRun(run.Failed)
	otherMR.ID, otherMR.App, otherMR.MRNumber = "ci/db-other", "db", 8
	gitlab := apiRun(run.Failed)
	gitlab.ID, gitlab.App, gitlab.Provider = "ci/db-gitlab", "db", event.GitLab
	olderWeb := failedRun()
	olderWeb.ID = "ci/web-older"
	olderAPI := apiRun(run.Failed)
	olderAPI.ID = "ci/api-older"
	for _, tc := range []struct {
		name     string
		runs     []run.Run // newest first
		want     []string
		wantNot  []string
		wantSame bool // exactly Comment of the finished run
	}{
		{name: "both apps finished", runs: []run.Run{failedRun(), apiRun(run.Succeeded), olderAPI, otherMR, gitlab},
			want: []string{"| api | ✅ succeeded | [ci/api-1a2b3c4d-abcd](https://ci.example.com/runs/ci/api-1a2b3c4d-abcd) |",
				"| web | ❌ failed | [ci/web-1a2b3c4d-abcd](https://ci.example.com/runs/ci/web-1a2b3c4d-abcd) |",
				"#### ✅ api succeeded", "#### ❌ web failed", "`unit-test`"},
			wantNot: []string{"ci/api-older", "ci/db-", "| db |"}},
		{name: "the other app still running", runs: []run.Run{apiRun(run.Running), failedRun()},
			want: []string{"| api | ⏳ is running |", "#### ⏳ api is running"}},
		{name: "a single app", runs: []run.Run{failedRun(), olderWeb}, wantSame: true},
		{name: "nothing stored", wantSame: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs := newMemRecords()
			recs.runs = tc.runs
			comments := &fakeCommenter{}
			summarize := func(_ context.Context, r run.Run) Summary {
				if r.App == "web" {
					return failedSummary()
				}
				return Summary{Run: r, Link: "https://ci.example.com/runs/" + r.ID}
			}
			n, err := New(recs, summarize, WithMRComments(map[event.Provider]scm.Commenter{event.GitHub: comments}))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() { done <- n.Run(ctx) }()
			n.Finished(ctx, failedRun())
			recs.wait(t, 1)
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			comments.mu.Lock()
			defer comments.mu.Unlock()
			if len(comments.got) != 1 {
				t.Fatalf("%d comments, want 1", len(comments.got))
			}
			body := comments.got[0]
			if tc.wantSame {
				if want := "acme/web#7\n" + scm.CommentMarker + "\n" + Comment(failedSummary()); body != want {
					t.Errorf("comment (-want +got):\n%s", cmp.Diff(want, body))
				}
				return
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("comment lacks %q:\n%s", w, body)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(body, w) {
					t.Errorf("comment has %q:\n%s", w, body)
				}
			}
		})
	}
}
