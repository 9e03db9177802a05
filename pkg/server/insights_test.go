package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// With a release configuration, serve answers the DORA keys on the API,
// the UI and /metrics, labelled by the configured apps and environments.
func TestNewServesInsights(t *testing.T) {
	cfg := testConfig(t)
	example, err := os.ReadFile("../environment/testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.ReleaseConfig = filepath.Join(t.TempDir(), "release.yaml")
	if err := os.WriteFile(cfg.ReleaseConfig, example, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := New(ctx, cfg, WithVersion("test"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	base := "http://" + ln.Addr().String()
	for _, tc := range []struct {
		path, want string
		code       int
	}{
		{"/api/v1/insights?window=7d", `"window":"7d"`, http.StatusOK},
		{"/api/v1/insights?window=7", "want whole days such as 30d", http.StatusBadRequest},
		{"/insights", "DORA keys by app and environment", http.StatusOK},
		{"/metrics", `slipway_dora_deployments{app="shop",env="qa"} 0`, http.StatusOK},
	} {
		resp, err := http.Get(base + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.want) {
			t.Errorf("GET %s = %d, want %d with %q:\n%.2000s", tc.path, resp.StatusCode, tc.code, tc.want, body)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil at shutdown", err)
	}
}
