package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeAPI answers like Slipway's promotion API and records the requests.
type fakeAPI struct {
	mu    sync.Mutex
	reqs  []string
	polls int
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, strings.Join(strings.Fields(r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Authorization")+" "+string(body)), " "))
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	answer := func(code int, v string) { w.WriteHeader(code); _, _ = io.WriteString(w, v) }
	running := `{"id":7,"kind":"promote","app":"shop","from":"qa","to":"prod","digest":"sha256:0123456789abcdef0123","state":"running","requestedBy":"rita","progress":"wave 1/2 east: canary 50%"}`
	switch r.Method + " " + r.URL.Path {
	case "POST /api/v1/promotions":
		if strings.Contains(string(body), `"app":"forged"`) {
			answer(422, `{"id":8,"kind":"promote","app":"forged","to":"prod","state":"refused","reason":"promotion refused: no readable SLSA provenance"}`)
			return
		}
		answer(201, running)
	case "GET /api/v1/promotions/7":
		f.mu.Lock()
		f.polls++
		n := f.polls
		f.mu.Unlock()
		if n < 2 {
			answer(200, running)
			return
		}
		answer(200, strings.NewReplacer(`"running"`, `"succeeded"`, "wave 1/2 east: canary 50%", "sha256:0123456789abcdef0123 runs in prod").Replace(running))
	case "POST /api/v1/promotions/7/approve":
		answer(403, `{"message":"approve: forbidden: approving needs the release-manager role; dana is a developer"}`)
	case "POST /api/v1/promotions/7/continue":
		answer(200, running)
	case "POST /api/v1/apps/shop/rollback":
		answer(201, `{"id":9,"kind":"rollback","app":"shop","from":"prod","to":"prod","digest":"sha256:aaaaaaaaaaaaaaaa","state":"awaiting-approval","requestedBy":"dana"}`)
	case "DELETE /api/v1/apps/shop":
		w.WriteHeader(204)
	case "GET /api/v1/promotions":
		answer(200, `{"items":[`+running+`]}`)
	case "GET /api/v1/audit":
		answer(200, `{"items":[{"id":1,"at":"2026-11-22T06:00:00Z","actor":"rita","role":"release-manager","action":"promote","app":"shop","from":"qa","to":"prod","digest":"sha256:0123456789abcdef0123","promotionId":7,"result":"accepted"}]}`)
	default:
		answer(404, `{"message":"Not Found"}`)
	}
}

func TestPromotionCommands(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantOut  string
		wantErr  string
		wantCode int
		wantReqs []string
	}{
		{
			name:     "promote",
			args:     []string{"promote", "shop", "--to", "prod", "--token", "tok"},
			wantOut:  "ID  KIND     APP   ENV      DIGEST               STATE    BY    DETAIL\n7   promote  shop  qa→prod  sha256:0123456789ab  running  rita  wave 1/2 east: canary 50%\n",
			wantReqs: []string{`POST /api/v1/promotions Bearer tok {"app":"shop","digest":"","from":"","to":"prod"}`},
		},
		{
			name:    "promote and wait",
			args:    []string{"promote", "shop", "--to", "prod", "--from", "qa", "--digest", "sha256:0123456789abcdef0123", "--wait", "--poll-interval", "1ms", "-o", "json"},
			wantOut: `"state": "succeeded"`,
			wantReqs: []string{
				`POST /api/v1/promotions {"app":"shop","digest":"sha256:0123456789abcdef0123","from":"qa","to":"prod"}`,
				"GET /api/v1/promotions/7", "GET /api/v1/promotions/7",
			},
		},
		{
			name:     "refused exits 1 with the reason",
			args:     []string{"promote", "forged", "--to", "prod"},
			wantOut:  "refused",
			wantErr:  "promotion 8 refused: promotion refused: no readable SLSA provenance",
			wantCode: 1,
		},
		{name: "promote needs --to", args: []string{"promote", "shop"}, wantErr: "usage: slipway promote APP --to ENV", wantCode: 2},
		{name: "continue", args: []string{"promote", "--continue", "7"}, wantOut: "running", wantReqs: []string{"POST /api/v1/promotions/7/continue"}},
		{
			name:    "approve refused",
			args:    []string{"approve", "7"},
			wantErr: "approve: forbidden: approving needs the release-manager role; dana is a developer (HTTP 403)",
		},
		{name: "approve bad id", args: []string{"approve", "seven"}, wantErr: `promotion id "seven"`, wantCode: 2},
		{
			name:     "rollback",
			args:     []string{"rollback", "shop", "--env", "prod"},
			wantOut:  "9   rollback  shop  prod  sha256:aaaaaaaaaaaa  awaiting-approval  dana  -\n",
			wantReqs: []string{`POST /api/v1/apps/shop/rollback {"env":"prod"}`},
		},
		{name: "app delete", args: []string{"app", "delete", "shop"}, wantOut: "deleted shop from every environment\n", wantReqs: []string{"DELETE /api/v1/apps/shop"}},
		{name: "list", args: []string{"promotions", "--app", "shop", "--state", "running"}, wantOut: "wave 1/2 east",
			wantReqs: []string{"GET /api/v1/promotions?app=shop&limit=50&state=running"}},
		{
			name:     "audit",
			args:     []string{"audit", "--actor", "rita", "--promotion", "7"},
			wantOut:  "TIME                  ACTOR  ROLE             ACTION   APP   ENV      DIGEST               PROMOTION  RESULT\n2026-11-22T06:00:00Z  rita   release-manager  promote  shop  qa→prod  sha256:0123456789ab  7          accepted\n",
			wantReqs: []string{"GET /api/v1/audit?actor=rita&limit=50&promotion=7"},
		},
		{name: "bad output", args: []string{"promotions", "-o", "yaml"}, wantErr: `--output "yaml"`, wantCode: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeAPI{}
			srv := httptest.NewServer(api)
			defer srv.Close()
			t.Setenv("SLIPWAY_SERVER", srv.URL)
			t.Setenv("SLIPWAY_TOKEN", "")
			root := NewRootCmd()
			var out, errOut bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&errOut)
			root.SetArgs(tt.args)
			err := root.ExecuteContext(context.Background())
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			var ee *exitError
			if tt.wantCode != 0 && (!errors.As(err, &ee) || ee.code != tt.wantCode) {
				t.Errorf("exit code of %v, want %d", err, tt.wantCode)
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("output:\n%s\nwant it to contain:\n%s", out.String(), tt.wantOut)
			}
			if tt.wantReqs != nil {
				if diff := cmp.Diff(tt.wantReqs, api.reqs); diff != "" {
					t.Errorf("requests (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// --wait reports each new state and progress on stderr.
func TestPromoteWaitReportsProgress(t *testing.T) {
	srv := httptest.NewServer(&fakeAPI{})
	defer srv.Close()
	root := NewRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs([]string{"promote", "shop", "--to", "prod", "--server", srv.URL, "--wait", "--poll-interval", "1ms", "-o", "json"})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := "promotion 7: running: wave 1/2 east: canary 50%\npromotion 7: succeeded: sha256:0123456789abcdef0123 runs in prod\n"
	if diff := cmp.Diff(want, errOut.String()); diff != "" {
		t.Errorf("stderr (-want +got):\n%s", diff)
	}
	var p struct{ State string }
	if err := json.Unmarshal(out.Bytes(), &p); err != nil || p.State != "succeeded" {
		t.Errorf("stdout %s: %v", out.String(), err)
	}
}
