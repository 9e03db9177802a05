package config

import (
	"strings"
	"testing"
)

func TestNamespaces(t *testing.T) {
	for _, tc := range []struct {
		name       string
		args       []string
		env        map[string]string
		file       string
		wantBuilds string
		wantDeploy string
		wantErr    string // "" = no namespace error
	}{
		{name: "defaults", wantBuilds: "slipway-builds", wantDeploy: "slipway"},
		{name: "flag", args: []string{"--deploy-namespace", "ops-deploys"}, wantBuilds: "slipway-builds", wantDeploy: "ops-deploys"},
		{name: "env", env: map[string]string{"SLIPWAY_DEPLOY_NAMESPACE": "cd"}, wantBuilds: "slipway-builds", wantDeploy: "cd"},
		{name: "file", file: "namespace: ci\ndeploy-namespace: cd\n", wantBuilds: "ci", wantDeploy: "cd"},
		{name: "empty deploy namespace", args: []string{"--deploy-namespace", ""}, wantBuilds: "slipway-builds",
			wantErr: "deploy-namespace must not be empty"},
		{name: "empty builds namespace", env: map[string]string{"SLIPWAY_NAMESPACE": ""}, wantDeploy: "slipway",
			wantErr: "namespace must not be empty"},
		{name: "not a DNS label", args: []string{"--deploy-namespace", "Slipway_Deploys"}, wantBuilds: "slipway-builds", wantDeploy: "Slipway_Deploys",
			wantErr: `deploy-namespace "Slipway_Deploys" is not a namespace name: a lowercase RFC 1123 label`},
		{name: "a path", args: []string{"--deploy-namespace", "slipway/secrets"}, wantBuilds: "slipway-builds", wantDeploy: "slipway/secrets",
			wantErr: `deploy-namespace "slipway/secrets" is not a namespace name`},
		{name: "too long", args: []string{"--deploy-namespace", strings.Repeat("d", 64)}, wantBuilds: "slipway-builds", wantDeploy: strings.Repeat("d", 64),
			wantErr: "must be no more than 63 characters"},
		{name: "bad builds namespace", args: []string{"--namespace", "builds."}, wantBuilds: "builds.", wantDeploy: "slipway",
			wantErr: `namespace "builds." is not a namespace name`},
		{name: "deploy runs in the builds namespace", args: []string{"--deploy-namespace", "slipway-builds"}, wantBuilds: "slipway-builds", wantDeploy: "slipway-builds",
			wantErr: `deploy-namespace "slipway-builds" is the builds namespace`},
		{name: "both moved to the same one", file: "namespace: ci\ndeploy-namespace: ci\n", wantBuilds: "ci", wantDeploy: "ci",
			wantErr: `deploy-namespace "ci" is the builds namespace`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"SLIPWAY_GITLAB_WEBHOOK_TOKEN": "x", "SLIPWAY_GITLAB_TOKEN": "y", "SLIPWAY_IMAGE_REGISTRY": "r"}
			for k, v := range tc.env {
				env[k] = v
			}
			c, err := load(t, tc.args, env, tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if c.Namespace != tc.wantBuilds || c.DeployNamespace != tc.wantDeploy {
				t.Errorf("namespaces %q, %q; want %q, %q", c.Namespace, c.DeployNamespace, tc.wantBuilds, tc.wantDeploy)
			}
			err = c.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Validate() = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}
