package depcache

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func write(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, data := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestKey(t *testing.T) {
	keyOf := func(files map[string]string, salt string) string {
		t.Helper()
		dir := t.TempDir()
		write(t, dir, files)
		k, err := Key(dir, salt)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	goMod := map[string]string{"go.mod": "module x\n", "go.sum": "a v1 h1:x\n", "main.go": "package main\n"}
	base := keyOf(goMod, "golang:1.24")
	if !strings.HasPrefix(base, "deps-") || len(base) != len("deps-")+32 {
		t.Fatalf("Key = %q, want deps- and 32 hex digits", base)
	}
	for _, tc := range []struct {
		name  string
		files map[string]string
		salt  string
		same  bool
	}{
		{"same manifests, other sources", map[string]string{"go.mod": "module x\n", "go.sum": "a v1 h1:x\n", "main.go": "package main // changed\n"}, "golang:1.24", true},
		{"go.sum changed", map[string]string{"go.mod": "module x\n", "go.sum": "a v2 h1:y\n"}, "golang:1.24", false},
		{"another toolchain", goMod, "golang:1.25", false},
		{"content moved between files", map[string]string{"go.mod": "module x\na v1 h1:x\n", "go.sum": ""}, "golang:1.24", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := keyOf(tc.files, tc.salt); (got == base) != tc.same {
				t.Errorf("Key = %q, base %q: same = %v, want %v", got, base, got == base, tc.same)
			}
		})
	}
	if k := keyOf(map[string]string{"index.html": "<p>hi</p>"}, "node:20"); k != "" {
		t.Errorf("Key without manifests = %q, want \"\"", k)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "go.sum"), 0o755); err != nil {
		t.Fatal(err)
	}
	if k, err := Key(dir, ""); err != nil || k != "" {
		t.Errorf("Key with a directory named go.sum = %q, %v; want it skipped", k, err)
	}
}

func newStore(t *testing.T) *Store {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	repo, err := name.NewRepository(strings.TrimPrefix(srv.URL, "http://")+"/apps/web/depcache", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return &Store{Repo: repo}
}

func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSaveRestore(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	const key = "deps-0123456789abcdef0123456789abcdef"
	if _, err := s.Restore(ctx, key, t.TempDir()); !errors.Is(err, ErrMiss) {
		t.Fatalf("Restore before any save = %v, want ErrMiss", err)
	}
	src := t.TempDir()
	write(t, src, map[string]string{"gomod/cache/download/a/@v/v1.zip": "zip", "gobuild/00/abc-d": "object", "npm/_cacache/index": "idx"})
	// Go makes module directories read-only; a save reads them all the same.
	if err := os.Chmod(filepath.Join(src, "gomod/cache/download/a/@v"), 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(filepath.Join(src, "gomod/cache/download/a/@v"), 0o755) })
	if err := os.Symlink("/etc/passwd", filepath.Join(src, "npm/link")); err != nil {
		t.Fatal(err)
	}
	saved, err := s.Save(ctx, key, src)
	if err != nil {
		t.Fatal(err)
	}
	if saved.Files != 3 || saved.Bytes != int64(len("zip")+len("object")+len("idx")) || saved.Packed == 0 {
		t.Errorf("Save stats %+v, want 3 files (the link skipped)", saved)
	}

	dst := t.TempDir()
	got, err := s.Restore(ctx, key, dst)
	if err != nil {
		t.Fatal(err)
	}
	if got.Files != 3 || !Hit(dst) {
		t.Errorf("Restore stats %+v, hit %v; want 3 files and a hit", got, Hit(dst))
	}
	want := map[string]string{"gomod/cache/download/a/@v/v1.zip": "zip", "gobuild/00/abc-d": "object", "npm/_cacache/index": "idx", HitMarker: key + "\n"}
	if diff := cmp.Diff(want, tree(t, dst)); diff != "" {
		t.Errorf("restored tree (-want +got)\n%s", diff)
	}
	// A hit's marker is not packed into the next save.
	again, err := s.Save(ctx, "deps-ffffffffffffffffffffffffffffffff", dst)
	if err != nil || again.Files != 3 {
		t.Errorf("Save of a restored dir: %+v, %v; want the 3 files without the marker", again, err)
	}
	if Hit(t.TempDir()) {
		t.Error("Hit on an empty dir")
	}
}

func TestSizeCapAndBadKeys(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	src := t.TempDir()
	write(t, src, map[string]string{"a": strings.Repeat("x", 600), "b": strings.Repeat("y", 600)})
	const key = "deps-00000000000000000000000000000001"
	s.MaxBytes = 1000
	if _, err := s.Save(ctx, key, src); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Save over the cap = %v, want ErrTooLarge", err)
	}
	if _, err := s.Restore(ctx, key, t.TempDir()); !errors.Is(err, ErrMiss) {
		t.Errorf("after a refused save: %v, want ErrMiss (nothing pushed)", err)
	}
	s.MaxBytes = 0
	if _, err := s.Save(ctx, key, src); err != nil {
		t.Fatal(err)
	}
	s.MaxBytes = 1000
	if _, err := s.Restore(ctx, key, t.TempDir()); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Restore over the cap = %v, want ErrTooLarge", err)
	}
	for _, bad := range []string{"", "latest", "deps-x/../y", "deps-a:b", "deps-a@sha256"} {
		if _, err := s.Save(ctx, bad, src); err == nil || !strings.Contains(err.Error(), "want deps-HASH") {
			t.Errorf("Save(key %q) = %v, want a key error", bad, err)
		}
	}
}

// tarOf builds a tar stream of raw headers, as a hostile cache would be.
func tarOf(t testing.TB, entries []tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		body := strings.Repeat("z", int(h.Size))
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A cache pushed by someone else (or a compromised build) cannot write
// outside the directory, nor plant links there.
func TestRestoreRefusesHostileEntries(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	for _, tc := range []struct {
		name    string
		entries []tar.Header
		wantErr string
		want    []string
	}{
		{"parent", []tar.Header{{Name: "../evil", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}}, "leaves the cache directory", nil},
		{"nested parent", []tar.Header{{Name: "a/../../evil", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}}, "leaves the cache directory", nil},
		{"absolute", []tar.Header{{Name: "/etc/evil", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}}, "leaves the cache directory", nil},
		{"links skipped", []tar.Header{
			{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/etc"},
			{Name: "h", Typeflag: tar.TypeLink, Linkname: "/etc/passwd"},
			{Name: "ok", Typeflag: tar.TypeReg, Size: 2, Mode: 0o644},
		}, "", []string{HitMarker, "ok"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tarOf(t, tc.entries)
			layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
			if err != nil {
				t.Fatal(err)
			}
			img, err := mutate.AppendLayers(empty.Image, layer)
			if err != nil {
				t.Fatal(err)
			}
			key := "deps-" + strings.Repeat("e", 31) + string(rune('a'+len(tc.name)%6))
			if err := remote.Write(s.Repo.Tag(key), img); err != nil {
				t.Fatal(err)
			}
			parent := t.TempDir()
			dst := filepath.Join(parent, "cache")
			_, err = s.Restore(ctx, key, dst)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("Restore = %v, want %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(parent, "evil")); err == nil {
				t.Error("an entry was written outside the cache directory")
			}
			var got []string
			for p := range tree(t, dst) {
				got = append(got, p)
			}
			sort.Strings(got)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("files restored (-want +got)\n%s", diff)
			}
		})
	}
}

// FuzzUnpack: whatever the stream, nothing lands outside the directory
// and nothing panics.
func FuzzUnpack(f *testing.F) {
	f.Add(tarOf(f, []tar.Header{{Name: "a/b", Typeflag: tar.TypeReg, Size: 3, Mode: 0o644}}))
	f.Add(tarOf(f, []tar.Header{{Name: "../x", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}}))
	f.Add(tarOf(f, []tar.Header{{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o555}, {Name: "d/f", Typeflag: tar.TypeReg, Size: 1}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "cache")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		_ = unpack(bytes.NewReader(data), dir, 1<<20, &Stats{})
		entries, err := os.ReadDir(parent)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			t.Fatalf("unpack wrote beside the cache directory: %v", entries)
		}
	})
}
