package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/scm"
)

func TestParseIssueComment(t *testing.T) {
	base := string(fixture(t, "issue_comment-retest.json"))
	retest := &event.Event{
		Provider: event.GitHub, Kind: event.MergeRequest, Action: event.Retest, Delivery: "d-1",
		Repo: helloRepo, CloneURL: helloClone, WebURL: helloWeb, DefaultBranch: "master",
		Ref: "refs/pull/1/head", MRNumber: 1, MRTitle: "Spelling error in the README file",
		Author: "Codertocat", Commented: true,
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
		{"cancel", strings.Replace(base, `/retest\n`, `/cancel`, 1), &cancel, nil},
		{"no command", strings.Replace(base, `/retest\n`, `thanks`, 1), nil, scm.ErrUnsupportedEvent},
		{"edited", strings.Replace(base, `"action": "created"`, `"action": "edited"`, 1), nil, scm.ErrUnsupportedEvent},
		{"on an issue", strings.Replace(base, `"pull_request": {`, `"not_a_pr": {`, 1), nil, scm.ErrUnsupportedEvent},
		{"by a bot", botComment(t, base), nil, scm.ErrUnsupportedEvent},
		{"no repo", strings.Replace(base, `"full_name": "Codertocat/Hello-World"`, `"full_name": ""`, 1), nil, scm.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseWebhook("issue_comment", "d-1", []byte(tc.body))
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

// botComment is base with the comment written by a GitHub App.
func botComment(t *testing.T, base string) string {
	var doc map[string]any
	if err := json.Unmarshal([]byte(base), &doc); err != nil {
		t.Fatal(err)
	}
	doc["comment"].(map[string]any)["user"].(map[string]any)["type"] = "Bot"
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUpsertComment(t *testing.T) {
	for _, tc := range []struct {
		name     string
		existing []map[string]any
		wantReq  string
	}{
		{"creates when absent", []map[string]any{{"id": 1, "body": "hello"}}, "POST /api/v3/repos/o/r/issues/7/comments"},
		{"edits the marked one", []map[string]any{{"id": 1, "body": "hello"}, {"id": 42, "body": scm.CommentMarker + "\nold"}}, "PATCH /api/v3/repos/o/r/issues/comments/42"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, mux := setup(t)
			var got []string
			var gotBody string
			mux.HandleFunc("GET /api/v3/repos/o/r/issues/7/comments", func(w http.ResponseWriter, r *http.Request) {
				json.NewEncoder(w).Encode(tc.existing)
			})
			write := func(w http.ResponseWriter, r *http.Request) {
				got = append(got, r.Method+" "+r.URL.Path)
				var cm struct{ Body string }
				b, _ := io.ReadAll(r.Body)
				if err := json.Unmarshal(b, &cm); err != nil {
					t.Error(err)
				}
				gotBody = cm.Body
				fmt.Fprint(w, `{"id": 42}`)
			}
			mux.HandleFunc("POST /api/v3/repos/o/r/issues/7/comments", write)
			mux.HandleFunc("PATCH /api/v3/repos/o/r/issues/comments/42", write)
			if err := c.UpsertComment(context.Background(), scm.Repo{FullName: "o/r"}, 7, scm.CommentMarker, "new"); err != nil {
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
		perm    string
		status  int
		want    bool
		wantErr bool
	}{
		{"admin", 200, true, false},
		{"write", 200, true, false},
		{"read", 200, false, false},
		{"none", 200, false, false},
		{"", 404, false, false},
		{"", 502, false, true},
	} {
		t.Run(fmt.Sprint(tc.perm, tc.status), func(t *testing.T) {
			c, mux := setup(t)
			mux.HandleFunc("GET /api/v3/repos/o/r/collaborators/octo/permission", func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				fmt.Fprintf(w, `{"permission": %q}`, tc.perm)
			})
			got, err := c.CanWrite(context.Background(), scm.Repo{FullName: "o/r"}, "octo")
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.wantErr {
				if ok, _ := scm.IsTransient(err); !ok {
					t.Errorf("a 502 should be transient: %v", err)
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
	mux.HandleFunc("GET /api/v3/repos/o/r/pulls/7", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"number":7,"state":"open","title":"T","head":{"sha":"abc","ref":"feature"},"base":{"ref":"main"}}`)
	})
	got, err := c.MergeRequestHead(context.Background(), scm.Repo{FullName: "o/r"}, 7)
	if err != nil {
		t.Fatal(err)
	}
	want := scm.MergeRequestHead{SHA: "abc", SourceBranch: "feature", TargetBranch: "main", Title: "T", Open: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("head (-want +got):\n%s", diff)
	}
}
