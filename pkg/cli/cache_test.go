package cli

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

func runCache(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := NewCacheCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestCacheCmd(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	repo := strings.TrimPrefix(srv.URL, "http://") + "/apps/web/depcache"
	checkout, cache := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(checkout, "go.sum"), []byte("a v1 h1:x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cache, "obj"), []byte("compiled"), 0o644); err != nil {
		t.Fatal(err)
	}
	common := []string{"--repo", repo, "--insecure", "--context", checkout, "--salt", "golang:1.24"}
	steps := []struct {
		args []string
		want string
	}{
		{append([]string{"restore", "--dir", t.TempDir()}, common...), "slipway cache: miss"},
		{append([]string{"save", "--dir", cache}, common...), "slipway cache: saved " + repo + ":deps-"},
		{append([]string{"restore", "--dir", cache + "/restored"}, common...), "(1 files, 0.0 MiB)"},
		{append([]string{"save", "--dir", cache + "/restored"}, common...), "was restored, nothing to save"},
		{[]string{"restore", "--dir", cache, "--repo", repo, "--context", t.TempDir()}, "no dependency manifest"},
	}
	for i, s := range steps {
		out, err := runCache(t, s.args...)
		if err != nil || !strings.Contains(out, s.want) {
			t.Errorf("step %d %v: %q, %v; want output containing %q", i, s.args[:1], out, err, s.want)
		}
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"restore", "--dir", cache}, "--repo and --dir are required"},
		{[]string{"save", "--repo", repo}, "--repo and --dir are required"},
		{[]string{"restore", "--repo", "UPPER CASE/x", "--dir", cache}, `--repo "UPPER CASE/x"`},
		{[]string{"restore", "--repo", repo, "--dir", cache, "--max-size", "lots"}, `--max-size "lots"`},
		{[]string{"restore", "--repo", repo, "--dir", cache, "--max-size", "0"}, `--max-size "0"`},
	} {
		if _, err := runCache(t, bad.args...); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%v: error %v, want %q", bad.args, err, bad.want)
		}
	}
}
