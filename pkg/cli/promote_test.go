package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/api/apitest"
	"github.com/slipway-ci/slipway/pkg/promotion"
)

// cliCase is one command line run against the real API handlers
// (apitest), after setup.
type cliCase struct {
	name     string
	setup    func(t *testing.T, srv *apitest.Server)
	args     []string
	token    string
	wantOut  string // substring
	wantErr  string // substring
	wantCode int
	check    func(t *testing.T, srv *apitest.Server, out string)
}

func runCLI(t *testing.T, srv *apitest.Server, token string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	t.Setenv("SLIPWAY_SERVER", srv.URL)
	t.Setenv("SLIPWAY_TOKEN", token)
	root := NewRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func runCases(t *testing.T, tests []cliCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := apitest.New(t)
			if tt.setup != nil {
				tt.setup(t, srv)
			}
			out, _, err := runCLI(t, srv, tt.token, tt.args...)
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
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("output:\n%s\nwant it to contain:\n%s", out, tt.wantOut)
			}
			if tt.check != nil {
				tt.check(t, srv, out)
			}
		})
	}
}

// promoted asks for a promotion as who before the command runs.
func promoted(who promotion.Caller, app, to string) func(t *testing.T, srv *apitest.Server) {
	return func(t *testing.T, srv *apitest.Server) {
		if _, err := srv.Promotions.Promote(context.Background(), who, promotion.Request{App: app, To: to}); err != nil {
			t.Fatal(err)
		}
	}
}

var (
	dana = promotion.Caller{Name: "dana", Role: "developer"}
	rita = promotion.Caller{Name: "rita", Role: "release-manager", ReleaseManager: true}
)

func TestPromotionCommands(t *testing.T) {
	runCases(t, []cliCase{
		{
			name:    "promote into a guarded environment",
			args:    []string{"promote", "shop", "--to", "prod"},
			token:   apitest.Developer,
			wantOut: "ID  KIND     APP   ENV      DIGEST               STATE              BY    DETAIL\n1   promote  shop  qa→prod  sha256:0123456789ab  awaiting-approval  dana  -\n",
		},
		{
			name:    "promote and wait",
			args:    []string{"promote", "shop", "--to", "prod", "--from", "qa", "--digest", "sha256:0123456789abcdef0123", "--wait", "--poll-interval", "1ms", "-o", "json"},
			token:   apitest.ReleaseManager,
			wantOut: `"state": "succeeded"`,
		},
		{
			name:     "refused exits 1 with the reason",
			args:     []string{"promote", "forged", "--to", "prod"},
			token:    apitest.Developer,
			wantOut:  "refused",
			wantErr:  "promotion 1 refused: promotion refused: no readable SLSA provenance",
			wantCode: 1,
		},
		{name: "promote needs --to", args: []string{"promote", "shop"}, wantErr: "usage: slipway promote APP --to ENV", wantCode: 2},
		{name: "promote needs a token", args: []string{"promote", "shop", "--to", "qa"}, wantErr: "missing token: send Authorization: Bearer <token> (HTTP 401)"},
		{name: "promote with a wrong token", args: []string{"promote", "shop", "--to", "qa"}, token: "wrong-token-0123456789", wantErr: "invalid token (HTTP 401)"},
		{
			name: "continue", token: apitest.ReleaseManager, args: []string{"promote", "--continue", "1"}, wantOut: "running",
			setup: func(t *testing.T, srv *apitest.Server) {
				promoted(rita, "shop", "prod")(t, srv)
				srv.Promotions.Pause(1)
			},
		},
		{
			name: "approve refused", token: apitest.Developer, args: []string{"approve", "1"}, setup: promoted(dana, "shop", "prod"),
			wantErr: "approve: forbidden: approving needs the release-manager role; dana is a developer (HTTP 403)",
		},
		{
			name: "approve", token: apitest.ReleaseManager, args: []string{"approve", "1"}, setup: promoted(dana, "shop", "prod"),
			wantOut: "1   promote  shop  qa→prod  sha256:0123456789ab  running  dana (approved: rita)",
		},
		{name: "approve unknown", token: apitest.ReleaseManager, args: []string{"approve", "7"}, wantErr: "no promotion 7 (HTTP 404)"},
		{name: "approve bad id", args: []string{"approve", "seven"}, wantErr: `promotion id "seven"`, wantCode: 2},
		{name: "abort", token: apitest.Developer, args: []string{"abort", "1"}, setup: promoted(dana, "shop", "prod"), wantOut: "aborted"},
		{
			name:    "rollback",
			token:   apitest.Developer,
			args:    []string{"rollback", "shop", "--env", "prod"},
			wantOut: "1   rollback  shop  prod  sha256:aaaaaaaaaaaa  awaiting-approval  dana  -\n",
		},
		{name: "app delete", token: apitest.Admin, args: []string{"app", "delete", "shop"}, wantOut: "deleted shop from every environment\n"},
		{name: "app delete needs admin", token: apitest.ReleaseManager, args: []string{"app", "delete", "shop"}, wantErr: "needs the admin role (HTTP 403)"},
		{name: "app delete dry run needs admin", token: apitest.Developer, args: []string{"app", "delete", "shop", "--dry-run"}, wantErr: "needs the admin role (HTTP 403)"},
		{name: "app delete dry run", token: apitest.Admin, args: []string{"app", "delete", "shop", "--dry-run"}, wantOut: ""},
		{name: "app delete without token", args: []string{"app", "delete", "shop"}, wantErr: "HTTP 401"},
		{name: "orphans need a release manager", token: apitest.Developer, args: []string{"orphans"}, wantErr: "release-manager role (HTTP 403)"},
		{name: "orphans", token: apitest.ReleaseManager, args: []string{"orphans"}, wantOut: ""},
		{name: "removed apps", token: apitest.Developer, args: []string{"app", "removed"}, wantOut: "APP  ENVIRONMENTS  STATE  ERROR\n"},
		{
			name: "list", token: apitest.Developer, args: []string{"promotions", "--app", "shop", "--state", "awaiting-approval"},
			setup: func(t *testing.T, srv *apitest.Server) {
				promoted(dana, "shop", "prod")(t, srv)
				promoted(dana, "cart", "prod")(t, srv)
			},
			check: func(t *testing.T, _ *apitest.Server, out string) {
				if strings.Contains(out, "cart") || !strings.Contains(out, "shop") {
					t.Errorf("filtered list:\n%s", out)
				}
			},
		},
		{name: "list bad state", token: apitest.Developer, args: []string{"promotions", "--state", "done"}, wantErr: "state must be", wantCode: 0},
		{name: "show one", token: apitest.Developer, args: []string{"promotions", "1", "-o", "json"}, setup: promoted(dana, "shop", "prod"), wantOut: `"requestedBy": "dana"`},
		{
			name: "audit", token: apitest.Developer, args: []string{"audit", "--actor", "dana", "--promotion", "1"}, setup: promoted(dana, "shop", "prod"),
			wantOut: "TIME                  ACTOR  ROLE       ACTION   APP   ENV      DIGEST               PROMOTION  RESULT\n" +
				"2026-11-01T12:00:00Z  dana   developer  promote  shop  qa→prod  sha256:0123456789ab  1          accepted\n",
		},
		{name: "bad output", args: []string{"promotions", "-o", "yaml"}, wantErr: `--output "yaml"`, wantCode: 2},
		{name: "bad server", args: []string{"promotions", "--server", "localhost:8080"}, wantErr: "--server", wantCode: 2},
	})
}

// --wait reports each new state and progress on stderr.
func TestPromoteWaitReportsProgress(t *testing.T) {
	srv := apitest.New(t)
	out, errOut, err := runCLI(t, srv, apitest.ReleaseManager, "promote", "shop", "--to", "prod", "--wait", "--poll-interval", "1ms", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	want := "promotion 1: running: wave 1/1 east: rolling\npromotion 1: succeeded: sha256:0123456789abcdef0123456789abcdef runs in prod\n"
	if diff := cmp.Diff(want, errOut); diff != "" {
		t.Errorf("stderr (-want +got):\n%s", diff)
	}
	var p struct{ State string }
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.State != "succeeded" {
		t.Errorf("stdout %s: %v", out, err)
	}
}

func TestPromotePolicyOverride(t *testing.T) {
	runCases(t, []cliCase{
		{
			name: "refused by the policy re-check, naming the advisory", token: apitest.ReleaseManager,
			args:    []string{"promote", "vulnerable", "--to", "prod"},
			wantErr: "SLIPWAY-2026-0001 (fixed in 1.2.0)", wantCode: 1,
		},
		{
			name: "only an admin may override", token: apitest.ReleaseManager,
			args:    []string{"promote", "vulnerable", "--to", "prod", "--override-policy", "INC-4711"},
			wantErr: "forbidden: overriding the dependency policy needs the admin role; rita is a release-manager (HTTP 403)",
		},
		{name: "an override needs a reason", token: apitest.Admin, args: []string{"promote", "vulnerable", "--to", "prod", "--override-policy", " "},
			wantErr: "--override-policy needs a reason", wantCode: 2},
		{
			name: "an admin overrides, audited", token: apitest.Admin,
			args:    []string{"promote", "vulnerable", "--to", "prod", "--override-policy", "INC-4711: not reachable"},
			wantOut: "running",
			check: func(t *testing.T, srv *apitest.Server, _ string) {
				out, _, err := runCLI(t, srv, apitest.Admin, "audit", "--promotion", "1")
				if err != nil || !strings.Contains(out, "policy-override") || !strings.Contains(out, "overridden: INC-4711: not reachable (refused for SLIPWAY-2026-0001)") {
					t.Errorf("audit (%v):\n%s", err, out)
				}
			},
		},
	})
}
