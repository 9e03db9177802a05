package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/repoconfig"
)

func TestStepPolicy(t *testing.T) {
	base := map[string]string{"SLIPWAY_GITLAB_WEBHOOK_TOKEN": "x", "SLIPWAY_GITLAB_TOKEN": "y", "SLIPWAY_IMAGE_REGISTRY": "r"}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		file    string
		want    repoconfig.StepPolicy
		wantErr string
	}{
		{name: "default: build image only, no secrets"},
		{name: "flags from the environment",
			env: map[string]string{"SLIPWAY_STEP_IMAGES": "r/base/postgres:*,r/ci/**", "SLIPWAY_STEP_SECRETS": "sonar-token=acme/*,sonar-token=tools/web,db=**"},
			want: repoconfig.StepPolicy{Images: []string{"r/base/postgres:*", "r/ci/**"},
				Secrets: []repoconfig.SecretGrant{{Name: "sonar-token", Repos: []string{"acme/*", "tools/web"}}, {Name: "db", Repos: []string{"**"}}}}},
		{name: "config file lists",
			file: "step-images: [\"r/base/postgres:*\"]\nstep-secrets: [\"sonar-token=acme/*\"]\n",
			want: repoconfig.StepPolicy{Images: []string{"r/base/postgres:*"}, Secrets: []repoconfig.SecretGrant{{Name: "sonar-token", Repos: []string{"acme/*"}}}}},
		{name: "secret without repositories", env: map[string]string{"SLIPWAY_STEP_SECRETS": "sonar-token"}, wantErr: `step-secrets[0] "sonar-token": want SECRET=REPOSITORIES`},
		{name: "empty repositories", env: map[string]string{"SLIPWAY_STEP_SECRETS": "sonar-token="}, wantErr: "want SECRET=REPOSITORIES"},
		{name: "bad secret name", env: map[string]string{"SLIPWAY_STEP_SECRETS": "Sonar_Token=acme/*"}, wantErr: "is not a Secret name"},
		{name: "bad repository glob", env: map[string]string{"SLIPWAY_STEP_SECRETS": "s=acme/["}, wantErr: "bad pattern"},
		{name: "bad image glob", env: map[string]string{"SLIPWAY_STEP_IMAGES": "r/["}, wantErr: "step-images[0]: bad pattern"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.env {
				env[k] = v
			}
			c, err := load(t, nil, env, tc.file)
			if err != nil {
				t.Fatal(err)
			}
			verr := c.Validate()
			got, err := c.StepPolicy()
			if tc.wantErr != "" {
				for _, e := range []error{verr, err} {
					if e == nil || !strings.Contains(e.Error(), tc.wantErr) {
						t.Errorf("error %v, want one with %q", e, tc.wantErr)
					}
				}
				return
			}
			if verr != nil || err != nil {
				t.Fatalf("Validate: %v; StepPolicy: %v", verr, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("StepPolicy (-want +got):\n%s", diff)
			}
		})
	}
}
