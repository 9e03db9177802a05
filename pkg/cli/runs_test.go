package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-ci/slipway/pkg/api/apitest"
	"github.com/slipway-ci/slipway/pkg/store"
)

func cancelled(t *testing.T, srv *apitest.Server) bool {
	t.Helper()
	pr, err := srv.Tekton.TektonV1().PipelineRuns(apitest.Namespace).Get(context.Background(), "web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pr.Spec.Status == pipelinev1.PipelineRunSpecStatusCancelled
}

func events(t *testing.T, srv *apitest.Server) int {
	t.Helper()
	evs, err := srv.Store.ListEvents(context.Background(), store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

func TestRunCommands(t *testing.T) {
	runCases(t, []cliCase{
		{
			name: "runs", token: apitest.Developer,
			args: []string{"runs", "--repo", "acme/web", "--state", "running"},
			check: func(t *testing.T, _ *apitest.Server, out string) {
				lines := strings.Split(strings.TrimSpace(out), "\n")
				if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "RUN REPO REF COMMIT STATE CREATED DURATION" {
					t.Fatalf("table:\n%s", out)
				}
				f := strings.Fields(lines[1])
				if diff := cmp.Diff([]string{apitest.RunID, "acme/web", "main", "running", "2026-11-01T12:00:00Z", "-"},
					[]string{f[0], f[1], f[2], f[4], f[5], f[6]}); diff != "" || len(f[3]) != 7 {
					t.Errorf("row (-want +got):\n%s%s", diff, out)
				}
			},
		},
		{name: "runs as JSON", token: apitest.Developer, args: []string{"runs", "-o", "json"}, wantOut: `"id": "slipway-builds/web-1"`},
		{name: "runs of another repo", token: apitest.Developer, args: []string{"runs", "--repo", "o/other"}, wantOut: "RUN  REPO  REF  COMMIT  STATE  CREATED  DURATION\n"},
		{name: "runs bad state", token: apitest.Developer, args: []string{"runs", "--state", "green"}, wantErr: "state must be pending, running, success, failure or canceled (HTTP 400)"},
		{name: "runs bad limit", args: []string{"runs", "--limit", "0"}, wantErr: "--limit 0: want 1 to 1000", wantCode: 2},
		{name: "runs without a token", args: []string{"runs"}, wantErr: "missing token: send Authorization: Bearer <token> (HTTP 401)"},
		{name: "runs with a wrong token", token: "wrong-token-0123456789", args: []string{"runs"}, wantErr: "invalid token (HTTP 401)"},
		{name: "events", token: apitest.Developer, args: []string{"events", "--repo", "acme/web", "--state", "queued"}, wantOut: "d-1", check: func(t *testing.T, _ *apitest.Server, out string) {
			if !strings.HasPrefix(out, "ID  RECEIVED") || !strings.Contains(out, "acme/web") || !strings.Contains(out, "queued") {
				t.Errorf("table:\n%s", out)
			}
		}},
		{name: "events as JSON", token: apitest.Developer, args: []string{"events", "-o", "json"}, wantOut: `"delivery": "d-1"`},
		{name: "events bad state", token: apitest.Developer, args: []string{"events", "--state", "lost"}, wantErr: "(HTTP 400)"},
		{
			name: "rerun", token: apitest.Developer, args: []string{"rerun", "web-1", "--idempotency-key", "key-12345678"},
			wantOut: "queued a re-run of slipway-builds/web-1 as event 2\n",
			check: func(t *testing.T, srv *apitest.Server, _ string) {
				if n := events(t, srv); n != 2 {
					t.Errorf("%d events, want 2", n)
				}
			},
		},
		{
			name: "rerun twice with one key", token: apitest.Developer, args: []string{"rerun", apitest.RunID, "--idempotency-key", "key-12345678", "-o", "json"},
			setup: func(t *testing.T, srv *apitest.Server) {
				if _, _, err := runCLI(t, srv, apitest.Developer, "rerun", apitest.RunID, "--idempotency-key", "key-12345678"); err != nil {
					t.Fatal(err)
				}
			},
			wantOut: `"duplicate": true`,
			check: func(t *testing.T, srv *apitest.Server, _ string) {
				if n := events(t, srv); n != 2 {
					t.Errorf("%d events, want 2", n)
				}
			},
		},
		{name: "rerun without token", args: []string{"rerun", "web-1"}, wantErr: "missing token", check: func(t *testing.T, srv *apitest.Server, _ string) {
			if n := events(t, srv); n != 1 {
				t.Errorf("%d events, want 1", n)
			}
		}},
		{name: "rerun bad key", token: apitest.Developer, args: []string{"rerun", "web-1", "--idempotency-key", "no!"}, wantErr: "(HTTP 400)"},
		{name: "rerun unknown run", token: apitest.Developer, args: []string{"rerun", "nope"}, wantErr: "no run slipway-builds/nope (HTTP 404)"},
		{name: "rerun malformed run", token: apitest.Developer, args: []string{"rerun", "a/b/c"}, wantErr: `run "a/b/c"`, wantCode: 2},
		{
			name: "cancel", token: apitest.Developer, args: []string{"cancel", "web-1"}, wantOut: "cancelled slipway-builds/web-1\n",
			check: func(t *testing.T, srv *apitest.Server, _ string) {
				if !cancelled(t, srv) {
					t.Error("not cancelled")
				}
			},
		},
		{
			name: "cancel without token", args: []string{"cancel", "web-1"}, wantErr: "missing token",
			check: func(t *testing.T, srv *apitest.Server, _ string) {
				if cancelled(t, srv) {
					t.Error("cancelled without a token")
				}
			},
		},
		{name: "cancel elsewhere", token: apitest.Developer, args: []string{"cancel", "kube-system/web-1"}, wantErr: "(HTTP 404)"},
		{name: "cancel malformed", token: apitest.Developer, args: []string{"cancel", "Web_1"}, wantErr: "(HTTP 400)"},
	})
}

// streamServer answers GET /runs/{ns}/{name}/stream with events written
// as the web UI's run stream writes them.
func streamServer(t *testing.T, events ...[2]string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/runs/slipway-builds/web-1/stream" {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"message":"no run"}`))
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, e := range events {
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e[0], e[1])
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestLogsCommand(t *testing.T) {
	const tl = `{"state":"%s","tasks":[{"name":"test","state":"%[1]s","steps":[{"name":"unit","state":"%[1]s"}]},{"name":"lint","state":"succeeded","steps":[{"name":"vet","state":"succeeded"}]}]}`
	running := [][2]string{
		{"timeline", fmt.Sprintf(tl, "running")},
		{"log", `{"task":"lint","step":"vet","text":"ok\n","reset":true}`},
		{"log", `{"task":"test","step":"unit","text":"=== RUN TestA","reset":true}`},
		{"log", `{"task":"test","step":"unit","text":"\n--- FAIL: TestA\n"}`},
		{"timeline", fmt.Sprintf(tl, "failed")},
		{"end", `{"state":"failed"}`},
	}
	tests := []struct {
		name     string
		args     []string
		events   [][2]string
		want     string
		wantErr  string
		wantCode int
	}{
		{"finished steps", []string{"logs", "web-1"}, running, "==> lint/vet <==\nok\n", "", 0},
		{"follow a failing run", []string{"logs", "web-1", "--follow"}, running,
			"==> lint/vet <==\nok\n==> test/unit <==\n=== RUN TestA\n--- FAIL: TestA\n", "run slipway-builds/web-1 failed", 1},
		{"follow a run that succeeds", []string{"logs", "slipway-builds/web-1", "-f"}, [][2]string{
			{"timeline", fmt.Sprintf(tl, "succeeded")},
			{"log", `{"task":"test","step":"unit","text":"PASS","reset":true,"truncated":true}`},
			{"end", `{"state":"succeeded"}`},
		}, "==> test/unit <==\n[… earlier output cut: the server keeps the tail of each log]\nPASS\n", "", 0},
		{"JSON lines", []string{"logs", "web-1", "-o", "json"}, running, `{"task":"lint","step":"vet","text":"ok\n","reset":true}` + "\n", "", 0},
		{"unknown run", []string{"logs", "web-2"}, nil, "", "no run (HTTP 404)", 0},
		{"malformed run", []string{"logs", "/web-1"}, nil, "", `run "/web-1"`, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := streamServer(t, tt.events...)
			t.Setenv("SLIPWAY_SERVER", srv.URL)
			root := NewRootCmd()
			var out strings.Builder
			root.SetOut(&out)
			root.SetArgs(tt.args)
			err := root.ExecuteContext(context.Background())
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			var ee *exitError
			if tt.wantCode != 0 && (!errors.As(err, &ee) || ee.code != tt.wantCode) {
				t.Errorf("exit code of %v, want %d", err, tt.wantCode)
			}
			if diff := cmp.Diff(tt.want, out.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}
