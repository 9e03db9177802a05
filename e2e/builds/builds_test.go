package builds

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type entry struct {
	name, body, link string
	typ              byte
	mode             int64
}

func layer(t *testing.T, entries ...entry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, Size: int64(len(e.body))}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func testImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image,
		layer(t,
			entry{name: "etc/", typ: tar.TypeDir, mode: 0o755},
			entry{name: "etc/passwd", typ: tar.TypeReg, mode: 0o644, body: "root:x:0:0::/root:/bin/sh\nnonroot:x:65532:65533::/home:/bin/sh\n"},
			entry{name: "etc/group", typ: tar.TypeReg, mode: 0o644, body: "root:x:0:\nstaff:x:50:\n"},
			entry{name: "app", typ: tar.TypeReg, mode: 0o755, body: "old binary"},
			entry{name: "gone.txt", typ: tar.TypeReg, mode: 0o644, body: "deleted by the next layer"},
		),
		layer(t,
			entry{name: "app", typ: tar.TypeReg, mode: 0o755, body: "new binary!"},
			entry{name: ".wh.gone.txt", typ: tar.TypeReg, mode: 0o644},
			entry{name: ".slipway/", typ: tar.TypeDir, mode: 0o755},
			entry{name: ".slipway/Dockerfile", typ: tar.TypeReg, mode: 0o644, body: "FROM scratch\n"},
			entry{name: "bin/", typ: tar.TypeDir, mode: 0o755},
			entry{name: "bin/app", typ: tar.TypeSymlink, link: "/app"},
			entry{name: "bin/app2", typ: tar.TypeLink, link: "app"},
		),
	)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestReadFileAndFileSize(t *testing.T) {
	img := testImage(t)
	got, err := ReadFile(img, "/.slipway/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("FROM scratch\n", string(got)); diff != "" {
		t.Errorf("ReadFile (-want +got):\n%s", diff)
	}
	size, err := FileSize(img, "/app")
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(len("new binary!")) {
		t.Errorf("FileSize(/app) = %d, want the upper layer's %d", size, len("new binary!"))
	}
	for _, p := range []string{"/gone.txt", "/nope"} {
		if _, err := ReadFile(img, p); !errors.Is(err, ErrNotFound) {
			t.Errorf("ReadFile(%s) = %v, want ErrNotFound", p, err)
		}
	}
	if _, err := ReadFile(img, "/bin/app"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("ReadFile of a symlink = %v, want a not-a-regular-file error", err)
	}
}

func TestImageSize(t *testing.T) {
	s, err := ImageSize(testImage(t))
	if err != nil {
		t.Fatal(err)
	}
	if s.Layers != 2 || s.Compressed <= 0 || s.Uncompressed < 10*512 {
		t.Errorf("ImageSize = %+v, want 2 layers, compressed > 0 and at least the 10 tar headers uncompressed", s)
	}
}

func TestUnpack(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("Unpack chowns to the image's owners: needs root")
	}
	dir := t.TempDir()
	if err := Unpack(testImage(t), dir); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "bin", "app2"))
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "new binary!" {
		t.Errorf("hard link content = %q, want the upper layer's binary", data)
	}
	if link, err := os.Readlink(filepath.Join(dir, "bin", "app")); err != nil || link != "/app" {
		t.Errorf("symlink = %q, %v; want /app", link, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "app")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("/app mode = %v, %v; want 0755", fi, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "gone.txt")); !os.IsNotExist(err) {
		t.Errorf("whited-out file exists after Unpack: %v", err)
	}
}

func TestResolveUser(t *testing.T) {
	rootfs := t.TempDir()
	if err := os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for f, body := range map[string]string{
		"passwd": "root:x:0:0::/root:/bin/sh\nnonroot:x:65532:65533::/home:/bin/sh\n",
		"group":  "root:x:0:\nstaff:x:50:\n",
	} {
		if err := os.WriteFile(filepath.Join(rootfs, "etc", f), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		user     string
		uid, gid int
		wantErr  string
	}{
		{user: "", uid: 0, gid: 0},
		{user: "65532:65532", uid: 65532, gid: 65532},
		{user: "1000", uid: 1000, gid: 1000},
		{user: "nonroot", uid: 65532, gid: 65533},
		{user: "nonroot:staff", uid: 65532, gid: 50},
		{user: "ghost", wantErr: `user "ghost": not in`},
		{user: "1000:nogroup", wantErr: `group "1000:nogroup": not in`},
	} {
		t.Run(tc.user, func(t *testing.T) {
			uid, gid, err := ResolveUser(rootfs, tc.user)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ResolveUser(%q) = %v, want an error containing %q", tc.user, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([2]int{tc.uid, tc.gid}, [2]int{uid, gid}); diff != "" {
				t.Errorf("ResolveUser(%q) (-want +got):\n%s", tc.user, diff)
			}
		})
	}
}

func TestProcessFromImage(t *testing.T) {
	cf := &v1.ConfigFile{Config: v1.Config{
		Entrypoint: []string{"/app"}, Cmd: []string{"--port", "8080"},
		Env: []string{"PATH=/bin"}, User: "65532:65532", WorkingDir: "/srv",
	}}
	got, err := ProcessFromImage(cf)
	if err != nil {
		t.Fatal(err)
	}
	want := Process{Args: []string{"/app", "--port", "8080"}, Env: []string{"PATH=/bin"}, User: "65532:65532", Cwd: "/srv"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ProcessFromImage (-want +got):\n%s", diff)
	}
	if _, err := ProcessFromImage(&v1.ConfigFile{}); err == nil {
		t.Error("ProcessFromImage of an image without Entrypoint and Cmd succeeded")
	}
}
