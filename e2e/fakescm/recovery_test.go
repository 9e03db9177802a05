package fakescm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	gh "github.com/google/go-github/v60/github"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	gl "github.com/xanzy/go-gitlab"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/recovery"
	"github.com/slipway-ci/slipway/pkg/scm/github"
	"github.com/slipway-ci/slipway/pkg/scm/gitlab"
)

// receiver is a webhook endpoint that checks GitHub's signature, records
// what it took and answers 202, or 503 while down.
type receiver struct {
	t      *testing.T
	secret string
	srv    *httptest.Server

	mu   sync.Mutex
	down bool
	got  []received
}

type received struct {
	GUID, Event, Action string
}

func newReceiver(t *testing.T, secret string) *receiver {
	rc := &receiver{t: t, secret: secret}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("receiver: %v", err)
		}
		if err := github.VerifySignature([]byte(secret), body, r.Header.Get(github.SignatureHeader)); err != nil {
			t.Errorf("receiver: delivery %s: %v", r.Header.Get(github.DeliveryHeader), err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var doc struct {
			Action string `json:"action"`
		}
		_ = json.Unmarshal(body, &doc)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if rc.down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		rc.got = append(rc.got, received{r.Header.Get(github.DeliveryHeader), r.Header.Get(github.EventHeader), doc.Action})
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{"state":"queued"}`)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) setDown(down bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.down = down
}

func (rc *receiver) received() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// closedURL is an http URL nothing listens on: a delivery there gets no
// answer, as one to a Slipway scaled to zero.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/hooks/github"
}

func postJSON(t *testing.T, u, body string, out any) int {
	t.Helper()
	resp, err := http.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("POST %s: %v", u, err)
		}
	}
	return resp.StatusCode
}

func ghClient(t *testing.T, srv *httptest.Server) *gh.Client {
	t.Helper()
	c, err := gh.NewClient(srv.Client()).WithAuthToken("token").WithEnterpriseURLs(srv.URL+"/github/api/v3/", srv.URL+"/github/api/v3/")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The hooks and hook deliveries API through go-github itself: hooks
// registered by the control, a delivery that got no answer and one that
// did, signed with the hook's secret, the recorded request, cursor
// pagination and a redelivery.
func TestGitHubHookDeliveries(t *testing.T) {
	fake := New(t.TempDir())
	srv := httptest.NewServer(fake.Handler())
	defer srv.Close()
	ctx := context.Background()
	rc := newReceiver(t, "s3cret")
	// Before any hook is registered nothing receives an event (404).
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{"repo": "nobody/none", "event": "push", "payload": {}}`, 404},
		{`{"repo": "e2e", "event": "push", "payload": {}}`, 400},
		{`{"repo": "e2e/app", "event": "Push!", "payload": {}}`, 400},
		{`{"repo": "e2e/app", "event": "push", "payload": [1]}`, 400},
		{`{"repo": "e2e/app", "event": "push"}`, 400},
		{`not json`, 400},
	} {
		if got := postJSON(t, srv.URL+"/_fake/github/deliver", tc.body, nil); got != tc.want {
			t.Errorf("POST /_fake/github/deliver %s = %d, want %d", tc.body, got, tc.want)
		}
	}
	for _, tc := range []struct {
		body string
		want int
	}{
		{fmt.Sprintf(`{"kind": "org", "owner": "e2e", "id": 7, "url": %q, "secret": "s3cret"}`, closedURL(t)), 200},
		{fmt.Sprintf(`{"kind": "repo", "owner": "acme", "repo": "web", "url": %q, "secret": "s3cret"}`, rc.srv.URL), 200},
		{fmt.Sprintf(`{"kind": "app", "url": %q, "secret": "s3cret"}`, rc.srv.URL), 200},
		// Again with the same id and target: the URL and secret change.
		{fmt.Sprintf(`{"kind": "org", "owner": "e2e", "id": 7, "url": %q, "secret": "s3cret"}`, closedURL(t)), 200},
		{fmt.Sprintf(`{"kind": "org", "owner": "other", "id": 7, "url": %q}`, rc.srv.URL), 400}, // another hook's id
		{fmt.Sprintf(`{"kind": "app", "id": 99, "url": %q}`, rc.srv.URL), 400},                  // one app hook
		{fmt.Sprintf(`{"kind": "team", "owner": "e2e", "url": %q}`, rc.srv.URL), 400},
		{fmt.Sprintf(`{"kind": "repo", "owner": "acme", "url": %q}`, rc.srv.URL), 400},
		{fmt.Sprintf(`{"kind": "org", "owner": "e2e", "repo": "web", "url": %q}`, rc.srv.URL), 400},
		{fmt.Sprintf(`{"kind": "org", "owner": "../x", "url": %q}`, rc.srv.URL), 400},
		{`{"kind": "org", "owner": "e2e", "url": "file:///etc/passwd"}`, 400},
		{fmt.Sprintf(`{"kind": "org", "owner": "e2e", "id": -1, "url": %q}`, rc.srv.URL), 400},
		{`not json`, 400},
	} {
		if got := postJSON(t, srv.URL+"/_fake/github/hooks", tc.body, nil); got != tc.want {
			t.Errorf("POST /_fake/github/hooks %s = %d, want %d", tc.body, got, tc.want)
		}
	}
	hooks := fake.Hooks()
	if len(hooks) != 3 || hooks[0].ID != 7 || hooks[1].ID != 8 || hooks[2].ID != 9 {
		t.Fatalf("hooks = %+v, want org 7, repo 8, app 9", hooks)
	}

	// Three pushes to an e2e repository: only the org hook (and the app
	// hook) receive them, and the org hook's URL does not answer.
	var failed, app []Delivery
	for i := range 3 {
		var ds []Attempt
		body := fmt.Sprintf(`{"repo": "e2e/app", "event": "push", "payload": {"ref": "refs/heads/main", "n": %d}}`, i)
		if got := postJSON(t, srv.URL+"/_fake/github/deliver", body, &ds); got != 200 || len(ds) != 2 || ds[0].HookID != 7 || ds[1].HookID != 9 {
			t.Fatalf("deliver %s = %d, %+v; want two deliveries (org hook 7, app hook 9)", body, got, ds)
		}
		failed, app = append(failed, ds[0].Delivery), append(app, ds[1].Delivery)
	}
	var okAttempts []Attempt
	if got := postJSON(t, srv.URL+"/_fake/github/deliver", `{"repo": "acme/web", "event": "pull_request", "payload": {"action": "opened"}}`, &okAttempts); got != 200 || len(okAttempts) != 2 {
		t.Fatalf("deliver to acme/web = %d, %+v", got, okAttempts)
	}
	ok := []Delivery{okAttempts[0].Delivery, okAttempts[1].Delivery}
	opened := "opened"
	ignore := cmpopts.IgnoreFields(Delivery{}, "ID", "GUID", "DeliveredAt", "Duration", "Request", "Response")
	if diff := cmp.Diff(Delivery{Status: "failed to connect to host", Event: "push"}, failed[0], ignore, cmp.AllowUnexported(Delivery{})); diff != "" {
		t.Errorf("a delivery nothing answered (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff(Delivery{Status: "OK", StatusCode: 202, Event: "pull_request", Action: &opened}, ok[0], ignore, cmp.AllowUnexported(Delivery{})); diff != "" {
		t.Errorf("a delivery answered 202 (-want +got)\n%s", diff)
	}
	wantReceived := []received{{app[0].GUID, "push", ""}, {app[1].GUID, "push", ""}, {app[2].GUID, "push", ""},
		{ok[0].GUID, "pull_request", "opened"}, {ok[1].GUID, "pull_request", "opened"}}
	if diff := cmp.Diff(wantReceived, rc.received()); diff != "" {
		t.Errorf("the receiver took (-want +got)\n%s", diff)
	}

	c := ghClient(t, srv)
	rhooks, _, err := c.Repositories.ListHooks(ctx, "acme", "web", nil)
	if err != nil || len(rhooks) != 1 {
		t.Fatalf("ListHooks = %v, %v", rhooks, err)
	}
	if rhooks[0].GetID() != 8 || rhooks[0].GetConfig().GetURL() != rc.srv.URL || rhooks[0].GetConfig().GetSecret() != "********" {
		t.Errorf("the repo hook reads %v, want id 8, its URL and a masked secret", rhooks[0])
	}
	rds, _, err := c.Repositories.ListHookDeliveries(ctx, "acme", "web", 8, nil)
	if err != nil || len(rds) != 1 {
		t.Fatalf("the repo hook's deliveries: %v, %v", rds, err)
	}
	wantListed := &gh.HookDelivery{ID: gh.Int64(ok[0].ID), GUID: gh.String(ok[0].GUID), Redelivery: gh.Bool(false),
		Status: gh.String("OK"), StatusCode: gh.Int(202), Event: gh.String("pull_request"), Action: gh.String("opened")}
	if diff := cmp.Diff(wantListed, rds[0], cmpopts.IgnoreFields(gh.HookDelivery{}, "DeliveredAt", "Duration")); diff != "" {
		t.Errorf("listed delivery (-want +got)\n%s", diff)
	}
	if rds[0].GetDeliveredAt().IsZero() || rds[0].Duration == nil {
		t.Errorf("listed delivery %v: no delivered_at or duration", rds[0])
	}
	if oh, _, err := c.Organizations.GetHook(ctx, "e2e", 7); err != nil || oh.GetType() != "Organization" {
		t.Errorf("GetHook(org 7) = %v, %v", oh, err)
	}
	if _, _, err := c.Organizations.GetHook(ctx, "e2e", 8); !isStatus(err, 404) {
		t.Errorf("GetHook(org e2e, the repo hook's id) = %v, want 404", err)
	}

	// Newest first, two a page, the cursor in the Link header.
	var pages [][]int64
	opts := &gh.ListCursorOptions{PerPage: 2}
	for {
		ds, resp, err := c.Organizations.ListHookDeliveries(ctx, "e2e", 7, opts)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, d := range ds {
			ids = append(ids, d.GetID())
			if d.Request != nil || d.GetStatusCode() != 0 || d.GetStatus() != "failed to connect to host" || d.GetRedelivery() {
				t.Errorf("listed delivery %v: want a failed first attempt without its request", d)
			}
		}
		pages = append(pages, ids)
		if resp.Cursor == "" {
			break
		}
		opts.Cursor = resp.Cursor
	}
	if diff := cmp.Diff([][]int64{{failed[2].ID, failed[1].ID}, {failed[0].ID}}, pages); diff != "" {
		t.Errorf("pages of deliveries (-want +got)\n%s", diff)
	}

	// One delivery: the request as sent, signed over its payload.
	d, _, err := c.Organizations.GetHookDelivery(ctx, "e2e", 7, failed[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	hdr := d.GetRequest().Headers
	if hdr["X-GitHub-Event"] != "push" || hdr["X-GitHub-Delivery"] != failed[1].GUID || d.GetGUID() != failed[1].GUID {
		t.Errorf("delivery request headers %v, want the push event and its GUID", hdr)
	}
	if err := github.VerifySignature([]byte("s3cret"), *d.GetRequest().RawPayload, hdr[github.SignatureHeader]); err != nil {
		t.Errorf("the recorded payload and its signature: %v", err)
	}
	if !strings.Contains(string(*d.GetRequest().RawPayload), `"n":1`) {
		t.Errorf("recorded payload %s, want the second push's", *d.GetRequest().RawPayload)
	}
	if _, _, err := c.Organizations.GetHookDelivery(ctx, "e2e", 7, ok[0].ID); !isStatus(err, 404) {
		t.Errorf("GetHookDelivery(another hook's delivery) = %v, want 404", err)
	}

	// A redelivery is a new attempt of the same GUID; it fails again here.
	_, _, err = c.Organizations.RedeliverHookDelivery(ctx, "e2e", 7, failed[1].ID)
	var accepted *gh.AcceptedError
	if !errors.As(err, &accepted) {
		t.Fatalf("RedeliverHookDelivery = %v, want 202 Accepted", err)
	}
	fake.WaitDeliveries()
	ds, _, err := c.Organizations.ListHookDeliveries(ctx, "e2e", 7, nil)
	if err != nil || len(ds) != 4 {
		t.Fatalf("deliveries after a redelivery: %d, %v", len(ds), err)
	}
	if ds[0].GetGUID() != failed[1].GUID || !ds[0].GetRedelivery() || ds[0].GetID() <= failed[2].ID {
		t.Errorf("newest delivery %v, want a redelivery of %s", ds[0], failed[1].GUID)
	}
	if _, _, err := c.Organizations.RedeliverHookDelivery(ctx, "e2e", 7, 12345); !isStatus(err, 404) {
		t.Errorf("RedeliverHookDelivery(unknown) = %v, want 404", err)
	}
	if _, _, err := c.Apps.ListHookDeliveries(ctx, nil); err != nil {
		t.Errorf("app hook deliveries: %v", err)
	}

	// Bad cursors and requests without a token.
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/github/api/v3/orgs/e2e/hooks/7/deliveries?cursor=garbage", 400},
		{"GET", "/github/api/v3/orgs/e2e/hooks/7/deliveries?cursor=v1_x", 400},
		{"GET", "/github/api/v3/orgs/e2e/hooks/7/deliveries/abc", 404},
		{"GET", "/github/api/v3/repos/acme/web/hooks/7/deliveries", 404},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		req.Header.Set("Authorization", "Bearer token")
		if got := do(t, req); got != tc.want {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, got, tc.want)
		}
	}
	for _, p := range []string{
		"/github/api/v3/orgs/e2e/hooks", "/github/api/v3/orgs/e2e/hooks/7", "/github/api/v3/orgs/e2e/hooks/7/deliveries",
		fmt.Sprintf("/github/api/v3/orgs/e2e/hooks/7/deliveries/%d", failed[0].ID), "/github/api/v3/repos/acme/web/hooks",
		"/github/api/v3/app/hook/deliveries",
	} {
		req, _ := http.NewRequest("GET", srv.URL+p, nil)
		if got := do(t, req); got != http.StatusUnauthorized {
			t.Errorf("GET %s without a token = %d, want 401", p, got)
		}
	}
	req, _ := http.NewRequest("POST", fmt.Sprintf("%s/github/api/v3/orgs/e2e/hooks/7/deliveries/%d/attempts", srv.URL, failed[0].ID), nil)
	if got := do(t, req); got != http.StatusUnauthorized {
		t.Errorf("redelivery without a token = %d, want 401", got)
	}
	fake.WaitDeliveries()
	if n := len(fake.Deliveries(7)); n != 4 {
		t.Errorf("%d deliveries after an unauthenticated redelivery request, want still 4", n)
	}
}

func do(t *testing.T, req *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func isStatus(err error, code int) bool {
	var e *gh.ErrorResponse
	return errors.As(err, &e) && e.Response.StatusCode == code
}

// ledger is the store as the GitHub recovery loop sees it: a delivery is
// recorded when the receiver took it.
type ledger struct {
	rc   *receiver
	mu   sync.Mutex
	once map[string]bool
}

func (l *ledger) HasDelivery(_ context.Context, _ event.Provider, guid string) (bool, error) {
	for _, r := range l.rc.received() {
		if r.GUID == guid {
			return true, nil
		}
	}
	return false, nil
}

func (l *ledger) Once(_ context.Context, scope, key string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	first := !l.once[scope+"/"+key]
	l.once[scope+"/"+key] = true
	return first, nil
}

func (l *ledger) ForgetOnce(_ context.Context, scope, key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.once, scope+"/"+key)
	return nil
}

// Slipway's GitHub recovery, its real client and the fake: deliveries
// refused while the receiver was down are redelivered once it is up, and
// come in with their GUIDs, signed; a second pass asks nothing.
func TestGitHubRecoveryAgainstFake(t *testing.T) {
	fake := New(t.TempDir())
	srv := httptest.NewServer(fake.Handler())
	defer srv.Close()
	ctx := context.Background()
	rc := newReceiver(t, "s3cret")
	repoHook, err := fake.AddHook(Hook{Kind: RepoHook, Owner: "acme", Repo: "web", URL: rc.srv.URL, Secret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	orgHook, err := fake.AddHook(Hook{Kind: OrgHook, Owner: "e2e", URL: rc.srv.URL, Secret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	deliver := func(repo, eventType string) Delivery {
		t.Helper()
		ds, err := fake.Deliver(ctx, repo, eventType, []byte(`{"ref": "refs/heads/main"}`))
		if err != nil || len(ds) != 1 {
			t.Fatalf("Deliver(%s) = %+v, %v", repo, ds, err)
		}
		return ds[0].Delivery
	}
	delivered := deliver("e2e/app", "push") // taken
	rc.setDown(true)
	missed := []Delivery{deliver("acme/web", "push"), deliver("e2e/app", "pull_request")}
	rc.setDown(false)
	for _, d := range missed {
		if d.StatusCode != http.StatusServiceUnavailable || d.Status != "Invalid HTTP Response: 503" {
			t.Fatalf("a delivery while down: %+v, want a 503", d)
		}
	}

	client, err := github.NewClient("token", srv.URL+"/github/api/v3/", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	hooks, err := github.ParseHooks(fmt.Sprintf("repo:acme/web:%d,org:e2e:%d", repoHook.ID, orgHook.ID))
	if err != nil {
		t.Fatal(err)
	}
	metric, err := recovery.NewMetric(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	g, err := recovery.NewGitHub(client, &ledger{rc: rc, once: map[string]bool{}}, hooks,
		recovery.Options{Interval: time.Minute, MaxPages: 2, Recovered: metric})
	if err != nil {
		t.Fatal(err)
	}
	asked, err := g.Pass(ctx)
	if err != nil || asked != 2 {
		t.Fatalf("first pass asked %d, %v; want 2", asked, err)
	}
	fake.WaitDeliveries()
	want := []received{{delivered.GUID, "push", ""}, {missed[0].GUID, "push", ""}, {missed[1].GUID, "pull_request", ""}}
	sorted := cmpopts.SortSlices(func(a, b received) bool { return a.GUID < b.GUID })
	if diff := cmp.Diff(want, rc.received(), sorted); diff != "" {
		t.Errorf("the receiver took (-want +got)\n%s", diff)
	}
	if n := testutil.ToFloat64(metric.WithLabelValues("github", recovery.HowRedelivered)); n != 2 {
		t.Errorf("recovered deliveries metric = %v, want 2", n)
	}
	if asked, err := g.Pass(ctx); err != nil || asked != 0 {
		t.Errorf("second pass asked %d, %v; want 0", asked, err)
	}
	for _, h := range []Hook{repoHook, orgHook} {
		for _, d := range fake.Deliveries(h.ID) {
			if d.Redelivery && d.StatusCode != http.StatusAccepted {
				t.Errorf("hook %d: redelivery %+v, want 202", h.ID, d)
			}
		}
	}
}

// pushBranch commits files on a new branch of the bare repository root/repo
// and returns the commit's SHA.
func pushBranch(t *testing.T, root, repo, branch string, files map[string]string) string {
	t.Helper()
	work := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("clone", "-q", filepath.Join(root, repo+".git"), ".")
	git("checkout", "-q", "-b", branch)
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(work, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("add", "-A")
	git("commit", "-q", "-m", "Change "+branch+"\n\nWith a body.")
	git("push", "-q", "origin", branch)
	return git("rev-parse", "HEAD")
}

// GitLab's project, branches, commit and merge request list through
// go-gitlab itself, then Slipway's RecentHeads over them.
func TestGitLabHeads(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	root := t.TempDir()
	mainSHA := makeRepo(t, root, "acme/web", map[string]string{"main.go": "package main\n"})
	featSHA := pushBranch(t, root, "acme/web", "feature", map[string]string{"f.go": "package main\n"})
	fake := New(root)
	fake.AddGitLabProject(42, "acme/other") // a test's registered project
	srv := httptest.NewServer(fake.Handler())
	defer srv.Close()
	ctx := context.Background()
	c, err := gl.NewClient("token", gl.WithBaseURL(srv.URL+"/gitlab/api/v4"), gl.WithHTTPClient(srv.Client()), gl.WithoutRetries()) //nolint:staticcheck // the SDK Slipway uses
	if err != nil {
		t.Fatal(err)
	}

	p, _, err := c.Projects.GetProject("acme/web", nil)
	if err != nil {
		t.Fatal(err)
	}
	wantProject := &gl.Project{ID: p.ID, Name: "web", Path: "web", PathWithNamespace: "acme/web", NameWithNamespace: "acme / web",
		DefaultBranch: "main", Visibility: gl.PrivateVisibility, HTTPURLToRepo: srv.URL + "/git/acme/web.git", WebURL: srv.URL + "/acme/web",
		SSHURLToRepo: "git@" + strings.TrimPrefix(srv.URL, "http://") + ":acme/web.git"}
	if diff := cmp.Diff(wantProject, p); diff != "" || p.ID < firstProjectID {
		t.Errorf("GetProject (-want +got)\n%s (id %d)", diff, p.ID)
	}
	if again, _, err := c.Projects.GetProject(p.ID, nil); err != nil || again.PathWithNamespace != "acme/web" || again.ID != p.ID {
		t.Errorf("GetProject(%d) = %v, %v; want acme/web under the same id", p.ID, again, err)
	}

	var names []string
	var commits []*gl.Commit
	opts := &gl.ListBranchesOptions{ListOptions: gl.ListOptions{PerPage: 1, Page: 1}}
	for {
		bs, resp, err := c.Branches.ListBranches(p.ID, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bs {
			names = append(names, b.Name)
			commits = append(commits, b.Commit)
			if b.Default != (b.Name == "main") {
				t.Errorf("branch %s: default %v", b.Name, b.Default)
			}
		}
		if resp.NextPage == 0 {
			if resp.TotalItems != 2 || resp.TotalPages != 2 {
				t.Errorf("total %d items, %d pages; want 2, 2", resp.TotalItems, resp.TotalPages)
			}
			break
		}
		opts.Page = resp.NextPage
	}
	if diff := cmp.Diff([]string{"feature", "main"}, names); diff != "" {
		t.Errorf("branches (-want +got)\n%s", diff)
	}
	feat := commits[0]
	if feat.ID != featSHA || feat.ShortID != featSHA[:8] || feat.Title != "Change feature" || feat.Message != "Change feature\n\nWith a body.\n" ||
		feat.AuthorName != "Ada" || feat.AuthorEmail != "ada@example.com" || feat.CommitterEmail != "t@example.com" ||
		feat.CommittedDate == nil || feat.AuthoredDate == nil || len(feat.ParentIDs) != 1 || feat.ParentIDs[0] != mainSHA {
		t.Errorf("feature's head commit = %+v", feat)
	}
	cm, _, err := c.Commits.GetCommit(p.ID, featSHA, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(feat, cm); diff != "" {
		t.Errorf("GetCommit and the branch's commit differ (-branch +commit)\n%s", diff)
	}
	if _, resp, err := c.Commits.GetCommit(p.ID, strings.Repeat("0", 40), nil); err == nil || resp.StatusCode != 404 {
		t.Errorf("GetCommit(unknown) = %v, want 404", err)
	}

	fake.AddPullRequest(PullRequest{Repo: "acme/web", Number: 3, SHA: featSHA, Source: "feature", Target: "main", Title: "Feature", Author: "ada"})
	fake.AddPullRequest(PullRequest{Repo: "acme/web", Number: 2, SHA: mainSHA, Source: "old", Target: "main", Closed: true})
	fake.AddPullRequest(PullRequest{Repo: "acme/other", Number: 9, SHA: mainSHA, Source: "x", Target: "main"})
	before := time.Now().Add(-time.Minute)
	mrs, _, err := c.MergeRequests.ListProjectMergeRequests(p.ID, &gl.ListProjectMergeRequestsOptions{
		State: gl.Ptr("opened"), OrderBy: gl.Ptr("updated_at"), Sort: gl.Ptr("desc"), UpdatedAfter: gl.Ptr(before)})
	if err != nil {
		t.Fatal(err)
	}
	if len(mrs) != 1 || mrs[0].IID != 3 || mrs[0].SHA != featSHA || mrs[0].State != "opened" || mrs[0].SourceBranch != "feature" ||
		mrs[0].Author == nil || mrs[0].Author.Username != "ada" || mrs[0].ProjectID != p.ID || mrs[0].UpdatedAt == nil {
		t.Errorf("open merge requests = %+v, want !3", mrs)
	}
	if later, _, err := c.MergeRequests.ListProjectMergeRequests(p.ID, &gl.ListProjectMergeRequestsOptions{
		State: gl.Ptr("opened"), UpdatedAfter: gl.Ptr(time.Now().Add(time.Hour))}); err != nil || len(later) != 0 {
		t.Errorf("merge requests updated after an hour from now = %v, %v; want none", later, err)
	}
	if all, _, err := c.MergeRequests.ListProjectMergeRequests(p.ID, &gl.ListProjectMergeRequestsOptions{State: gl.Ptr("all")}); err != nil || len(all) != 2 {
		t.Errorf("all merge requests = %d, %v; want 2", len(all), err)
	}

	for _, tc := range []struct {
		path  string
		token bool
		want  int
	}{
		{"/gitlab/api/v4/projects/acme%2Fweb", false, 401},
		{"/gitlab/api/v4/projects/acme%2Fweb/repository/branches", false, 401},
		{"/gitlab/api/v4/projects/acme%2Fweb/merge_requests", false, 401},
		{"/gitlab/api/v4/projects/acme%2Fweb/repository/commits/" + featSHA, false, 401},
		{"/gitlab/api/v4/projects/acme%2Fnone", true, 404},
		{"/gitlab/api/v4/projects/7/repository/branches", true, 404},
		{"/gitlab/api/v4/projects/acme%2F..%2F..%2Fetc/repository/branches", true, 404},
		{"/gitlab/api/v4/projects/acme%2Fweb/repository/commits/--all", true, 404},
		{"/gitlab/api/v4/projects/acme%2Fweb/merge_requests?state=bogus", true, 400},
		{"/gitlab/api/v4/projects/acme%2Fweb/merge_requests?updated_after=yesterday", true, 400},
		{"/gitlab/api/v4/projects/acme%2Fweb/merge_requests?order_by=title%3B", true, 400},
		{"/gitlab/api/v4/projects/acme%2Fweb/merge_requests?sort=up", true, 400},
		{"/gitlab/api/v4/projects/acme%2Fweb/repository/branches", true, 200},
	} {
		req, _ := http.NewRequest("GET", srv.URL+tc.path, nil)
		if tc.token {
			req.Header.Set("PRIVATE-TOKEN", "token")
		}
		if got := do(t, req); got != tc.want {
			t.Errorf("GET %s (token %v) = %d, want %d", tc.path, tc.token, got, tc.want)
		}
	}

	// Slipway's client reads the same into the events the webhooks give.
	sc, err := gitlab.NewClient("token", srv.URL+"/gitlab/api/v4", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	heads, err := sc.RecentHeads(ctx, "acme/web", before.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for i := range heads {
		if err := sc.CompleteCommit(ctx, &heads[i]); err != nil {
			t.Fatal(err)
		}
	}
	base := event.Event{Provider: event.GitLab, Action: event.Build, Repo: "acme/web", ProjectID: int64(p.ID),
		CloneURL: srv.URL + "/git/acme/web.git", WebURL: srv.URL + "/acme/web", DefaultBranch: "main", Kind: event.Push}
	wantHeads := []event.Event{base, base, base}
	wantHeads[0].Ref, wantHeads[0].SHA, wantHeads[0].Author, wantHeads[0].AuthorEmail, wantHeads[0].CommitMessage =
		"refs/heads/feature", featSHA, "Ada", "ada@example.com", "Change feature\n\nWith a body.\n"
	wantHeads[1].Ref, wantHeads[1].SHA, wantHeads[1].Author, wantHeads[1].AuthorEmail, wantHeads[1].CommitMessage =
		"refs/heads/main", mainSHA, "t", "t@example.com", "init\n"
	mr := &wantHeads[2]
	mr.Kind, mr.Ref, mr.SHA, mr.MRNumber, mr.SourceBranch, mr.TargetBranch, mr.MRTitle, mr.Author, mr.AuthorEmail, mr.CommitMessage =
		event.MergeRequest, "refs/merge-requests/3/head", featSHA, 3, "feature", "main", "Feature", "ada", "ada@example.com", "Change feature\n\nWith a body.\n"
	if diff := cmp.Diff(wantHeads, heads, cmpopts.IgnoreFields(event.Event{}, "CommitTime")); diff != "" {
		t.Errorf("RecentHeads (-want +got)\n%s", diff)
	}
	for _, h := range heads {
		if h.CommitTime.IsZero() {
			t.Errorf("%s: no commit time", h.Ref)
		}
	}
	if late, err := sc.RecentHeads(ctx, "acme/web", time.Now().Add(time.Hour)); err != nil || len(late) != 0 {
		t.Errorf("RecentHeads since an hour from now = %v, %v; want none", late, err)
	}
}
