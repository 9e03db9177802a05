package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

func load(t *testing.T, args []string, env map[string]string, file string) (*Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	c := Bind(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	path := ""
	if file != "" {
		path = filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	err := Resolve(fs, path, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	return c, err
}

func TestPrecedence(t *testing.T) {
	type got struct {
		Addr, Namespace, Store string
		Workers                int
		Insecure               []string
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		file string
		want got
	}{
		{
			name: "defaults",
			want: got{Addr: ":8080", Namespace: "slipway-builds", Store: "sqlite://slipway.db", Workers: 32},
		},
		{
			name: "file over default",
			file: "addr: :9000\nnamespace: ci\ndispatch-workers: 16\ninsecure-registries: [a:5000, b:5000]\n",
			want: got{Addr: ":9000", Namespace: "ci", Store: "sqlite://slipway.db", Workers: 16, Insecure: []string{"a:5000", "b:5000"}},
		},
		{
			name: "env over file",
			env:  map[string]string{"SLIPWAY_ADDR": ":7000", "SLIPWAY_INSECURE_REGISTRIES": "c:1"},
			file: "addr: :9000\nnamespace: ci\n",
			want: got{Addr: ":7000", Namespace: "ci", Store: "sqlite://slipway.db", Workers: 32, Insecure: []string{"c:1"}},
		},
		{
			name: "flag over env",
			args: []string{"--addr", ":6000", "--store", "postgres://u@h/db"},
			env:  map[string]string{"SLIPWAY_ADDR": ":7000", "SLIPWAY_STORE": "sqlite://x.db"},
			file: "addr: :9000\n",
			want: got{Addr: ":6000", Namespace: "slipway-builds", Store: "postgres://u@h/db", Workers: 32},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.args, tt.env, tt.file)
			if err != nil {
				t.Fatal(err)
			}
			g := got{Addr: c.Addr, Namespace: c.Namespace, Store: c.Store, Workers: c.DispatchWorkers, Insecure: c.InsecureRegistries}
			if diff := cmp.Diff(tt.want, g); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		file    string
		wantErr string
	}{
		{name: "unknown file key", file: "adress: :1\n", wantErr: "unknown keys adress"}, //nolint:misspell // the typo is the test
		{name: "bad env value", env: map[string]string{"SLIPWAY_DISPATCH_WORKERS": "many"}, wantErr: "SLIPWAY_DISPATCH_WORKERS"},
		{name: "missing secret file", env: map[string]string{"SLIPWAY_GITHUB_TOKEN_FILE": "/nonexistent/token"}, wantErr: "reading github-token-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, nil, tt.env, tt.file)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestSecretFromFileNeverPrinted(t *testing.T) {
	const token = "s3cr3t-value-42"
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := load(t, nil, map[string]string{"SLIPWAY_GITHUB_WEBHOOK_SECRET_FILE": p}, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.GitHubWebhookSecret.Reveal(); got != token {
		t.Fatalf("Reveal() = %q, want %q (trailing newline trimmed)", got, token)
	}
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("cfg", "secret", c.GitHubWebhookSecret, "config", c)
	js, _ := json.Marshal(c)
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", *c), "%#v": fmt.Sprintf("%#v", *c),
		"json": string(js), "slog": logged.String(),
	} {
		if strings.Contains(out, token) {
			t.Errorf("%s output leaks the secret: %s", name, out)
		}
	}
}

func TestValidate(t *testing.T) {
	c, err := load(t, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	for _, want := range []string{"neither github-webhook-secret", "image-registry is required"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
	c.Store = "postgres://slipway:hunter2@db/slipway"
	if got := c.RedactedStore(); strings.Contains(got, "hunter2") {
		t.Errorf("RedactedStore() = %q leaks the password", got)
	}
	c.Store = "mysql://x"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "sqlite://PATH or postgres://") {
		t.Errorf("Validate() = %v, want store scheme error", err)
	}
}

func TestSBOMGeneratorImage(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    string
		wantErr string
	}{
		{name: "default", want: DefaultSBOMGeneratorImage},
		{name: "the stack's", env: map[string]string{"SLIPWAY_SBOM_GENERATOR_IMAGE": "10.244.0.1:5000/slipway/sbom-generator:v1"}, want: "10.244.0.1:5000/slipway/sbom-generator:v1"},
		{name: "empty turns SBOMs off", env: map[string]string{"SLIPWAY_SBOM_GENERATOR_IMAGE": ""}, want: ""},
		{name: "an option list smuggled in", env: map[string]string{"SLIPWAY_SBOM_GENERATOR_IMAGE": "r/gen,BUILDKIT_SCAN_X=1"}, want: "r/gen,BUILDKIT_SCAN_X=1", wantErr: "sbom-generator-image"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"SLIPWAY_GITLAB_WEBHOOK_TOKEN": "x", "SLIPWAY_GITLAB_TOKEN": "y", "SLIPWAY_IMAGE_REGISTRY": "r"}
			for k, v := range tc.env {
				env[k] = v
			}
			c, err := load(t, nil, env, "")
			if err != nil {
				t.Fatal(err)
			}
			if c.SBOMGeneratorImage != tc.want {
				t.Errorf("SBOMGeneratorImage = %q, want %q", c.SBOMGeneratorImage, tc.want)
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

func TestSecretsDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "gitlab-webhook-token"), []byte("tok"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := load(t, nil, map[string]string{"SLIPWAY_SECRETS_DIR": dir, "SLIPWAY_GITHUB_TOKEN": "from-env"}, "")
	if err != nil {
		t.Fatal(err)
	}
	got := []string{c.GitLabWebhookToken.Reveal(), c.GitHubToken.Reveal(), c.GitHubWebhookSecret.Reveal()}
	if diff := cmp.Diff([]string{"tok", "from-env", ""}, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestValidateTokenNeeded(t *testing.T) {
	c, err := load(t, nil, map[string]string{"SLIPWAY_GITLAB_WEBHOOK_TOKEN": "x", "SLIPWAY_IMAGE_REGISTRY": "r"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "gitlab-token is not") {
		t.Errorf("Validate() = %v, want the missing API token named", err)
	}
	c.GitLabToken = NewSecret("y")
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() = %v, want nil", err)
	}
}

func TestStepLogs(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args      []string
		env       map[string]string
		file      string
		wantCap   int
		wantKeep  time.Duration
		wantError string
	}{
		{name: "defaults", wantCap: 1 << 20, wantKeep: 30 * 24 * time.Hour},
		{name: "file", file: "step-log-cap: 256Ki\nlog-retention: 168h\n", wantCap: 256 << 10, wantKeep: 168 * time.Hour},
		{name: "env", env: map[string]string{"SLIPWAY_STEP_LOG_CAP": "4Mi", "SLIPWAY_LOG_RETENTION": "0s"}, wantCap: 4 << 20},
		{name: "flag, plain bytes", args: []string{"--step-log-cap", "2048"}, wantCap: 2048, wantKeep: 30 * 24 * time.Hour},
		{name: "too small", args: []string{"--step-log-cap", "100"}, wantError: `step-log-cap "100": want from 1Ki to 64Mi`},
		{name: "too big", args: []string{"--step-log-cap", "1Gi"}, wantError: `step-log-cap "1Gi": want from 1Ki to 64Mi`},
		{name: "not a size", args: []string{"--step-log-cap", "lots"}, wantError: `step-log-cap "lots": want a size`},
		{name: "negative retention", args: []string{"--log-retention", "-1h"}, wantError: "log-retention must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.args, tc.env, tc.file)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Validate()
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) {
					t.Errorf("Validate() = %v, want it to mention %q", err, tc.wantError)
				}
				return
			}
			if err != nil && strings.Contains(err.Error(), "log") {
				t.Errorf("Validate() = %v", err)
			}
			got, err := c.StepLogCapBytes()
			if err != nil || got != tc.wantCap || c.LogRetention != tc.wantKeep {
				t.Errorf("cap %d (%v), retention %s; want %d, %s", got, err, c.LogRetention, tc.wantCap, tc.wantKeep)
			}
		})
	}
}

func TestWebhookLimits(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		args                 []string
		env                  map[string]string
		file                 string
		wantBody, wantFlight int64
		wantError            string
	}{
		{name: "defaults", wantBody: 25 << 20, wantFlight: 64 << 20},
		{name: "file", file: "webhook-max-body-bytes: 1Mi\nwebhook-max-inflight-bytes: 8Mi\n", wantBody: 1 << 20, wantFlight: 8 << 20},
		{name: "env", env: map[string]string{"SLIPWAY_WEBHOOK_MAX_INFLIGHT_BYTES": "256Mi"}, wantBody: 25 << 20, wantFlight: 256 << 20},
		{name: "flag", args: []string{"--webhook-max-body-bytes", "10M"}, wantBody: 10_000_000, wantFlight: 64 << 20},
		{name: "budget below two bodies", args: []string{"--webhook-max-inflight-bytes", "50Mi"}, wantError: `webhook-max-inflight-bytes 50Mi is less than twice webhook-max-body-bytes 25Mi`},
		{name: "not a size", args: []string{"--webhook-max-body-bytes", "lots"}, wantError: `webhook-max-body-bytes "lots": want a size`},
		{name: "too small", args: []string{"--webhook-max-inflight-bytes", "10"}, wantError: `webhook-max-inflight-bytes "10": want at least 1Ki`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.args, tc.env, tc.file)
			if err != nil {
				t.Fatal(err)
			}
			body, flight, err := c.WebhookLimits()
			if tc.wantError != "" {
				if verr := c.Validate(); verr == nil || !strings.Contains(verr.Error(), tc.wantError) {
					t.Errorf("Validate() = %v, want it to mention %q", verr, tc.wantError)
				}
				return
			}
			if diff := cmp.Diff([]int64{tc.wantBody, tc.wantFlight}, []int64{body, flight}); err != nil || diff != "" {
				t.Errorf("WebhookLimits() err %v (-want +got)\n%s", err, diff)
			}
		})
	}
}

// TestEdgeSettings: the defaults, and each bad value named.
func TestEdgeSettings(t *testing.T) {
	c, err := load(t, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	got := []any{c.PublicRead, c.SessionTTL, c.APIRate, c.APIBurst, c.TrustedProxy, c.SSEPerClient, c.SSETotal,
		c.RetentionEvents, c.RetentionRuns, c.RetentionNotification, c.RetentionAudit}
	want := []any{false, 12 * time.Hour, 10.0, 40, false, 8, 512, 90 * day, 90 * day, 90 * day, 400 * day}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("defaults (-want +got):\n%s", d)
	}
	if errs := c.edgeErrors(); len(errs) != 0 {
		t.Errorf("defaults refused: %v", errs)
	}
	tests := []struct {
		name string
		set  func(*Config)
		want string
	}{
		{"session-ttl 0", func(c *Config) { c.SessionTTL = 0 }, "session-ttl must be positive"},
		{"api-rate 0", func(c *Config) { c.APIRate = 0 }, "api-rate and api-burst must be positive"},
		{"api-burst 0", func(c *Config) { c.APIBurst = 0 }, "api-rate and api-burst must be positive"},
		{"sse-total below per client", func(c *Config) { c.SSETotal = 2 }, "sse-total at least sse-per-client"},
		{"negative retention", func(c *Config) { c.RetentionAudit = -day }, "retention-audit must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := *c
			tt.set(&cc)
			if errs := strings.Join(cc.edgeErrors(), "; "); !strings.Contains(errs, tt.want) {
				t.Errorf("errors %q, want %q", errs, tt.want)
			}
		})
	}
}

func TestBuildkitTLSSecret(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{name: "plain (default)"},
		{name: "mutual TLS", env: map[string]string{"SLIPWAY_BUILDKIT_TLS_SECRET": "buildkit-client-tls"}},
		{name: "not a Secret name", env: map[string]string{"SLIPWAY_BUILDKIT_TLS_SECRET": "../client"}, wantErr: `buildkit-tls-secret "../client"`},
		{name: "TLS on a unix socket", env: map[string]string{"SLIPWAY_BUILDKIT_TLS_SECRET": "c", "SLIPWAY_BUILDKIT_ADDR": "unix:///run/buildkitd.sock"}, wantErr: "buildkit-tls-secret needs a tcp:// address"},
		{name: "TLS on the PR daemon's unix socket", env: map[string]string{"SLIPWAY_BUILDKIT_TLS_SECRET": "c", "SLIPWAY_PR_BUILDKIT_ADDR": "unix:///run/pr.sock"}, wantErr: `pr-buildkit-addr "unix:///run/pr.sock"`},
		{name: "no scheme", env: map[string]string{"SLIPWAY_BUILDKIT_ADDR": "buildkitd:1234"}, wantErr: "want tcp://HOST:PORT or unix://PATH"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"SLIPWAY_GITLAB_WEBHOOK_TOKEN": "x", "SLIPWAY_GITLAB_TOKEN": "y", "SLIPWAY_IMAGE_REGISTRY": "r"}
			for k, v := range tc.env {
				env[k] = v
			}
			c, err := load(t, nil, env, "")
			if err != nil {
				t.Fatal(err)
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
