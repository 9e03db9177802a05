package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/scm/github"
)

func TestRecoverySettings(t *testing.T) {
	base := map[string]string{"SLIPWAY_GITHUB_WEBHOOK_SECRET": "s", "SLIPWAY_GITHUB_TOKEN": "t", "SLIPWAY_IMAGE_REGISTRY": "r"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name      string
		env       map[string]string
		wantHooks []github.Hook
		wantErr   string
	}{
		{name: "off by default", env: base},
		{name: "repo and org hooks", env: with("SLIPWAY_RECOVER_INTERVAL", "5m", "SLIPWAY_GITHUB_RECOVER_HOOKS", "repo:acme/shop:42, org:acme:7"),
			wantHooks: []github.Hook{{Kind: github.RepoHook, Owner: "acme", Repo: "shop", ID: 42}, {Kind: github.OrgHook, Owner: "acme", ID: 7}}},
		{name: "bad hook", env: with("SLIPWAY_RECOVER_INTERVAL", "5m", "SLIPWAY_GITHUB_RECOVER_HOOKS", "repo:acme:42"), wantErr: "want repo:OWNER/NAME:ID"},
		{name: "negative interval", env: with("SLIPWAY_RECOVER_INTERVAL", "-1m"), wantErr: "recover-interval must not be negative"},
		{name: "zero window", env: with("SLIPWAY_RECOVER_WINDOW", "0s"), wantErr: "recover-window must be positive"},
		{name: "nothing to watch", env: with("SLIPWAY_RECOVER_INTERVAL", "5m"), wantErr: "names anything to watch"},
		{name: "gitlab without its token", env: with("SLIPWAY_RECOVER_INTERVAL", "5m", "SLIPWAY_GITLAB_RECOVER_PROJECTS", "acme/shop"), wantErr: "gitlab-token is not"},
		{name: "bad project", env: with("SLIPWAY_GITLAB_TOKEN", "g", "SLIPWAY_GITLAB_RECOVER_PROJECTS", "/acme//shop"), wantErr: "is not a project path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, nil, tt.env, "")
			if err != nil {
				t.Fatal(err)
			}
			err = c.Validate()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Validate() = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			hooks, err := c.RecoverHooks()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantHooks, hooks); diff != "" {
				t.Errorf("RecoverHooks (-want +got):\n%s", diff)
			}
			if c.RecoverWindow != 3*time.Hour {
				t.Errorf("recover-window = %s, want the 3h default", c.RecoverWindow)
			}
		})
	}
}
