package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/slipway-ci/slipway/pkg/config"
)

// testConfig is serve's defaults with a SQLite store and a kubeconfig
// naming a cluster that answers every request 503: New reaches no
// cluster, and Run's components keep retrying until shutdown.
func testConfig(t *testing.T) *config.Config {
	t.Helper()
	cluster := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	}))
	t.Cleanup(cluster.Close)
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "`+cluster.URL+`"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Bind(pflag.NewFlagSet("serve", pflag.ContinueOnError))
	cfg.Store = "sqlite://" + filepath.Join(dir, "slipway.db")
	cfg.Kubeconfig = kubeconfig
	cfg.Namespace = "ci"
	cfg.GitHubWebhookSecret = config.NewSecret("s3cret")
	cfg.GitHubToken = config.NewSecret("token")
	cfg.GitHubAPIURL = cluster.URL // answers 503 too; nothing is dispatched
	cfg.ImageRegistry = "registry.local/team"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// New wires every component and readiness check serve runs, and Run
// serves them until shutdown.
func TestNew(t *testing.T) {
	cfg := testConfig(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := New(ctx, cfg, WithVersion("test"))
	if err != nil {
		t.Fatal(err)
	}
	var components, checks []string
	for n := range srv.Components {
		components = append(components, n)
	}
	for n := range srv.Checks {
		checks = append(checks, n)
	}
	slices.Sort(components)
	slices.Sort(checks)
	// No release config: no promotions; no debug address: no profiler.
	if diff := cmp.Diff([]string{"base-images", "dispatcher", "informers", "installer", "log-collector", "notifier", "pruner", "reporter", "retention"}, components); diff != "" {
		t.Errorf("components (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"base-images", "kubernetes", "pipelines", "store"}, checks); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	base := "http://" + ln.Addr().String()
	// The routes of every part are registered: health, the API, the UI.
	for path, want := range map[string]int{"/healthz": http.StatusOK, "/api/v1/runs": http.StatusOK, "/": http.StatusOK, "/readyz": http.StatusServiceUnavailable} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d: %s", path, resp.StatusCode, want, body)
		}
		if path == "/readyz" && !strings.Contains(string(body), `"store":"ok"`) {
			t.Errorf("readyz = %s, want the store ok (the cluster is down)", body)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil at shutdown", err)
	}
}

// A configuration New cannot wire is an error naming the part.
func TestNewErrors(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*config.Config)
		wantErr string
	}{
		{"store", func(c *config.Config) { c.Store = "sqlite://" + filepath.Join(t.TempDir(), "missing", "dir", "db") }, "opening store"},
		{"kubeconfig", func(c *config.Config) { c.Kubeconfig = filepath.Join(t.TempDir(), "none") }, "kubernetes client configuration"},
		{"release config", func(c *config.Config) { c.ReleaseConfig = filepath.Join(t.TempDir(), "none.yaml") }, "promotions"},
		{"signing key", func(c *config.Config) { c.SigningKeyFile = filepath.Join(t.TempDir(), "cosign.key") }, "signing key: open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			tt.change(cfg)
			_, err := New(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New = %v, want an error about %s", err, tt.wantErr)
			}
		})
	}
}

// With promotions, deploy runs get the deploy namespace: its pipeline
// installed there, its runs pruned there, and its informer factory
// started on every replica; the builds namespace keeps CI only.
func TestNewDeployNamespace(t *testing.T) {
	cfg := testConfig(t)
	cfg.DeployNamespace = "cd"
	cfg.ReleaseConfig = "../environment/testdata/example.yaml"
	srv, err := New(context.Background(), cfg, WithVersion("test"))
	if err != nil {
		t.Fatal(err)
	}
	inst, ok := srv.Components["installer"].(*installer)
	if !ok {
		t.Fatalf("installer is %T", srv.Components["installer"])
	}
	want := []installTarget{{"ci", []string{"slipway-ci"}}, {"cd", []string{"slipway-deploy"}}}
	if diff := cmp.Diff(want, inst.targets, cmp.AllowUnexported(installTarget{})); diff != "" {
		t.Errorf("installed (-want +got):\n%s", diff)
	}
	p, ok := srv.Components["pruner"].(*pruner)
	if !ok {
		t.Fatalf("pruner is %T", srv.Components["pruner"])
	}
	if diff := cmp.Diff([]string{"ci", "cd"}, p.namespaces); diff != "" {
		t.Errorf("pruned namespaces (-want +got):\n%s", diff)
	}
	for _, c := range []string{"promotions", "deploy-informers", "informers"} {
		if _, ok := srv.Components[c]; !ok {
			t.Errorf("no %s component", c)
		}
	}
}
