//go:build integration

// Integration tests against a real buildkitd and registry, started by
// `make integration-build` (e2e/stack/registry.sh + e2e/stack/buildkit.sh),
// which export SLIPWAY_REGISTRY and BUILDKIT_HOST.
package build_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/slipway-ci/slipway/pkg/build"
	"github.com/slipway-ci/slipway/pkg/provenance"
)

var updateTestdata = flag.Bool("update-testdata", false, "save the real provenance statement under pkg/provenance/testdata")

const (
	sourceURL = "http://git.slipway.local/team/hello.git"
	commit    = "3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"
)

type env struct {
	registry string
	buildkit string
}

func setup(t testing.TB) env {
	t.Helper()
	e := env{registry: os.Getenv("SLIPWAY_REGISTRY"), buildkit: os.Getenv("BUILDKIT_HOST")}
	if e.registry == "" || e.buildkit == "" {
		t.Fatal("SLIPWAY_REGISTRY and BUILDKIT_HOST must be set; run `make integration-build`")
	}
	return e
}

// pushBusybox makes a base image from Debian's busybox-static (no pull from
// the internet) and pushes it as <registry>/test/busybox:latest (not base/busybox,
// which e2e/stack/images.sh owns and the static template serves with).
func pushBusybox(t testing.TB, registry string) string {
	t.Helper()
	bin, err := os.ReadFile("/usr/bin/busybox")
	if err != nil {
		bin, err = os.ReadFile("/bin/busybox")
	}
	if err != nil {
		t.Fatalf("busybox-static is needed (apt-get install busybox-static): %v", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header, data []byte) {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"bin", "etc", "tmp", "root"} {
		add(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	}
	add(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bin))}, bin)
	for _, applet := range []string{"sh", "echo", "cat", "ls", "false", "true", "mkdir", "rm", "env", "uname"} {
		add(&tar.Header{Name: "bin/" + applet, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}, nil)
	}
	passwd := []byte("root:x:0:0:root:/root:/bin/sh\n")
	add(&tar.Header{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(passwd))}, passwd)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(buf.Bytes())), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cf.Config.Cmd = []string{"/bin/sh"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	ref := registry + "/test/busybox:latest"
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatalf("pushing base image: %v", err)
	}
	return ref
}

func randomName(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func writeContext(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, data := range files {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// buildTimeout bounds one build here: a build of these few-line Dockerfiles
// takes about a second, and a stuck push should fail its test with the
// progress so far rather than hang the package until go test's timeout.
const buildTimeout = 3 * time.Minute

func buildContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	t.Cleanup(cancel)
	return ctx
}

func newBuilder(t testing.TB, e env, progress io.Writer) *build.Builder {
	t.Helper()
	b, closer, err := build.New(context.Background(), e.buildkit, build.WithProgress(progress))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closer.Close() })
	return b
}

func TestBuildPushAndVerifyProvenance(t *testing.T) {
	e := setup(t)
	base := pushBusybox(t, e.registry)
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM " + base + `
ARG SLIPWAY_SOURCE
ARG SLIPWAY_REVISION
ARG SLIPWAY_CREATED
LABEL org.opencontainers.image.source=$SLIPWAY_SOURCE \
      org.opencontainers.image.revision=$SLIPWAY_REVISION \
      org.opencontainers.image.created=$SLIPWAY_CREATED
RUN echo "built from $SLIPWAY_REVISION" > /built.txt
COPY app.txt /app.txt
CMD ["cat", "/built.txt", "/app.txt"]
`,
		"app.txt": "hello from slipway\n",
	})
	for _, tc := range []struct{ version, predicate string }{
		{"", provenance.PredicateSLSA1}, // the daemon's default
		{"v0.2", provenance.PredicateSLSA02},
	} {
		t.Run("slsa-"+strings.TrimPrefix(tc.predicate, "https://slsa.dev/provenance/"), func(t *testing.T) {
			image := e.registry + "/it/hello-" + randomName(t)
			var progress bytes.Buffer
			res, err := newBuilder(t, e, &progress).Build(buildContext(t), build.Request{
				ContextDir: dir, Image: image, Tag: "3f2a9c1", SourceURL: sourceURL, Revision: commit, Insecure: true,
				ProvenanceVersion: tc.version,
			})
			if err != nil {
				t.Fatalf("Build: %v\n%s", err, progress.String())
			}
			if want := image + ":3f2a9c1"; res.ImageURL != want {
				t.Errorf("ImageURL = %q, want %q", res.ImageURL, want)
			}

			tag, err := name.NewTag(res.ImageURL, name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			desc, err := remote.Head(tag)
			if err != nil {
				t.Fatalf("pushed image not in the registry: %v", err)
			}
			if desc.Digest.String() != res.Digest {
				t.Errorf("registry has %s at %s, Build returned %s", desc.Digest, res.ImageURL, res.Digest)
			}
			if _, err := remote.Head(tag.Context().Tag("buildcache")); err != nil {
				t.Errorf("registry cache was not exported: %v", err)
			}

			// The image carries the OCI labels from the SLIPWAY_* build args.
			img, err := remote.Image(tag)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range map[string]string{
				"org.opencontainers.image.source":   sourceURL,
				"org.opencontainers.image.revision": commit,
			} {
				if got := cf.Config.Labels[k]; got != want {
					t.Errorf("label %s = %q, want %q", k, got, want)
				}
			}

			byDigest := tag.Context().Digest(res.Digest)
			st, err := provenance.Fetch(context.Background(), byDigest)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if st.PredicateType != tc.predicate {
				t.Errorf("predicate type = %q, want %q", st.PredicateType, tc.predicate)
			}
			if err := provenance.Verify(st, provenance.Expectations{Repo: sourceURL, Commit: commit, BuilderID: build.DefaultBuilderID}); err != nil {
				t.Errorf("Verify with the right repo and commit: %v", err)
			}
			err = provenance.Verify(st, provenance.Expectations{
				Repo: "http://git.slipway.local/team/other.git", Commit: strings.Repeat("0", 40), BuilderID: "https://evil.example/builder",
			})
			var me *provenance.MismatchError
			if !errors.As(err, &me) {
				t.Fatalf("Verify with a wrong repo/commit/builder = %v, want a *MismatchError", err)
			}
			wantMismatches := []provenance.Mismatch{
				{Field: "source repo", Want: "http://git.slipway.local/team/other.git", Got: sourceURL},
				{Field: "commit", Want: strings.Repeat("0", 40), Got: commit},
				{Field: "builder id", Want: "https://evil.example/builder", Got: build.DefaultBuilderID},
			}
			if diff := cmp.Diff(wantMismatches, me.Mismatches); diff != "" {
				t.Errorf("mismatches (-want +got):\n%s", diff)
			}

			if *updateTestdata {
				saveStatement(t, byDigest)
			}
		})
	}
}

// saveStatement writes the raw in-toto statement BuildKit produced, the
// fixture the pkg/provenance unit tests decode.
func saveStatement(t *testing.T, ref name.Digest) {
	t.Helper()
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range im.Manifests {
		if d.Annotations["vnd.docker.reference.type"] != "attestation-manifest" {
			continue
		}
		att, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		m, err := att.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range m.Layers {
			pt := l.Annotations["in-toto.io/predicate-type"]
			if !strings.HasPrefix(pt, "https://slsa.dev/provenance/") {
				continue
			}
			data := readBlob(t, att, l.Digest)
			out := filepath.Join("..", "provenance", "testdata", "buildkit-provenance-"+strings.TrimPrefix(pt, "https://slsa.dev/provenance/")+".json")
			if err := os.WriteFile(out, data, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s (%d bytes)", out, len(data))
		}
	}
}

func readBlob(t *testing.T, img v1.Image, d v1.Hash) []byte {
	t.Helper()
	l, err := img.LayerByDigest(d)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestBuildFailsWithTheCommandsOwnMessage(t *testing.T) {
	e := setup(t)
	base := pushBusybox(t, e.registry)
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM " + base + "\nRUN echo 'main.go:7:2: undefined: fooBar' >&2 && exit 3\n",
	})
	var progress bytes.Buffer
	_, err := newBuilder(t, e, &progress).Build(buildContext(t), build.Request{
		ContextDir: dir, Image: e.registry + "/it/broken-" + randomName(t), Tag: "v1",
		SourceURL: sourceURL, Revision: commit, Insecure: true, NoCache: true,
	})
	if err == nil {
		t.Fatalf("Build of a failing RUN succeeded\n%s", progress.String())
	}
	if !strings.Contains(err.Error(), "exit code: 3") {
		t.Errorf("error %q does not carry the command's exit code", err)
	}
	if !strings.Contains(progress.String(), "main.go:7:2: undefined: fooBar") {
		t.Errorf("build log does not show the command's own message:\n%s", progress.String())
	}
}

// BenchmarkBuildPush measures one pipeline build on a warm daemon: the
// whole solve, push of the image index with its provenance, and the cache
// export. "unchanged" is a rebuild of the same commit (all layers cached);
// "changed-source" changes the copied source each time (RUN stays cached,
// COPY and everything after it are rebuilt).
func BenchmarkBuildPush(b *testing.B) {
	e := setup(b)
	base := pushBusybox(b, e.registry)
	for _, changed := range []bool{false, true} {
		name := "unchanged"
		if changed {
			name = "changed-source"
		}
		b.Run(name, func(b *testing.B) {
			dir := writeContext(b, map[string]string{
				"Dockerfile": "FROM " + base + "\nRUN echo deps > /deps.txt\nCOPY app.txt /app.txt\n",
				"app.txt":    "v0\n",
			})
			bld := newBuilder(b, e, io.Discard)
			req := build.Request{
				ContextDir: dir, Image: e.registry + "/bench/app-" + randomName(b), Tag: "v1",
				SourceURL: sourceURL, Revision: commit, Insecure: true,
			}
			// Warm the daemon and the registry cache outside the timing.
			if _, err := bld.Build(context.Background(), req); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := range b.N {
				if changed {
					b.StopTimer()
					if err := os.WriteFile(filepath.Join(dir, "app.txt"), []byte(randomName(b)+"\n"), 0o644); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				if _, err := bld.Build(context.Background(), req); err != nil {
					b.Fatalf("build %d: %v", i, err)
				}
			}
		})
	}
}

// The TCP listener the build steps use takes only clients with a
// certificate of the stack's buildkitd CA (e2e/stack/buildkit.sh runs it
// as deploy/buildkitd does): a build with the client certificate pushes,
// one without TLS is refused before anything is built.
func TestBuildOverMutualTLS(t *testing.T) {
	e := setup(t)
	tcp, dir := os.Getenv("SLIPWAY_BUILDKIT_TCP"), os.Getenv("BUILDKIT_TLS_DIR")
	if tcp == "" || dir == "" {
		t.Fatal("SLIPWAY_BUILDKIT_TCP and BUILDKIT_TLS_DIR must be set (e2e/stack/buildkit.sh up prints them); run `make integration-build`")
	}
	base := pushBusybox(t, e.registry)
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM " + base + "\nRUN echo tls > /tls.txt\n"})
	req := build.Request{ContextDir: ctxDir, Image: e.registry + "/it/tls-" + randomName(t), Tag: "v1",
		SourceURL: sourceURL, Revision: commit, Insecure: true, NoCache: true}

	tlsCfg, err := build.TLSFromDir(dir, tcp)
	if err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	b, closer, err := build.New(context.Background(), tcp, build.WithTLS(tlsCfg), build.WithProgress(&progress))
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	if _, err := b.Build(buildContext(t), req); err != nil {
		t.Fatalf("Build with the client certificate: %v\n%s", err, progress.String())
	}

	plain, closer2, err := build.New(context.Background(), tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer closer2.Close()
	req.Image += "-plain"
	if _, err := plain.Build(buildContext(t), req); err == nil {
		t.Fatal("Build over TCP without a client certificate succeeded: the daemon takes any client")
	}
}
