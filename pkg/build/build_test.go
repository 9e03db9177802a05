package build

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	digest "github.com/opencontainers/go-digest"
)

// optView is the comparable part of a SolveOpt (LocalMounts hold opaque
// filesystems, so only their names are compared).
type optView struct {
	Frontend     string
	Attrs        map[string]string
	Locals       []string
	Exports      []client.ExportEntry
	CacheImports []client.CacheOptionsEntry
	CacheExports []client.CacheOptionsEntry
}

func viewOf(o client.SolveOpt) optView {
	v := optView{
		Frontend:     o.Frontend,
		Attrs:        o.FrontendAttrs,
		Exports:      o.Exports,
		CacheImports: o.CacheImports,
		CacheExports: o.CacheExports,
	}
	for k := range o.LocalMounts {
		v.Locals = append(v.Locals, k)
	}
	slices.Sort(v.Locals)
	return v
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSolveOpt(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "Dockerfile"), "FROM scratch\n")
	writeFile(t, filepath.Join(dir, ".slipway", "Dockerfile.gen"), "FROM scratch\n")
	created := time.Date(2026, 11, 22, 3, 0, 0, 0, time.FixedZone("CET", 3600))
	base := Request{
		ContextDir: dir,
		Image:      "127.0.0.1:5000/app",
		Tag:        "abc1234",
		SourceURL:  "http://git.local/team/app.git",
		Revision:   "abc1234def5678abc1234def5678abc1234def56",
		Created:    created,
	}
	wantAttrs := func(filename, builder string, extra map[string]string) map[string]string {
		m := map[string]string{
			"filename":                   filename,
			"attest:provenance":          "mode=max,builder-id=" + builder,
			"vcs:source":                 "http://git.local/team/app.git",
			"vcs:revision":               "abc1234def5678abc1234def5678abc1234def56",
			"build-arg:SLIPWAY_SOURCE":   "http://git.local/team/app.git",
			"build-arg:SLIPWAY_REVISION": "abc1234def5678abc1234def5678abc1234def56",
			"build-arg:SLIPWAY_CREATED":  "2026-11-22T02:00:00Z",
			// The labels, for an own Dockerfile too.
			"label:org.opencontainers.image.source":   "http://git.local/team/app.git",
			"label:org.opencontainers.image.revision": "abc1234def5678abc1234def5678abc1234def56",
			"label:org.opencontainers.image.created":  "2026-11-22T02:00:00Z",
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	export := func(ref, insecure string) []client.ExportEntry {
		return []client.ExportEntry{{Type: client.ExporterImage, Attrs: map[string]string{
			"name": ref, "push": "true", "registry.insecure": insecure,
		}}}
	}
	cache := func(ref, insecure string) ([]client.CacheOptionsEntry, []client.CacheOptionsEntry) {
		return []client.CacheOptionsEntry{{Type: "registry", Attrs: map[string]string{"ref": ref, "registry.insecure": insecure}}},
			[]client.CacheOptionsEntry{{Type: "registry", Attrs: map[string]string{"ref": ref, "mode": "max", "registry.insecure": insecure}}}
	}

	tests := []struct {
		name    string
		mutate  func(*Request)
		want    func() optView
		wantRef string
	}{{
		name:    "defaults",
		mutate:  func(*Request) {},
		wantRef: "127.0.0.1:5000/app:abc1234",
		want: func() optView {
			imp, exp := cache("127.0.0.1:5000/app:buildcache", "false")
			return optView{
				Frontend: "dockerfile.v0", Attrs: wantAttrs("Dockerfile", DefaultBuilderID, nil),
				Locals: []string{"context", "dockerfile"}, Exports: export("127.0.0.1:5000/app:abc1234", "false"),
				CacheImports: imp, CacheExports: exp,
			}
		},
	}, {
		name: "generated dockerfile, insecure registry, extra args, own builder and cache",
		mutate: func(r *Request) {
			r.Dockerfile = filepath.Join(dir, ".slipway", "Dockerfile.gen")
			r.Insecure = true
			r.BuildArgs = map[string]string{"GO_VERSION": "1.26"}
			r.BuilderID = "https://ci.example.com/builder"
			r.CacheRef = "127.0.0.1:5000/cache/app:main"
			r.ProvenanceVersion = "v0.2"
			r.Run = "slipway-builds/app-abc1234-d00d"
		},
		wantRef: "127.0.0.1:5000/app:abc1234",
		want: func() optView {
			imp, exp := cache("127.0.0.1:5000/cache/app:main", "true")
			return optView{
				Frontend: "dockerfile.v0",
				Attrs:    wantAttrs("Dockerfile.gen", "https://ci.example.com/builder,version=v0.2", map[string]string{"build-arg:GO_VERSION": "1.26", "label:slipway.dev/run": "slipway-builds/app-abc1234-d00d"}),
				Locals:   []string{"context", "dockerfile"}, Exports: export("127.0.0.1:5000/app:abc1234", "true"),
				CacheImports: imp, CacheExports: exp,
			}
		},
	}, {
		name: "merge request: main's cache read-only, its own written",
		mutate: func(r *Request) {
			r.Image = "127.0.0.1:5000/app/pr"
			r.CacheRef = "127.0.0.1:5000/app/pr:buildcache"
			r.CacheFrom = []string{"127.0.0.1:5000/app:buildcache", "", "127.0.0.1:5000/app/pr:buildcache"}
		},
		wantRef: "127.0.0.1:5000/app/pr:abc1234",
		want: func() optView {
			imp, exp := cache("127.0.0.1:5000/app/pr:buildcache", "false")
			imp = append(imp, client.CacheOptionsEntry{Type: "registry", Attrs: map[string]string{"ref": "127.0.0.1:5000/app:buildcache", "registry.insecure": "false"}})
			return optView{
				Frontend: "dockerfile.v0", Attrs: wantAttrs("Dockerfile", DefaultBuilderID, nil),
				Locals: []string{"context", "dockerfile"}, Exports: export("127.0.0.1:5000/app/pr:abc1234", "false"),
				CacheImports: imp, CacheExports: exp,
			}
		},
	}, {
		name:    "SBOM generator beside the provenance",
		mutate:  func(r *Request) { r.SBOMGenerator = "127.0.0.1:5000/slipway/sbom-generator:v1" },
		wantRef: "127.0.0.1:5000/app:abc1234",
		want: func() optView {
			imp, exp := cache("127.0.0.1:5000/app:buildcache", "false")
			return optView{
				Frontend: "dockerfile.v0",
				Attrs: wantAttrs("Dockerfile", DefaultBuilderID, map[string]string{
					"attest:sbom": "generator=127.0.0.1:5000/slipway/sbom-generator:v1",
				}),
				Locals: []string{"context", "dockerfile"}, Exports: export("127.0.0.1:5000/app:abc1234", "false"),
				CacheImports: imp, CacheExports: exp,
			}
		},
	}, {
		name: "SBOM generator by digest",
		mutate: func(r *Request) {
			r.SBOMGenerator = "registry.corp/slipway/sbom-generator@sha256:" + strings.Repeat("a", 64)
			r.NoCache = true
		},
		wantRef: "127.0.0.1:5000/app:abc1234",
		want: func() optView {
			return optView{
				Frontend: "dockerfile.v0",
				Attrs: wantAttrs("Dockerfile", DefaultBuilderID, map[string]string{
					"attest:sbom": "generator=registry.corp/slipway/sbom-generator@sha256:" + strings.Repeat("a", 64),
				}),
				Locals: []string{"context", "dockerfile"}, Exports: export("127.0.0.1:5000/app:abc1234", "false"),
			}
		},
	}, {
		name:    "no cache",
		mutate:  func(r *Request) { r.NoCache = true },
		wantRef: "127.0.0.1:5000/app:abc1234",
		want: func() optView {
			return optView{
				Frontend: "dockerfile.v0", Attrs: wantAttrs("Dockerfile", DefaultBuilderID, nil),
				Locals: []string{"context", "dockerfile"}, Exports: export("127.0.0.1:5000/app:abc1234", "false"),
			}
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := base
			tc.mutate(&req)
			opt, ref, err := solveOpt(req)
			if err != nil {
				t.Fatalf("solveOpt: %v", err)
			}
			if ref != tc.wantRef {
				t.Errorf("ref = %q, want %q", ref, tc.wantRef)
			}
			if diff := cmp.Diff(tc.want(), viewOf(opt)); diff != "" {
				t.Errorf("solve options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSolveOptRejectsBadRequests(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "Dockerfile"), "FROM scratch\n")
	file := filepath.Join(dir, "Dockerfile")
	good := Request{ContextDir: dir, Image: "registry.local/app", Tag: "abc1234", SourceURL: "https://git/app", Revision: "abc"}
	tests := []struct {
		name   string
		mutate func(*Request)
		want   []string // every one must appear in the error
	}{
		{"empty request", func(r *Request) { *r = Request{} }, []string{
			"context dir is required", "image is required", "tag is required", "source URL is required", "revision is required",
		}},
		{"missing context", func(r *Request) { r.ContextDir = filepath.Join(dir, "nope") }, []string{"context dir:", "no such file"}},
		{"context is a file", func(r *Request) { r.ContextDir = file }, []string{"is not a directory"}},
		{"image with tag", func(r *Request) { r.Image = "registry.local/app:v1" }, []string{`image "registry.local/app:v1" is not a repository`}},
		{"bad tag", func(r *Request) { r.Tag = "no/slash" }, []string{`tag "no/slash"`}},
		{"reserved build arg", func(r *Request) { r.BuildArgs = map[string]string{"SLIPWAY_REVISION": "x"} }, []string{"build arg SLIPWAY_REVISION is reserved"}},
		{"missing dockerfile", func(r *Request) { r.Dockerfile = filepath.Join(dir, "Containerfile") }, []string{"dockerfile:", "Containerfile"}},
		{"unknown provenance version", func(r *Request) { r.ProvenanceVersion = "v2" }, []string{`provenance version "v2": want v1 or v0.2`}},
		{"builder id with a comma", func(r *Request) { r.BuilderID = "https://b,mode=min" }, []string{`builder id "https://b,mode=min" must not contain`}},
		{"SBOM generator with a comma", func(r *Request) { r.SBOMGenerator = "registry.local/gen,scan=x" }, []string{`SBOM generator "registry.local/gen,scan=x" must not contain`}},
		{"SBOM generator not a reference", func(r *Request) { r.SBOMGenerator = "Registry.Local/UPPER:tag" }, []string{`SBOM generator "Registry.Local/UPPER:tag" is not an image reference`}},
		{"dockerfile is a dir", func(r *Request) { r.Dockerfile = dir }, []string{"is a directory"}},
		{"bad cache-from", func(r *Request) { r.CacheFrom = []string{"Not A Ref"} }, []string{`cache ref "Not A Ref"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := good
			tc.mutate(&req)
			_, _, err := solveOpt(req)
			if err == nil {
				t.Fatal("solveOpt succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// fakeSolver behaves like a daemon at the API: it sends statuses, closes the
// channel when done and answers with an exporter response or an error.
type fakeSolver struct {
	statuses []*client.SolveStatus
	resp     map[string]string
	err      error
	got      client.SolveOpt
}

func (f *fakeSolver) Solve(_ context.Context, _ *llb.Definition, opt client.SolveOpt, ch chan *client.SolveStatus) (*client.SolveResponse, error) {
	defer close(ch)
	f.got = opt
	for _, s := range f.statuses {
		ch <- s
	}
	if f.err != nil {
		return nil, f.err
	}
	return &client.SolveResponse{ExporterResponse: f.resp}, nil
}

func TestBuild(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "Dockerfile"), "FROM scratch\n")
	req := Request{ContextDir: dir, Image: "registry.local/app", Tag: "abc1234", SourceURL: "https://git/app", Revision: "abc"}
	dgst := digest.FromString("index")
	vtx := digest.FromString("vertex")
	now := time.Now()
	statuses := []*client.SolveStatus{{
		Vertexes: []*client.Vertex{{Digest: vtx, Name: "[2/2] RUN go test ./...", Started: &now}},
		Logs:     []*client.VertexLog{{Vertex: vtx, Stream: 2, Data: []byte("main.go:3:1: syntax error\n"), Timestamp: now}},
	}, {
		Vertexes: []*client.Vertex{{Digest: vtx, Name: "[2/2] RUN go test ./...", Started: &now, Completed: &now, Error: "exit code: 1"}},
	}}
	solveErr := errors.New(`process "/bin/sh -c go test ./..." did not complete successfully: exit code: 1`)

	tests := []struct {
		name         string
		solver       *fakeSolver
		want         *Result
		wantErr      string
		wantProgress []string
	}{{
		name:         "pushed",
		solver:       &fakeSolver{statuses: statuses[:1], resp: map[string]string{"containerimage.digest": dgst.String()}},
		want:         &Result{ImageURL: "registry.local/app:abc1234", Digest: dgst.String()},
		wantProgress: []string{"RUN go test ./...", "main.go:3:1: syntax error"},
	}, {
		name:         "build fails with the tool's message",
		solver:       &fakeSolver{statuses: statuses, err: solveErr},
		wantErr:      `building registry.local/app:abc1234: process "/bin/sh -c go test ./..." did not complete successfully`,
		wantProgress: []string{"main.go:3:1: syntax error", "ERROR"},
	}, {
		name:    "no digest from the daemon",
		solver:  &fakeSolver{resp: map[string]string{}},
		wantErr: "buildkit returned no valid image digest",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var progress bytes.Buffer
			b := newBuilder(tc.solver, WithProgress(&progress), WithSession())
			got, err := b.Build(context.Background(), req)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Build error = %v, want it to contain %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			for _, w := range tc.wantProgress {
				if !strings.Contains(progress.String(), w) {
					t.Errorf("progress does not contain %q:\n%s", w, progress.String())
				}
			}
			if tc.solver.got.Frontend != "dockerfile.v0" {
				t.Errorf("solver got frontend %q, want dockerfile.v0", tc.solver.got.Frontend)
			}
		})
	}
}

func TestNewRejectsEmptyAddress(t *testing.T) {
	if _, _, err := New(context.Background(), ""); err == nil {
		t.Fatal("New with empty address succeeded")
	}
}
