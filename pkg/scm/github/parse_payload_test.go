package github

import (
	"errors"
	"io/fs"
	"path"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/webhooks"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := fs.ReadFile(webhooks.FS, path.Join("github", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	helloRepo  = "Codertocat/Hello-World"
	helloClone = "https://github.com/Codertocat/Hello-World.git"
	helloWeb   = "https://github.com/Codertocat/Hello-World"
	helloSHA   = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
	prHeadSHA  = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
)

func pr(action event.Action, reason, before string) *event.Event {
	return &event.Event{
		Provider: event.GitHub, Kind: event.MergeRequest, Action: action, Reason: reason, Delivery: "d-1",
		Repo: helloRepo, CloneURL: helloClone, WebURL: helloWeb, DefaultBranch: "master",
		Ref: "refs/pull/2/head", SHA: prHeadSHA, BeforeSHA: before,
		MRNumber: 2, SourceBranch: "changes", TargetBranch: "master",
		MRTitle: "Update the README with new information.", Author: "Codertocat",
	}
}

func TestParseWebhook(t *testing.T) {
	tests := []struct {
		name, eventType, file string
		want                  *event.Event
	}{{
		name: "push to a branch", eventType: "push", file: "push.json",
		want: &event.Event{
			Provider: event.GitHub, Kind: event.Push, Action: event.Build, Delivery: "d-1",
			Repo: helloRepo, CloneURL: helloClone, WebURL: helloWeb, DefaultBranch: "master",
			Ref: "refs/heads/master", SHA: helloSHA, BeforeSHA: event.ZeroSHA,
			Author: "Codertocat", AuthorEmail: "21031067+Codertocat@users.noreply.github.com",
			CommitMessage: "Initial commit", CommitTime: time.Date(2019, 5, 15, 15, 19, 25, 0, time.UTC),
			ChangedPaths: []string{"README.md"},
		},
	}, {
		name: "tag created", eventType: "push", file: "push-tag.json",
		want: &event.Event{
			Provider: event.GitHub, Kind: event.Tag, Action: event.Build, Delivery: "d-1",
			Repo: helloRepo, CloneURL: helloClone, WebURL: helloWeb, DefaultBranch: "master",
			Ref: "refs/tags/simple-tag", SHA: helloSHA, BeforeSHA: event.ZeroSHA,
			Author: "Codertocat", AuthorEmail: "21031067+Codertocat@users.noreply.github.com",
			CommitMessage: "Adding a .gitignore file", CommitTime: time.Date(2019, 5, 15, 15, 20, 41, 0, time.UTC),
		},
	}, {
		name: "tag deleted", eventType: "push", file: "push-tag-deleted.json",
		want: &event.Event{
			Provider: event.GitHub, Kind: event.Tag, Action: event.Ignore, Reason: "tag simple-tag was deleted", Delivery: "d-1",
			Repo: helloRepo, CloneURL: helloClone, WebURL: helloWeb, DefaultBranch: "master",
			Ref: "refs/tags/simple-tag", SHA: event.ZeroSHA, BeforeSHA: helloSHA,
			Author: "Codertocat", AuthorEmail: "21031067+Codertocat@users.noreply.github.com",
		},
	}, {
		name: "branch deleted", eventType: "push", file: "push-branch-deleted.json",
		want: &event.Event{
			Provider: event.GitHub, Kind: event.Push, Action: event.Ignore, Reason: "branch feature was deleted", Delivery: "d-1",
			Repo: helloRepo, CloneURL: helloClone, WebURL: helloWeb, DefaultBranch: "master",
			Ref: "refs/heads/feature", SHA: event.ZeroSHA, BeforeSHA: helloSHA,
			Author: "Codertocat", AuthorEmail: "21031067+Codertocat@users.noreply.github.com",
		},
	}, {
		name: "pull request opened", eventType: "pull_request", file: "pull_request-opened.json",
		want: pr(event.Build, "", ""),
	}, {
		name: "pull request synchronize", eventType: "pull_request", file: "pull_request-synchronize.json",
		want: pr(event.Build, "", "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"),
	}, {
		name: "pull request reopened", eventType: "pull_request", file: "pull_request-reopened.json",
		want: pr(event.Build, "", ""),
	}, {
		name: "pull request closed", eventType: "pull_request", file: "pull_request-closed.json",
		want: pr(event.Cancel, "", ""),
	}, {
		name: "pull request labeled", eventType: "pull_request", file: "pull_request-labeled.json",
		want: pr(event.Ignore, `pull request action "labeled" does not build`, ""),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseWebhook(tt.eventType, "d-1", fixture(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseWebhook (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseWebhookErrors(t *testing.T) {
	tests := []struct {
		name, eventType string
		body            []byte
		want            error
	}{
		{"ping", "ping", fixture(t, "ping.json"), scm.ErrPing},
		{"unknown event", "issues", []byte(`{}`), scm.ErrUnsupportedEvent},
		{"empty event type", "", []byte(`{}`), scm.ErrUnsupportedEvent},
		{"broken JSON", "push", []byte(`{"ref":`), scm.ErrMalformed},
		{"wrong JSON type", "push", []byte(`{"ref":42}`), scm.ErrMalformed},
		{"push without repository", "push", []byte(`{"ref":"refs/heads/main","after":"` + helloSHA + `"}`), scm.ErrMalformed},
		{"push without after", "push", []byte(`{"ref":"refs/heads/main","repository":{"full_name":"a/b","clone_url":"https://x/a/b.git"}}`), scm.ErrMalformed},
		{"push without clone URL", "push", []byte(`{"ref":"refs/heads/main","after":"` + helloSHA + `","repository":{"full_name":"a/b"}}`), scm.ErrMalformed},
		{"pull request without head SHA", "pull_request", []byte(`{"action":"opened","number":1,"pull_request":{"base":{"repo":{"full_name":"a/b","clone_url":"https://x/a/b.git"}}}}`), scm.ErrMalformed},
		{"null body", "pull_request", []byte(`null`), scm.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := ParseWebhook(tt.eventType, "d-1", tt.body)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseWebhook() = %v, %v; want error %v", ev, err, tt.want)
			}
		})
	}
}

// FuzzParseGitHub checks the parser never panics and never returns an event
// the dispatcher could not act on.
func FuzzParseGitHub(f *testing.F) {
	entries, err := fs.ReadDir(webhooks.FS, "github")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		typ := "push"
		switch {
		case len(e.Name()) > 12 && e.Name()[:12] == "pull_request":
			typ = "pull_request"
		case e.Name() == "ping.json":
			typ = "ping"
		case len(e.Name()) > 13 && e.Name()[:13] == "issue_comment":
			typ = "issue_comment"
		}
		f.Add(typ, fixture(f, e.Name()))
	}
	f.Fuzz(func(t *testing.T, eventType string, body []byte) {
		ev, err := ParseWebhook(eventType, "d", body)
		if err != nil {
			if ev != nil {
				t.Fatalf("event %+v returned with error %v", ev, err)
			}
			return
		}
		if ev.Provider != event.GitHub || ev.Kind == "" || ev.Repo == "" || ev.Delivery != "d" {
			t.Fatalf("incomplete event: %+v", ev)
		}
		switch ev.Action {
		case event.Build:
			if ev.SHA == "" || ev.CloneURL == "" || ev.Ref == "" {
				t.Fatalf("build event without SHA, clone URL or ref: %+v", ev)
			}
		case event.Ignore:
			if ev.Reason == "" {
				t.Fatalf("ignored event without reason: %+v", ev)
			}
		case event.Cancel:
			if ev.MRNumber <= 0 {
				t.Fatalf("cancel without merge request number: %+v", ev)
			}
		case event.Retest, event.OkToTest:
			if ev.MRNumber <= 0 || ev.Author == "" || !ev.Commented || ev.CloneURL == "" {
				t.Fatalf("retest without merge request number, commenter or clone URL: %+v", ev)
			}
		default:
			t.Fatalf("unknown action %q", ev.Action)
		}
	})
}

func TestParseWebhookOtherRef(t *testing.T) {
	body := []byte(`{"ref":"refs/notes/commits","after":"` + helloSHA + `","repository":{"full_name":"a/b","clone_url":"https://x/a/b.git"}}`)
	got, err := ParseWebhook("push", "d-1", body)
	if err != nil {
		t.Fatal(err)
	}
	want := &event.Event{
		Provider: event.GitHub, Kind: event.Push, Action: event.Ignore, Delivery: "d-1",
		Reason: "ref refs/notes/commits is neither a branch nor a tag",
		Repo:   "a/b", CloneURL: "https://x/a/b.git", Ref: "refs/notes/commits", SHA: helloSHA,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseWebhook (-want +got):\n%s", diff)
	}
}
