package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tektonfake "github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	"github.com/slipway-ci/slipway/pkg/api/wire"
	"github.com/slipway-ci/slipway/pkg/auth"
	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/store/storetest"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

const buildsNS = "slipway-builds"

// runEnv is the API over a SQLite store holding one run, and a fake
// cluster with its PipelineRun (running unless done).
type runEnv struct {
	st     *store.DB
	tekton *tektonfake.Clientset
	e      *echo.Echo
	woken  int
}

func testTokens(t *testing.T) *auth.Tokens {
	t.Helper()
	tokens, err := auth.Parse([]byte(`[{name: dana, role: developer, token: ` + devToken + `}, {name: rita, role: release-manager, token: ` + rmToken + `}]`))
	if err != nil {
		t.Fatal(err)
	}
	return tokens
}

func newRunEnv(t *testing.T, done bool, tokens *auth.Tokens) *runEnv {
	t.Helper()
	st := storetest.Open(t, "sqlite://"+filepath.Join(t.TempDir(), "slipway.db"))
	ctx := context.Background()
	ev := storetest.Event("d-1")
	ev.Repo, ev.CommitMessage = "acme/web", "fix [skip ci]"
	id, _, err := st.RecordEvent(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateRun(ctx, &run.Run{ID: buildsNS + "/web-1", EventID: id, Provider: event.GitHub, Kind: event.Push,
		Repo: "acme/web", App: "web", Ref: "refs/heads/main", SHA: ev.SHA, State: run.Running}); err != nil {
		t.Fatal(err)
	}
	pr := func(name string, managed bool) *pipelinev1.PipelineRun {
		p := &pipelinev1.PipelineRun{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: buildsNS, Labels: map[string]string{}}}
		if managed {
			p.Labels[tekton.LabelManaged] = "true"
		}
		p.Status.Status = duckv1.Status{Conditions: duckv1.Conditions{{Type: apis.ConditionSucceeded, Status: corev1.ConditionUnknown}}}
		if done {
			p.Status.Status = duckv1.Status{Conditions: duckv1.Conditions{{Type: apis.ConditionSucceeded, Status: corev1.ConditionFalse}}}
		}
		return p
	}
	env := &runEnv{st: st, tekton: tektonfake.NewSimpleClientset(pr("web-1", true), pr("foreign", false)), e: echo.New()}
	RegisterRunActions(env.e, NewRunActions(st, st, env.tekton, buildsNS, func() { env.woken++ }), Access{Tokens: tokens})
	return env
}

func (env *runEnv) do(method, target, token string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	env.e.ServeHTTP(rec, req)
	return rec
}

func (env *runEnv) cancelled(t *testing.T) bool {
	t.Helper()
	pr, err := env.tekton.TektonV1().PipelineRuns(buildsNS).Get(context.Background(), "web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pr.Spec.Status == pipelinev1.PipelineRunSpecStatusCancelled
}

func TestCancelRun(t *testing.T) {
	// Developer is the least role a token can hold, so every valid token
	// may cancel; the 403 left is a browser's cross-site cookie.
	tests := []struct {
		name, target, token string
		hdr                 []string
		done                bool
		wantCode            int
		wantBody            string
		wantCancelled       bool
	}{
		{name: "developer", target: "/api/v1/runs/slipway-builds/web-1/cancel", token: devToken, wantCode: 200,
			wantBody: `{"cancelled":true}`, wantCancelled: true},
		{name: "finished", target: "/api/v1/runs/slipway-builds/web-1/cancel", token: devToken, done: true, wantCode: 200,
			wantBody: `{"cancelled":false}`},
		{name: "no token", target: "/api/v1/runs/slipway-builds/web-1/cancel", wantCode: 401, wantBody: "missing token"},
		{name: "invalid token", target: "/api/v1/runs/slipway-builds/web-1/cancel", token: "not-a-token-0123456789", wantCode: 401, wantBody: "invalid token"},
		{name: "not bearer", target: "/api/v1/runs/slipway-builds/web-1/cancel", hdr: []string{"Authorization", "Basic eDp5"}, wantCode: 401},
		// The cookie holds a UI session id, never the token (pkg/auth tests sessions).
		{name: "token as cookie", target: "/api/v1/runs/slipway-builds/web-1/cancel",
			hdr: []string{"Cookie", auth.CookieName + "=" + devToken}, wantCode: 401},
		{name: "other namespace", target: "/api/v1/runs/kube-system/web-1/cancel", token: devToken, wantCode: 404},
		{name: "not slipway's", target: "/api/v1/runs/slipway-builds/foreign/cancel", token: devToken, wantCode: 404},
		{name: "unknown", target: "/api/v1/runs/slipway-builds/nope/cancel", token: devToken, wantCode: 404},
		{name: "malformed name", target: "/api/v1/runs/slipway-builds/Web_1/cancel", token: devToken, wantCode: 400},
		{name: "malformed namespace", target: "/api/v1/runs/-x/web-1/cancel", token: devToken, wantCode: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newRunEnv(t, tt.done, testTokens(t))
			rec := env.do(http.MethodPost, tt.target, tt.token, tt.hdr...)
			if rec.Code != tt.wantCode || !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("= %d %s, want %d with %s", rec.Code, rec.Body, tt.wantCode, tt.wantBody)
			}
			if got := env.cancelled(t); got != tt.wantCancelled {
				t.Errorf("cancelled = %v, want %v", got, tt.wantCancelled)
			}
		})
	}
}

func TestRerunRun(t *testing.T) {
	env := newRunEnv(t, true, testTokens(t))
	target := "/api/v1/runs/slipway-builds/web-1/rerun"
	for _, want := range []int{http.StatusAccepted, http.StatusOK} {
		rec := env.do(http.MethodPost, target, devToken, "Idempotency-Key", "key-12345678")
		var res wire.RerunResult
		if rec.Code != want || json.Unmarshal(rec.Body.Bytes(), &res) != nil || res.EventID == 0 || res.Duplicate != (want == http.StatusOK) {
			t.Errorf("rerun = %d %s, want %d", rec.Code, rec.Body, want)
		}
	}
	if env.woken != 1 {
		t.Errorf("dispatcher woken %d times, want 1", env.woken)
	}
	evs, err := env.st.ListEvents(context.Background(), store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 {
		t.Fatalf("%d events, want the original and one re-run", len(evs))
	}
	re, orig := evs[0], evs[1]
	want := orig
	// A person asked: the [skip ci] of the commit message must not stop it.
	want.ID, want.Delivery, want.State, want.ReceivedAt, want.CommitMessage = re.ID, "ui-rerun-key-12345678-by-dana", event.Queued, re.ReceivedAt, ""
	if diff := cmp.Diff(want, re); diff != "" {
		t.Errorf("re-run event (-want +got):\n%s", diff)
	}

	for _, tt := range []struct {
		name, target, token string
		hdr                 []string
		want                int
	}{
		{"no token", target, "", nil, 401},
		{"invalid token", target, "nope-nope-nope-nope", nil, 401},
		{"bad key", target, devToken, []string{"Idempotency-Key", "bad key!"}, 400},
		{"short key", target, devToken, []string{"Idempotency-Key", "short"}, 400},
		{"malformed id", "/api/v1/runs/slipway-builds/WEB/rerun", devToken, nil, 400},
		{"unknown run", "/api/v1/runs/slipway-builds/nope/rerun", devToken, nil, 404},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if rec := env.do(http.MethodPost, tt.target, tt.token, tt.hdr...); rec.Code != tt.want {
				t.Errorf("= %d %s, want %d", rec.Code, rec.Body, tt.want)
			}
		})
	}
}

// Without tokens configured every write is refused, saying why.
func TestRunActionsWithoutTokens(t *testing.T) {
	env := newRunEnv(t, false, nil)
	for _, p := range []string{"/api/v1/runs/slipway-builds/web-1/cancel", "/api/v1/runs/slipway-builds/web-1/rerun"} {
		rec := env.do(http.MethodPost, p, devToken)
		if rec.Code != 401 || !strings.Contains(rec.Body.String(), "no API tokens are configured") {
			t.Errorf("POST %s = %d %s, want 401", p, rec.Code, rec.Body)
		}
	}
	if env.cancelled(t) {
		t.Error("cancelled without a token")
	}
}

// A store that records no events cannot re-run: 501, not a crash.
func TestRerunWithoutRecorder(t *testing.T) {
	env := newRunEnv(t, false, testTokens(t))
	env.e = echo.New()
	RegisterRunActions(env.e, NewRunActions(env.st, nil, env.tekton, buildsNS, nil), Access{Tokens: testTokens(t)})
	if rec := env.do(http.MethodPost, "/api/v1/runs/slipway-builds/web-1/rerun", devToken); rec.Code != http.StatusNotImplemented {
		t.Errorf("= %d %s, want 501", rec.Code, rec.Body)
	}
}
