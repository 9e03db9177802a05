package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// writeLayer writes a gzipped tar holding files (name -> content) and returns its path.
func writeLayer(t *testing.T, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for n, c := range files {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o755, Size: int64(len(c)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(t.TempDir(), "layer-*.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

func TestBuild(t *testing.T) {
	base := writeLayer(t, map[string]string{"bin/sh": "#!"})
	app := writeLayer(t, map[string]string{"usr/local/bin/slipway": "binary"})
	notGzip := filepath.Join(t.TempDir(), "plain.tar")
	if err := os.WriteFile(notGzip, []byte("not gzip"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		spec       Spec
		wantConfig v1.Config
		wantLayers int
		wantErr    string
	}{{
		name:       "one layer with a shell",
		spec:       Spec{Layers: []string{base}, Env: []string{"PATH=/bin"}, Cmd: []string{"/bin/sh"}},
		wantConfig: v1.Config{Env: []string{"PATH=/bin"}, Cmd: []string{"/bin/sh"}},
		wantLayers: 1,
	}, {
		name: "non-root app on a base",
		spec: Spec{
			Layers: []string{base, app}, Env: []string{"PATH=/bin", "HOME=/home/nonroot"},
			Entrypoint: []string{"/usr/local/bin/slipway"}, Cmd: []string{"--help"},
			User: "65532:65532", WorkingDir: "/home/nonroot",
		},
		wantConfig: v1.Config{
			Env:        []string{"PATH=/bin", "HOME=/home/nonroot"},
			Entrypoint: []string{"/usr/local/bin/slipway"}, Cmd: []string{"--help"},
			User: "65532:65532", WorkingDir: "/home/nonroot",
		},
		wantLayers: 2,
	}, {
		name:    "no layers",
		spec:    Spec{Env: []string{"PATH=/bin"}},
		wantErr: "no layers given",
	}, {
		name:    "env without a value separator",
		spec:    Spec{Layers: []string{base}, Env: []string{"PATH"}},
		wantErr: `env entry "PATH" is not KEY=VALUE`,
	}, {
		name:    "missing layer file",
		spec:    Spec{Layers: []string{filepath.Join(t.TempDir(), "gone.tar.gz")}},
		wantErr: "no such file",
	}, {
		name:    "layer is not gzip",
		spec:    Spec{Layers: []string{notGzip}},
		wantErr: "is not gzip",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := Build(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Build() error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Build() error = %v", err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantConfig, cf.Config); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			got := struct{ OS, Arch, Created string }{cf.OS, cf.Architecture, cf.Created.UTC().Format("2006-01-02")}
			want := struct{ OS, Arch, Created string }{"linux", "amd64", "1970-01-01"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("platform and time (-want +got):\n%s", diff)
			}
			layers, err := img.Layers()
			if err != nil {
				t.Fatal(err)
			}
			if len(layers) != tt.wantLayers {
				t.Errorf("got %d layers, want %d", len(layers), tt.wantLayers)
			}
		})
	}
}

// The sidecar digests must be the real ones, and a rebuild from them the same image.
func TestBuildDigestsMatchContent(t *testing.T) {
	path := writeLayer(t, map[string]string{"etc/passwd": "root:x:0:0::/root:/bin/sh\n"})
	first, err := Build(Spec{Layers: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".sums.json"); err != nil {
		t.Fatalf("sidecar not written: %v", err)
	}
	second, err := Build(Spec{Layers: []string{path}}) // from the sidecar
	if err != nil {
		t.Fatal(err)
	}
	ref, err := tarball.LayerFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	digests := func(img v1.Image) []string {
		t.Helper()
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		ls, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		ld, _ := ls[0].Digest()
		li, _ := ls[0].DiffID()
		return []string{d.String(), ld.String(), li.String()}
	}
	refDigest, _ := ref.Digest()
	refDiffID, _ := ref.DiffID()
	got1, got2 := digests(first), digests(second)
	if diff := cmp.Diff([]string{refDigest.String(), refDiffID.String()}, got1[1:]); diff != "" {
		t.Errorf("layer digest, diffID vs go-containerregistry's (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(got1, got2); diff != "" {
		t.Errorf("rebuild from the sidecar differs (-want +got):\n%s", diff)
	}

	// A rewritten layer must not be described by the stale sidecar.
	changed := writeLayer(t, map[string]string{"etc/passwd": "changed\n"})
	b, err := os.ReadFile(changed)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	third, err := Build(Spec{Layers: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	if got3 := digests(third); got3[1] == got1[1] {
		t.Errorf("layer digest %s unchanged after the file changed", got3[1])
	}
}

func newRegistry(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(registry.New())
	t.Cleanup(s.Close)
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func TestPush(t *testing.T) {
	ctx := context.Background()
	img, err := Build(Spec{Layers: []string{writeLayer(t, map[string]string{"bin/sh": "#!"})}, Cmd: []string{"/bin/sh"}})
	if err != nil {
		t.Fatal(err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	reg := newRegistry(t)
	ref := reg + "/base/busybox:latest"
	var states []bool
	for range 2 {
		up, err := Push(ctx, img, ref, false)
		if err != nil {
			t.Fatalf("Push() error = %v", err)
		}
		states = append(states, up)
	}
	// A registry that lost everything (a fresh one) gets the image again.
	lost := newRegistry(t) + "/base/busybox:latest"
	up, err := Push(ctx, img, lost, false)
	if err != nil {
		t.Fatalf("Push() to a fresh registry error = %v", err)
	}
	states = append(states, up)
	if diff := cmp.Diff([]bool{false, true, false}, states); diff != "" {
		t.Errorf("up to date per push (-want +got):\n%s", diff)
	}
	for _, r := range []string{ref, lost} {
		pr, err := name.ParseReference(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := remote.Image(pr)
		if err != nil {
			t.Fatalf("pulling %s: %v", r, err)
		}
		d, err := got.Digest()
		if err != nil {
			t.Fatal(err)
		}
		if d != want {
			t.Errorf("%s has digest %s, want %s", r, d, want)
		}
		if _, err := got.Layers(); err != nil {
			t.Errorf("%s layers: %v", r, err)
		}
	}
	if _, err := Push(ctx, img, "Not A Reference!", false); err == nil {
		t.Error("Push() to an invalid reference succeeded")
	}
}

func TestWriteOCIArchive(t *testing.T) {
	img, err := Build(Spec{Layers: []string{writeLayer(t, map[string]string{"usr/local/bin/slipway": "x"})}, User: "65532:65532"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "slipway.tar")
	if err := WriteOCIArchive(img, "127.0.0.1:5000/slipway:dev", path); err != nil {
		t.Fatalf("WriteOCIArchive() error = %v", err)
	}
	// Unpack it and read it back as an OCI layout.
	dir := t.TempDir()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, hdr.Name)
		if hdr.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(dst, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("reading the layout: %v", err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 {
		t.Fatalf("index has %d manifests, want 1", len(m.Manifests))
	}
	want, _ := img.Digest()
	got := m.Manifests[0]
	if diff := cmp.Diff(map[string]string{
		"org.opencontainers.image.ref.name": "dev",
		"io.containerd.image.name":          "127.0.0.1:5000/slipway:dev",
	}, got.Annotations); diff != "" {
		t.Errorf("annotations (-want +got):\n%s", diff)
	}
	if got.Digest != want {
		t.Errorf("digest %s, want %s", got.Digest, want)
	}
	back, err := idx.Image(want)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := back.Layers(); err != nil {
		t.Errorf("layers of the archived image: %v", err)
	}
}

func TestRun(t *testing.T) {
	layer := writeLayer(t, map[string]string{"bin/sh": "#!"})
	reg := newRegistry(t)
	tests := []struct {
		name    string
		args    []string
		want    string
		wantErr string
	}{{
		name: "push",
		args: []string{"-layer", layer, "-env", "PATH=/bin", "-cmd", "/bin/sh", "-push", reg + "/base/busybox:latest"},
		want: " pushed\n",
	}, {
		name: "push again",
		args: []string{"-layer", layer, "-env", "PATH=/bin", "-cmd", "/bin/sh", "-push", reg + "/base/busybox:latest"},
		want: " up to date\n",
	}, {
		name:    "nothing to do",
		args:    []string{"-layer", layer},
		wantErr: "nothing to do",
	}, {
		name:    "archive without a name",
		args:    []string{"-layer", layer, "-oci-tar", filepath.Join(t.TempDir(), "x.tar")},
		wantErr: "-oci-tar needs -oci-name",
	}, {
		name:    "stray argument",
		args:    []string{"-layer", layer, "-push", reg + "/x:y", "extra"},
		wantErr: "unexpected arguments",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tt.args, &out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("run() error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("run() error = %v", err)
			}
			if !strings.HasSuffix(out.String(), tt.want) {
				t.Errorf("output %q, want it to end with %q", out.String(), tt.want)
			}
		})
	}
}
