package gitlab

import (
	"errors"
	"io/fs"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/webhooks"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := fs.ReadFile(webhooks.FS, path.Join("gitlab", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// eventTypeOf names the X-Gitlab-Event header of a fixture file.
func eventTypeOf(file string) string {
	switch {
	case strings.HasPrefix(file, "tag_push"):
		return "Tag Push Hook"
	case strings.HasPrefix(file, "merge_request"):
		return "Merge Request Hook"
	case strings.HasPrefix(file, "note"):
		return "Note Hook"
	default:
		return "Push Hook"
	}
}

var plus2 = time.FixedZone("", 2*60*60)

func mr(action event.Action, reason, before string) *event.Event {
	return &event.Event{
		Provider: event.GitLab, Kind: event.MergeRequest, Action: action, Reason: reason, Delivery: "d-1",
		Repo: "gitlabhq/gitlab-test", ProjectID: 1,
		CloneURL: "http://example.com/gitlabhq/gitlab-test.git", WebURL: "http://example.com/gitlabhq/gitlab-test",
		DefaultBranch: "master", Ref: "refs/merge-requests/1/head",
		SHA: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", BeforeSHA: before,
		MRNumber: 1, SourceBranch: "ms-viewport", TargetBranch: "master", MRTitle: "MS-Viewport",
		Author: "user1", AuthorEmail: "user1@example.com",
		CommitMessage: "fixed readme", CommitTime: time.Date(2012, 1, 3, 23, 36, 29, 0, plus2),
	}
}

func pushEvent() *event.Event {
	return &event.Event{
		Provider: event.GitLab, Kind: event.Push, Action: event.Build, Delivery: "d-1",
		Repo: "mike/diaspora", ProjectID: 15,
		CloneURL: "http://example.com/mike/diaspora.git", WebURL: "http://example.com/mike/diaspora",
		DefaultBranch: "master", Ref: "refs/heads/master",
		SHA: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", BeforeSHA: "95790bf891e76fee5e1747ab589903a6a1f80f22",
		Author: "jsmith", AuthorEmail: "john@example.com",
		CommitMessage: "fixed readme\n", CommitTime: time.Date(2012, 1, 3, 23, 36, 29, 0, plus2),
		// total_commits_count (4) is more than the 2 listed: paths unknown.
		ChangedPaths: nil,
	}
}

func tagEvent() *event.Event {
	return &event.Event{
		Provider: event.GitLab, Kind: event.Tag, Action: event.Build, Delivery: "d-1",
		Repo: "jsmith/example", ProjectID: 1,
		CloneURL: "http://example.com/jsmith/example.git", WebURL: "http://example.com/jsmith/example",
		DefaultBranch: "master", Ref: "refs/tags/v1.0.0",
		SHA: "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7", BeforeSHA: event.ZeroSHA,
		Author:        "jsmith",
		CommitMessage: "Merge branch 'some-feature' into 'master'\n\nRelease v1.0.0\n\nSee merge request jsmith/example!1",
		CommitTime:    time.Date(2012, 1, 3, 23, 36, 29, 0, plus2),
		ChangedPaths:  []string{"CHANGELOG", "UPGRADE.md"},
	}
}

func TestParseWebhook(t *testing.T) {
	branchDeleted := pushEvent()
	branchDeleted.SHA = event.ZeroSHA
	branchDeleted.CommitMessage, branchDeleted.CommitTime = "", time.Time{}
	branchDeleted.Ignored("branch master deleted")

	tagDeleted := tagEvent()
	tagDeleted.SHA, tagDeleted.BeforeSHA = event.ZeroSHA, "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7"
	tagDeleted.CommitMessage, tagDeleted.CommitTime, tagDeleted.ChangedPaths = "", time.Time{}, nil
	tagDeleted.Ignored("tag v1.0.0 deleted")

	tests := []struct {
		file string
		want *event.Event
	}{
		{"push.json", pushEvent()},
		{"push-branch-deleted.json", branchDeleted},
		{"tag_push.json", tagEvent()},
		{"tag_push-deleted.json", tagDeleted},
		{"merge_request-open.json", mr(event.Build, "", "")},
		{"merge_request-update-oldrev.json", mr(event.Build, "", "95790bf891e76fee5e1747ab589903a6a1f80f22")},
		{"merge_request-update.json", mr(event.Ignore, "merge request updated without new commits", "")},
		{"merge_request-close.json", mr(event.Cancel, "", "")},
		{"merge_request-merge.json", mr(event.Cancel, "", "")},
		{"merge_request-approved.json", mr(event.Ignore, `merge request action "approved" does not build`, "")},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := ParseWebhook(eventTypeOf(tt.file), "d-1", fixture(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseWebhook (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseWebhookChangedPaths(t *testing.T) {
	body := []byte(`{"object_kind":"push","ref":"refs/heads/main","before":"a","after":"b",
		"project":{"id":3,"path_with_namespace":"g/p","git_http_url":"https://gl/g/p.git"},
		"commits":[{"id":"a1","added":["x"],"modified":["y"]},{"id":"b","removed":["z"],"modified":["x"]}],
		"total_commits_count":2}`)
	got, err := ParseWebhook("Push Hook", "d", body)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"x", "y", "z"}, got.ChangedPaths); diff != "" {
		t.Errorf("ChangedPaths (-want +got):\n%s", diff)
	}
}

func TestParseWebhookErrors(t *testing.T) {
	tests := []struct {
		name, eventType string
		body            []byte
		want            error
	}{
		{"unknown event", "Issue Hook", []byte(`{}`), scm.ErrUnsupportedEvent},
		{"empty event type", "", fixture(t, "push.json"), scm.ErrUnsupportedEvent},
		{"broken JSON", "Push Hook", []byte(`{"ref":`), scm.ErrMalformed},
		{"wrong JSON type", "Merge Request Hook", []byte(`{"object_attributes":{"iid":"one"}}`), scm.ErrMalformed},
		{"push without project", "Push Hook", []byte(`{"ref":"refs/heads/main","after":"abc"}`), scm.ErrMalformed},
		{"push without after", "Push Hook", []byte(`{"ref":"refs/heads/main","project":{"path_with_namespace":"g/p"}}`), scm.ErrMalformed},
		{"merge request without last commit", "Merge Request Hook", []byte(`{"project":{"path_with_namespace":"g/p","git_http_url":"https://x"},"object_attributes":{"iid":3,"action":"open"}}`), scm.ErrMalformed},
		{"null body", "Tag Push Hook", []byte(`null`), scm.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := ParseWebhook(tt.eventType, "d-1", tt.body)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseWebhook() = %+v, %v; want error %v", ev, err, tt.want)
			}
		})
	}
}

// FuzzParseGitLab checks the parser never panics and never returns an event
// the dispatcher could not act on.
func FuzzParseGitLab(f *testing.F) {
	entries, err := fs.ReadDir(webhooks.FS, "gitlab")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		f.Add(eventTypeOf(e.Name()), fixture(f, e.Name()))
	}
	f.Fuzz(func(t *testing.T, eventType string, body []byte) {
		ev, err := ParseWebhook(eventType, "d", body)
		if err != nil {
			if ev != nil {
				t.Fatalf("event %+v returned with error %v", ev, err)
			}
			return
		}
		if ev.Provider != event.GitLab || ev.Kind == "" || ev.Repo == "" || ev.Delivery != "d" {
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
	tests := []struct {
		eventType, ref, want string
	}{
		{"Push Hook", "refs/tags/v1", "ref refs/tags/v1 is not under refs/heads/"},
		{"Tag Push Hook", "refs/heads/main", "ref refs/heads/main is not under refs/tags/"},
	}
	for _, tt := range tests {
		t.Run(tt.eventType, func(t *testing.T) {
			body := []byte(`{"ref":"` + tt.ref + `","after":"abc","project":{"id":3,"path_with_namespace":"g/p","git_http_url":"https://gl/g/p.git"}}`)
			got, err := ParseWebhook(tt.eventType, "d", body)
			if err != nil {
				t.Fatal(err)
			}
			if got.Action != event.Ignore || got.Reason != tt.want {
				t.Errorf("ParseWebhook() = %s %q, want ignore %q", got.Action, got.Reason, tt.want)
			}
		})
	}
}
