package gitlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/scm"
)

func TestParseNote(t *testing.T) {
	base := string(fixture(t, "note-merge_request-retest.json"))
	retest := &event.Event{
		Provider: event.GitLab, Kind: event.MergeRequest, Action: event.Retest, Delivery: "d-1",
		Repo: "gitlab-org/gitlab-test", ProjectID: 5, CloneURL: "http://example.com/gitlab-org/gitlab-test.git",
		WebURL: "http://example.com/gitlab-org/gitlab-test", DefaultBranch: "master",
		Ref: "refs/merge-requests/1/head", SHA: "562e173be03b8ff2efb05345d12df18815438a4b",
		MRNumber: 1, SourceBranch: "master", TargetBranch: "markdown",
		MRTitle:       "Tempora et eos debitis quae laborum et.",
		CommitMessage: "Merge branch 'another-branch' into 'master'\n\nCheck in this test\n",
		CommitTime:    time.Date(2015, 4, 8, 21, 0, 25, 0, time.FixedZone("", -7*3600)),
		Author:        "root", Commented: true,
	}
	cancel := *retest
	cancel.Action = event.Cancel
	tests := []struct {
		name    string
		body    string
		want    *event.Event
		wantErr error
	}{
		{"retest", base, retest, nil},
		{"cancel", strings.Replace(base, `/retest"`, `/cancel"`, 1), &cancel, nil},
		{"retest on a merged MR", strings.Replace(base, `"state": "opened"`, `"state": "merged"`, 1), func() *event.Event {
			e := *retest
			return e.Ignored("retest on a merged merge request")
		}(), nil},
		{"no command", strings.Replace(base, `/retest"`, `lgtm"`, 1), nil, scm.ErrUnsupportedEvent},
		{"system note", strings.Replace(base, `"system": false`, `"system": true`, 1), nil, scm.ErrUnsupportedEvent},
		//nolint:misspell // "noteable" is GitLab's field name
		{"on a commit", strings.Replace(base, `"noteable_type": "MergeRequest"`, `"noteable_type": "Commit"`, 1), nil, scm.ErrUnsupportedEvent},
		{"no user", strings.Replace(base, `"username": "root"`, `"username": ""`, 1), nil, scm.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseWebhook("Note Hook", "d-1", []byte(tc.body))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("event (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUpsertNote(t *testing.T) {
	for _, tc := range []struct {
		name     string
		existing string
		wantReq  string
	}{
		{"creates when absent", `[{"id":1,"body":"hi"},{"id":3,"body":"` + "<!-- slipway:ci -->" + `","system":true}]`, "POST /api/v4/projects/5/merge_requests/1/notes"},
		{"edits the marked one", `[{"id":1,"body":"hi"},{"id":42,"body":"<!-- slipway:ci -->\nold"}]`, "PUT /api/v4/projects/5/merge_requests/1/notes/42"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, mux := setup(t)
			var got []string
			var gotBody string
			mux.HandleFunc("GET /api/v4/projects/5/merge_requests/1/notes", func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, tc.existing)
			})
			write := func(w http.ResponseWriter, r *http.Request) {
				got = append(got, r.Method+" "+r.URL.Path)
				var n struct{ Body string }
				b, _ := io.ReadAll(r.Body)
				if err := json.Unmarshal(b, &n); err != nil {
					t.Error(err)
				}
				gotBody = n.Body
				fmt.Fprint(w, `{"id": 42}`)
			}
			mux.HandleFunc("POST /api/v4/projects/5/merge_requests/1/notes", write)
			mux.HandleFunc("PUT /api/v4/projects/5/merge_requests/1/notes/42", write)
			if err := c.UpsertComment(context.Background(), scm.Repo{ProjectID: 5}, 1, scm.CommentMarker, "new"); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{tc.wantReq}, got); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			if want := scm.CommentMarker + "\nnew"; gotBody != want {
				t.Errorf("body = %q, want %q", gotBody, want)
			}
		})
	}
}

func TestCanWrite(t *testing.T) {
	for _, tc := range []struct {
		name    string
		users   string
		status  int
		member  string
		want    bool
		wantErr bool
	}{
		{"developer", `[{"id":9,"username":"dev"}]`, 200, `{"id":9,"access_level":30,"state":"active"}`, true, false},
		{"maintainer", `[{"id":9,"username":"dev"}]`, 200, `{"id":9,"access_level":40,"state":"active"}`, true, false},
		{"reporter", `[{"id":9,"username":"dev"}]`, 200, `{"id":9,"access_level":20,"state":"active"}`, false, false},
		{"blocked", `[{"id":9,"username":"dev"}]`, 200, `{"id":9,"access_level":40,"state":"blocked"}`, false, false},
		{"not a member", `[{"id":9,"username":"dev"}]`, 404, `{"message":"404 Not found"}`, false, false},
		{"unknown user", `[]`, 200, ``, false, false},
		{"server error", `[{"id":9,"username":"dev"}]`, 503, `{}`, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, mux := setup(t)
			mux.HandleFunc("GET /api/v4/users", func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("username") != "dev" {
					t.Errorf("users query = %q", r.URL.RawQuery)
				}
				fmt.Fprint(w, tc.users)
			})
			mux.HandleFunc("GET /api/v4/projects/5/members/all/9", func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.member)
			})
			got, err := c.CanWrite(context.Background(), scm.Repo{ProjectID: 5}, "dev")
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.wantErr {
				if ok, _ := scm.IsTransient(err); !ok {
					t.Errorf("a 503 should be transient: %v", err)
				}
			}
			if got != tc.want {
				t.Errorf("CanWrite = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMergeRequestHead(t *testing.T) {
	c, mux := setup(t)
	mux.HandleFunc("GET /api/v4/projects/5/merge_requests/1", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"iid":1,"state":"opened","title":"T","sha":"abc","source_branch":"feature","target_branch":"main"}`)
	})
	got, err := c.MergeRequestHead(context.Background(), scm.Repo{ProjectID: 5}, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := scm.MergeRequestHead{SHA: "abc", SourceBranch: "feature", TargetBranch: "main", Title: "T", Open: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("head (-want +got):\n%s", diff)
	}
}
