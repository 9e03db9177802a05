package advisory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A ConfigMap volume: visible symlinks to a hidden timestamped directory.
func TestLoadDirConfigMapLayout(t *testing.T) {
	rec, err := os.ReadFile("testdata/feed/SLIPWAY-2026-0001.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	hidden := filepath.Join(dir, "..2026_12_07_05_00_00.000000001")
	if err := os.Mkdir(hidden, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hidden, "SLIPWAY-2026-0001.json"), rec, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Base(hidden), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/SLIPWAY-2026-0001.json", filepath.Join(dir, "SLIPWAY-2026-0001.json")); err != nil {
		t.Fatal(err)
	}
	feed, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(feed.Match("Go", "example.com/slipway-vuln", "v1.0.0")); got != 1 {
		t.Errorf("%d matches, want 1 (each record read once)", got)
	}
}

func TestLoadFiles(t *testing.T) {
	rec, err := os.ReadFile("testdata/feed/SLIPWAY-2026-0001.json")
	if err != nil {
		t.Fatal(err)
	}
	feed, err := LoadFiles(map[string]string{"SLIPWAY-2026-0001.json": string(rec), "README.md": "not a record"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range feed.Match("Go", "example.com/slipway-vuln", "v1.0.0") {
		ids = append(ids, m.ID+" fixed "+m.Fixed)
	}
	if diff := cmp.Diff([]string{"SLIPWAY-2026-0001 fixed 1.2.0"}, ids); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	_, err = LoadFiles(map[string]string{"a.json": "{", "b.json": `{"id": ""}`})
	if err == nil || !strings.Contains(err.Error(), "a.json") || !strings.Contains(err.Error(), "b.json") {
		t.Errorf("err = %v, want both bad records named", err)
	}
}
