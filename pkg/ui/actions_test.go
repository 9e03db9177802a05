package ui

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
)

// fakeAuth is the shape of pkg/auth: a Bearer token or a session cookie
// names a user; developers may act, viewers only read. Signing in with
// "dev-token" starts session "dev-session". Reads are public unless the
// test says otherwise.
type viewerKey struct{}

func fakeAuth() Auth {
	tokens := map[string]Viewer{"dev-token": {Name: "dev", CanAct: true}, "viewer-token": {Name: "viewer"}}
	var mu sync.Mutex
	sessions := map[string]Viewer{"dev-session": tokens["dev-token"], "viewer-session": tokens["viewer-token"]}
	return Auth{
		PublicRead: true,
		SignIn: func(_ context.Context, token string) (string, bool, error) {
			v, ok := tokens[token]
			if !ok {
				return "", false, nil
			}
			mu.Lock()
			defer mu.Unlock()
			id := strings.TrimSuffix(token, "-token") + "-session"
			sessions[id] = v
			return id, true, nil
		},
		SignOut: func(_ context.Context, id string) error {
			mu.Lock()
			defer mu.Unlock()
			delete(sessions, id)
			return nil
		},
		Identify: func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				v, ok := tokens[strings.TrimPrefix(c.Request().Header.Get("Authorization"), "Bearer ")]
				if ck, err := c.Cookie(CookieName); err == nil && !ok {
					mu.Lock()
					v, ok = sessions[ck.Value]
					mu.Unlock()
				}
				if ok {
					c.SetRequest(c.Request().WithContext(context.WithValue(c.Request().Context(), viewerKey{}, v)))
				}
				return next(c)
			}
		},
		Require: func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				v, ok := c.Request().Context().Value(viewerKey{}).(Viewer)
				switch {
				case !ok:
					return echo.NewHTTPError(http.StatusUnauthorized, "sign in")
				case !v.CanAct:
					return echo.NewHTTPError(http.StatusForbidden, "developers only")
				}
				return next(c)
			}
		},
		Viewer: func(ctx context.Context) (Viewer, bool) {
			v, ok := ctx.Value(viewerKey{}).(Viewer)
			return v, ok
		},
	}
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// reply is what a test needs of a response, its body already read and closed.
type reply struct {
	StatusCode int
	Header     http.Header
	cookies    []*http.Cookie
}

func (r reply) Cookies() []*http.Cookie { return r.cookies }

func (e *env) post(path string, form url.Values, hdr ...string) (reply, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Client{CheckRedirect: noRedirect}).Do(req)
	if err != nil {
		e.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("POST %s: %v", path, err)
	}
	return reply{StatusCode: resp.StatusCode, Header: resp.Header, cookies: resp.Cookies()}, string(b)
}

func (e *env) cancelled() bool {
	pr, err := e.tekton.TektonV1().PipelineRuns(ns).Get(context.Background(), runName, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return pr.Spec.Status == pipelinev1.PipelineRunSpecStatusCancelled
}

func TestButtonsOnlyForDevelopers(t *testing.T) {
	e := newEnv(t, objects(false), WithAuth(fakeAuth()))
	e.recordRun(run.Running)
	e.ui.rec = e.st
	page := "/runs/" + ns + "/" + runName
	tests := []struct {
		name    string
		hdr     []string
		buttons bool
		has     string
	}{
		{"anonymous", nil, false, `<a href="/signin?next=%2fruns%2fslipway-builds%2fweb-3f786850-abc">Sign in</a>`},
		{"viewer", []string{"Authorization", "Bearer viewer-token"}, false, "Signed in as <strong>viewer</strong>"},
		{"developer", []string{"Cookie", CookieName + "=dev-session"}, true, "Signed in as <strong>dev</strong>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, body, _ := e.get(page, tt.hdr...)
			for _, id := range []string{`id="rerun"`, `id="cancel"`} {
				if strings.Contains(body, id) != tt.buttons {
					t.Errorf("%s shown = %v, want %v", id, !tt.buttons, tt.buttons)
				}
			}
			if !strings.Contains(body, tt.has) {
				t.Errorf("page lacks %q", tt.has)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	origin := "Origin"
	tests := []struct {
		name      string
		path      string
		hdr       []string
		code      int
		cancelled bool
	}{
		{"form, anonymous", "/runs/%s/%s/cancel", []string{origin, "SELF"}, 401, false},
		{"form, viewer", "/runs/%s/%s/cancel", []string{origin, "SELF", "Cookie", CookieName + "=viewer-session"}, 403, false},
		{"form, no origin", "/runs/%s/%s/cancel", []string{"Cookie", CookieName + "=dev-session"}, 403, false},
		{"form, other site", "/runs/%s/%s/cancel", []string{origin, "https://evil.example", "Cookie", CookieName + "=dev-session"}, 403, false},
		{"form, other site by referer", "/runs/%s/%s/cancel", []string{"Referer", "https://evil.example/x", "Cookie", CookieName + "=dev-session"}, 403, false},
		{"form, developer", "/runs/%s/%s/cancel", []string{origin, "SELF", "Cookie", CookieName + "=dev-session"}, 303, true},
		{"form, public URL origin", "/runs/%s/%s/cancel", []string{origin, "https://ci.example.com", "Cookie", CookieName + "=dev-session"}, 303, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, objects(false), WithAuth(fakeAuth()), WithPublicURL("https://ci.example.com"))
			for i := range tt.hdr {
				tt.hdr[i] = strings.ReplaceAll(tt.hdr[i], "SELF", e.srv.URL)
			}
			resp, body := e.post(strings.ReplaceAll(strings.Replace(tt.path, "%s", ns, 1), "%s", runName), nil, tt.hdr...)
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d, want %d\n%s", resp.StatusCode, tt.code, body)
			}
			if got := e.cancelled(); got != tt.cancelled {
				t.Errorf("cancelled = %v, want %v", got, tt.cancelled)
			}
			if tt.code == 303 {
				if loc := resp.Header.Get("Location"); loc != "/runs/"+ns+"/"+runName+"?notice=cancelled" {
					t.Errorf("Location = %q", loc)
				}
			}
		})
	}
}

// The form shares the API's cancel (pkg/api tests it in full): a finished
// run says so, another's PipelineRun is not found.
func TestCancelFinishedOrForeign(t *testing.T) {
	foreign := pipelineRun(false)
	foreign.Name = "not-slipways"
	delete(foreign.Labels, "slipway.dev/managed")
	e := newEnv(t, append(objects(true), foreign), WithAuth(fakeAuth()))
	dev := []string{"Origin", e.srv.URL, "Cookie", CookieName + "=dev-session"}
	resp, body := e.post("/runs/"+ns+"/"+runName+"/cancel", nil, dev...)
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/runs/"+ns+"/"+runName+"?notice=finished" {
		t.Errorf("finished run: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	for _, p := range []string{"/runs/" + ns + "/not-slipways/cancel", "/runs/kube-system/x/cancel"} {
		if resp, _ := e.post(p, nil, dev...); resp.StatusCode != 404 {
			t.Errorf("POST %s: %d, want 404", p, resp.StatusCode)
		}
	}
}

func TestRerun(t *testing.T) {
	e := newEnv(t, objects(true), WithAuth(fakeAuth()))
	woken := 0
	e.ui.rec, e.ui.wake = e.st, func() { woken++ }
	e.recordRun(run.Failed)
	// The routes are registered when a recorder is configured.
	ec := echo.New()
	e.ui.Register(ec)
	e.srv.Config.Handler = ec

	_, page, _ := e.get("/runs/"+ns+"/"+runName, "Cookie", CookieName+"=dev-session")
	i := strings.Index(page, `name="request" value="`)
	if i < 0 || strings.Contains(page, `id="cancel"`) || !strings.Contains(page, `id="rerun"`) {
		t.Fatalf("finished run page for a developer: want a re-run button and no cancel button")
	}
	reqID := page[i+len(`name="request" value="`):][:24]
	form := url.Values{"request": {reqID}}
	hdr := []string{"Origin", e.srv.URL, "Cookie", CookieName + "=dev-session"}
	resp, body := e.post("/runs/"+ns+"/"+runName+"/rerun", form, hdr...)
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/events?repo=acme%2Fweb" {
		t.Fatalf("rerun: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	// The same form posted again (a double click) queues nothing more.
	if resp, _ := e.post("/runs/"+ns+"/"+runName+"/rerun", form, hdr...); resp.StatusCode != 303 {
		t.Fatalf("second rerun: %d", resp.StatusCode)
	}
	evs, err := e.st.ListEvents(context.Background(), store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 {
		t.Fatalf("%d events, want the original and one re-run", len(evs))
	}
	re, orig := evs[0], evs[1]
	want := orig
	want.ID, want.Delivery, want.State, want.ReceivedAt, want.CommitMessage = re.ID, "ui-rerun-"+reqID+"-by-dev", event.Queued, re.ReceivedAt, ""
	if diff := cmp.Diff(want, re); diff != "" {
		t.Errorf("re-run event (-want +got):\n%s", diff)
	}
	if woken != 1 {
		t.Errorf("dispatcher woken %d times, want 1", woken)
	}
}

func TestSignin(t *testing.T) {
	e := newEnv(t, nil, WithAuth(fakeAuth()))
	self := []string{"Origin", e.srv.URL}
	resp, body := e.post("/signin", url.Values{"token": {"dev-token"}, "next": {"/runs?repo=a"}}, self...)
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/runs?repo=a" {
		t.Fatalf("signin: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	ck := resp.Cookies()
	if len(ck) != 1 || ck[0].Name != CookieName || ck[0].Value != "dev-session" || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict %s", ck, CookieName)
	}
	for _, tt := range []struct {
		form url.Values
		hdr  []string
		code int
	}{
		{url.Values{"token": {"wrong"}}, self, 401},
		{url.Values{"token": {""}}, self, 400},
		{url.Values{"token": {"dev-token"}}, []string{"Origin", "https://evil.example"}, 403},
	} {
		resp, _ := e.post("/signin", tt.form, tt.hdr...)
		if resp.StatusCode != tt.code || len(resp.Cookies()) != 0 {
			t.Errorf("signin %v: %d with cookies %v, want %d and none", tt.form, resp.StatusCode, resp.Cookies(), tt.code)
		}
	}
	resp, _ = e.post("/signout", url.Values{"next": {"//evil.example"}}, self...)
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/" || len(resp.Cookies()) != 1 || resp.Cookies()[0].MaxAge >= 0 {
		t.Errorf("signout: %d %q %v", resp.StatusCode, resp.Header.Get("Location"), resp.Cookies())
	}
	if code, body, _ := e.get("/signin"); code != 200 || !strings.Contains(body, `<label for="token">API token</label>`) {
		t.Errorf("sign-in page: %d", code)
	}
}

// Issue 13: sign-in with next=/%09/evil.example answered
// "Location: /\t/evil.example", which browsers follow off-site.
func TestSigninRedirectStaysLocal(t *testing.T) {
	e := newEnv(t, nil, WithAuth(fakeAuth()))
	self := []string{"Origin", e.srv.URL}
	for _, next := range []string{"/\t/evil.example", "//evil", "/\\evil", "https://evil", "javascript:alert(1)", "/%2F/evil", "/%5Cevil"} {
		resp, _ := e.post("/signin", url.Values{"token": {"dev-token"}, "next": {next}}, self...)
		if resp.StatusCode != 303 || resp.Header.Get("Location") != "/" {
			t.Errorf("signin next=%q: %d Location %q, want 303 /", next, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// The query form as sent in the issue: the form's hidden field gets "/".
	code, body, _ := e.get("/signin?next=/%09/evil.example")
	if want := `<input type="hidden" name="next" value="/">`; code != 200 || !strings.Contains(body, want) {
		t.Errorf("sign-in page with next=/%%09/evil.example: %d, want 200 with %s in\n%s", code, want, body)
	}
}

// TestReadsNeedSignIn: without public-read, every page sends an anonymous
// visitor to sign in and a stream answers 401; a session reads, and once
// signed out the same cookie reads no more.
func TestReadsNeedSignIn(t *testing.T) {
	a := fakeAuth()
	a.PublicRead = false
	e := newEnv(t, objects(false), WithAuth(a), WithNotifications(nil))
	e.recordRun(run.Running)
	run := "/runs/" + ns + "/" + runName
	dev := []string{"Cookie", CookieName + "=dev-session"}
	tests := []struct {
		path     string
		hdr      []string
		code     int
		location string
	}{
		{"/", nil, 303, "/signin?next=%2F"},
		{"/runs?repo=a", nil, 303, "/signin?next=%2Fruns%3Frepo%3Da"},
		{"/events", nil, 303, "/signin?next=%2Fevents"},
		{run, nil, 303, "/signin?next=" + url.QueryEscape(run)},
		{run + "/stream", nil, 401, ""},
		{"/runs", []string{"Cookie", CookieName + "=dev-token"}, 303, "/signin?next=%2Fruns"},
		{"/signin", nil, 200, ""},
		{"/runs", dev, 200, ""},
		{"/events", []string{"Authorization", "Bearer viewer-token"}, 200, ""},
	}
	get := func(path string, hdr ...string) (int, http.Header) {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := (&http.Client{CheckRedirect: noRedirect}).Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	for _, tt := range tests {
		code, h := get(tt.path, tt.hdr...)
		if code != tt.code || h.Get("Location") != tt.location {
			t.Errorf("GET %s: %d %q, want %d %q", tt.path, code, h.Get("Location"), tt.code, tt.location)
		}
	}
	resp, _ := e.post("/signout", nil, append([]string{"Origin", e.srv.URL}, dev...)...)
	if resp.StatusCode != 303 {
		t.Fatalf("signout: %d", resp.StatusCode)
	}
	if code, _ := get("/runs", dev...); code != 303 {
		t.Errorf("GET /runs with a signed-out session: %d, want 303 to sign in", code)
	}
}

func TestStreamSlots(t *testing.T) {
	s := newStreamSlots(2, 3)
	var got []bool
	var releases []func()
	for _, client := range []string{"a", "a", "a", "b", "c"} {
		r, ok := s.take(client)
		got = append(got, ok)
		if ok {
			releases = append(releases, r)
		}
	}
	releases[0]()
	_, again := s.take("c")
	got = append(got, again)
	if d := cmp.Diff([]bool{true, true, false, true, false, true}, got); d != "" {
		t.Errorf("taken (-want +got):\n%s", d)
	}
	if _, err := New(nil, nil, nil, nil, "", WithStreamLimits(0, 1)); err == nil {
		t.Error("New with 0 streams per client: no error")
	}
}
