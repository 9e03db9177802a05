package recovery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/scm/gitlab"
	"github.com/slipway-ci/slipway/pkg/store"
)

const (
	mainSHA = "1111111111111111111111111111111111111111"
	oldSHA  = "2222222222222222222222222222222222222222"
	mrSHA   = "3333333333333333333333333333333333333333"
)

// glHost is a go-gitlab client on an httptest mux serving one project
// with a fresh main, an old branch and one open merge request.
func glHost(t *testing.T) (*gitlab.Client, *http.ServeMux) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, err := gitlab.NewClient("glpat-token", srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	mux.HandleFunc("GET /api/v4/projects/{id}", func(w http.ResponseWriter, r *http.Request) {
		if id := r.PathValue("id"); id != "acme/shop" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, `{"id":7,"path_with_namespace":"acme/shop","default_branch":"main",
			"http_url_to_repo":"https://gitlab.example.com/acme/shop.git","web_url":"https://gitlab.example.com/acme/shop"}`)
	})
	mux.HandleFunc("GET /api/v4/projects/7/repository/branches", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `[{"name":"main","default":true,"commit":{"id":%q,"message":"fix the cart\n","author_name":"Ada","author_email":"ada@example.com","committed_date":%q}},
			{"name":"stale","commit":{"id":%q,"message":"old","author_name":"Bob","author_email":"bob@example.com","committed_date":%q}}]`,
			mainSHA, now.Add(-30*time.Minute).Format(time.RFC3339), oldSHA, now.Add(-30*24*time.Hour).Format(time.RFC3339))
	})
	mux.HandleFunc("GET /api/v4/projects/7/merge_requests", func(w http.ResponseWriter, r *http.Request) {
		if got := r.URL.Query().Get("state"); got != "opened" {
			t.Errorf("merge requests state = %q, want opened", got)
		}
		if r.URL.Query().Get("updated_after") == "" {
			t.Error("merge requests listed without updated_after")
		}
		fmt.Fprintf(w, `[{"id":70,"iid":4,"project_id":7,"title":"Faster checkout","source_branch":"fast","target_branch":"main",
			"sha":%q,"author":{"username":"carol"},"updated_at":%q}]`, mrSHA, now.Add(-time.Hour).Format(time.RFC3339))
	})
	mux.HandleFunc("GET /api/v4/projects/7/repository/commits/{sha}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("sha") != mrSHA {
			t.Errorf("commit %s looked up; only the missing MR head needs it", r.PathValue("sha"))
		}
		fmt.Fprintf(w, `{"id":%q,"message":"speed up\n","author_name":"Carol","author_email":"carol@example.com","committed_date":%q}`,
			mrSHA, now.Add(-70*time.Minute).Format(time.RFC3339))
	})
	return c, mux
}

// recordIntake records as the webhook's queue does (dispatch.Intake
// records first too); the dispatcher reads the same rows.
type recordIntake struct{ st *store.DB }

func (r recordIntake) Accept(ctx context.Context, ev *event.Event) (event.Receipt, error) {
	id, dup, err := r.st.RecordEvent(ctx, ev)
	return event.Receipt{ID: id, Duplicate: dup}, err
}

func TestGitLabPass(t *testing.T) {
	ctx := context.Background()
	c, _ := glHost(t)
	st := openStore(t)
	g, err := NewGitLab(c, st, recordIntake{st}, []string{"acme/shop"}, Options{Interval: time.Minute, Clock: clocktesting.NewFakeClock(now)})
	if err != nil {
		t.Fatal(err)
	}
	n, err := g.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("Pass enqueued %d, want 2 (main's head and the MR's)", n)
	}
	got, err := st.ListEvents(ctx, store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	base := event.Event{Provider: event.GitLab, Action: event.Build, Repo: "acme/shop", ProjectID: 7,
		CloneURL: "https://gitlab.example.com/acme/shop.git", WebURL: "https://gitlab.example.com/acme/shop",
		DefaultBranch: "main", State: event.Queued, Reason: Reason}
	push, mr := base, base
	push.Kind, push.Ref, push.SHA = event.Push, "refs/heads/main", mainSHA
	push.Author, push.AuthorEmail, push.CommitMessage, push.CommitTime = "Ada", "ada@example.com", "fix the cart\n", now.Add(-30*time.Minute)
	mr.Kind, mr.Ref, mr.SHA, mr.MRNumber = event.MergeRequest, "refs/merge-requests/4/head", mrSHA, 4
	mr.SourceBranch, mr.TargetBranch, mr.MRTitle, mr.Author = "fast", "main", "Faster checkout", "carol"
	mr.AuthorEmail, mr.CommitMessage, mr.CommitTime = "carol@example.com", "speed up\n", now.Add(-70*time.Minute)
	push.Delivery, mr.Delivery = recoveredDelivery(push), recoveredDelivery(mr)
	want := []event.Event{mr, push} // newest id first
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(event.Event{}, "ID", "ReceivedAt")); diff != "" {
		t.Errorf("recorded events (-want +got):\n%s", diff)
	}

	// Everything is recorded now: the next pass enqueues nothing.
	if n, err := g.Pass(ctx); err != nil || n != 0 {
		t.Errorf("second Pass = %d, %v; want 0, nil", n, err)
	}
}

func TestGitLabRecordedHeadIsLeftAlone(t *testing.T) {
	ctx := context.Background()
	c, _ := glHost(t)
	st := openStore(t)
	// The webhooks of both heads came in.
	for _, ev := range []event.Event{
		{Provider: event.GitLab, Kind: event.Push, Action: event.Build, Delivery: "uuid-1", Repo: "acme/shop", Ref: "refs/heads/main", SHA: mainSHA},
		{Provider: event.GitLab, Kind: event.MergeRequest, Action: event.Build, Delivery: "uuid-2", Repo: "acme/shop", Ref: "refs/merge-requests/4/head", SHA: mrSHA},
	} {
		if _, _, err := st.RecordEvent(ctx, &ev); err != nil {
			t.Fatal(err)
		}
	}
	g, err := NewGitLab(c, st, recordIntake{st}, []string{"acme/shop"}, Options{Interval: time.Minute, Clock: clocktesting.NewFakeClock(now)})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := g.Pass(ctx); err != nil || n != 0 {
		t.Errorf("Pass = %d, %v; want 0, nil", n, err)
	}
}

func TestGitLabRateLimitStopsPass(t *testing.T) {
	ctx := context.Background()
	c, mux := glHost(t)
	mux.HandleFunc("GET /api/v4/projects/acme%2Fweb", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"message":"429 Too Many Requests"}`)
	})
	st := openStore(t)
	g, err := NewGitLab(c, st, recordIntake{st}, []string{"acme/web", "acme/shop"}, Options{Interval: time.Minute, Clock: clocktesting.NewFakeClock(now)})
	if err != nil {
		t.Fatal(err)
	}
	n, err := g.Pass(ctx)
	var rl *errRateLimited
	if !errors.As(err, &rl) || n != 0 {
		t.Fatalf("Pass = %d, %v; want 0 and a rate limit", n, err)
	}
	if rl.after != 30*time.Second {
		t.Errorf("retry after %s, want 30s", rl.after)
	}
}
