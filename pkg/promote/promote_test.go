package promote

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipway-ci/slipway/pkg/provenance"
	"github.com/slipway-ci/slipway/pkg/provenance/provenancetest"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
)

const (
	builder  = "https://slipway.example/builder"
	cloneURL = "https://git.example/acme/shop.git"
	repoPath = "acme/shop"
	commit   = "0123456789abcdef0123456789abcdef01234567"
)

func newRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New())
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// pushIndex pushes a BuildKit-shaped index and returns its digest reference.
func pushIndex(t *testing.T, repo, cloneURL, commit, builderID string) name.Digest {
	t.Helper()
	idx, err := provenancetest.Index(cloneURL, commit, builderID)
	if err != nil {
		t.Fatal(err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewDigest(repo + "@" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	return ref
}

// runs is a store.Runs stand-in holding run records.
type runs struct {
	runs []run.Run
	err  error
}

func (r *runs) ListRuns(_ context.Context, f store.RunFilter) ([]run.Run, error) {
	var out []run.Run
	for _, run := range r.runs {
		if (f.Repo == "" || run.Repo == f.Repo) && (f.State == "" || run.State == f.State) {
			out = append(out, run)
		}
	}
	return out, r.err
}

func TestGate(t *testing.T) {
	reg := newRegistry(t)
	good := []run.Run{
		{ID: "ci/1", Repo: repoPath, SHA: commit, State: run.Succeeded},
		{ID: "ci/2", Repo: repoPath, SHA: "ffffffffffffffffffffffffffffffffffffffff", State: run.Failed},
	}
	plain, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	pd, _ := plain.Digest()
	plainRef, _ := name.NewDigest(reg + "/plain@" + pd.String())
	if err := remote.Write(plainRef, plain); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		image      name.Digest
		runs       *runs
		wantReason string // "" = allowed
		wantErr    string // not a refusal
	}{
		{name: "allowed", image: pushIndex(t, reg+"/ok", cloneURL, commit, builder), runs: &runs{runs: good}},
		{name: "other builder", image: pushIndex(t, reg+"/other", cloneURL, commit, "https://evil.example/builder"), runs: &runs{runs: good},
			wantReason: "was not built by this Slipway from " + cloneURL + `: provenance does not match: builder id: want "` + builder + `", got "https://evil.example/builder"`},
		{name: "other repo", image: pushIndex(t, reg+"/fork", "https://git.example/mallory/shop.git", commit, builder), runs: &runs{runs: good},
			wantReason: `source repo: want "` + cloneURL + `", got "https://git.example/mallory/shop.git"`},
		{name: "commit without CI run", image: pushIndex(t, reg+"/norun", cloneURL, commit, builder), runs: &runs{},
			wantReason: "commit " + commit + " of acme/shop has no successful CI run in Slipway"},
		{name: "commit whose CI failed", image: pushIndex(t, reg+"/failed", cloneURL, "ffffffffffffffffffffffffffffffffffffffff", builder), runs: &runs{runs: good},
			wantReason: "commit ffffffffffffffffffffffffffffffffffffffff of acme/shop has no successful CI run in Slipway"},
		{name: "image pushed without provenance", image: plainRef, runs: &runs{runs: good},
			wantReason: "no readable SLSA provenance for " + plainRef.String()},
		{name: "store down", image: pushIndex(t, reg+"/down", cloneURL, commit, builder), runs: &runs{err: errors.New("disk on fire")},
			wantErr: "looking up CI runs of acme/shop@" + commit + ": listing successful runs of acme/shop: disk on fire"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &Gate{BuilderID: builder, Runs: StoreRuns{Runs: tt.runs}}
			st, err := g.Check(context.Background(), tt.image, Source{Repo: repoPath, CloneURL: cloneURL})
			var refused *RefusedError
			switch {
			case tt.wantErr != "":
				if err == nil || errors.As(err, &refused) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Check = %v, want a non-refusal error containing %q", err, tt.wantErr)
				}
			case tt.wantReason != "":
				if !errors.As(err, &refused) || !strings.Contains(err.Error(), tt.wantReason) {
					t.Fatalf("Check = %v, want a refusal containing %q", err, tt.wantReason)
				}
			default:
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				if _, rev := st.Source(); rev != commit {
					t.Errorf("statement commit = %s, want %s", rev, commit)
				}
			}
		})
	}
}

func TestGateNeedsConfiguration(t *testing.T) {
	ref, _ := name.NewDigest("registry.test/app@sha256:" + strings.Repeat("a", 64))
	tests := []struct {
		name string
		gate *Gate
		src  Source
	}{
		{"no builder", &Gate{Runs: StoreRuns{Runs: &runs{}}}, Source{Repo: repoPath, CloneURL: cloneURL}},
		{"no runs", &Gate{BuilderID: builder}, Source{Repo: repoPath, CloneURL: cloneURL}},
		{"no clone url", &Gate{BuilderID: builder, Runs: StoreRuns{Runs: &runs{}}}, Source{Repo: repoPath}},
	}
	for _, tt := range tests {
		if _, err := tt.gate.Check(context.Background(), ref, tt.src); err == nil {
			t.Errorf("%s: Check succeeded, want an error", tt.name)
		}
	}
}

// manifests lists the digests of src's index and its children.
func manifests(t *testing.T, ref name.Reference) []string {
	t.Helper()
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	out := []string{d.String()}
	for _, m := range im.Manifests {
		out = append(out, m.Digest.String())
		if _, err := remote.Head(ref.Context().Digest(m.Digest.String())); err != nil {
			t.Errorf("child manifest %s missing in %s: %v", m.Digest, ref.Context(), err)
		}
	}
	return out
}

func TestCopyIndexByDigest(t *testing.T) {
	qa, prod := newRegistry(t), newRegistry(t)
	src := pushIndex(t, qa+"/shop", cloneURL, commit, builder)
	target, err := name.NewRepository(prod + "/apps/shop")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Copy(context.Background(), src, target, CopyOptions{Tag: "0123456"})
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if got.DigestStr() != src.DigestStr() || got.Context().String() != target.String() {
		t.Errorf("Copy = %s, want %s@%s", got, target, src.DigestStr())
	}
	if diff := cmp.Diff(manifests(t, src), manifests(t, got)); diff != "" {
		t.Errorf("manifests (-want +got):\n%s", diff)
	}
	// The attestation travelled too: the gate passes on the target side.
	st, err := provenance.Fetch(context.Background(), got)
	if err != nil {
		t.Fatalf("provenance on the target: %v", err)
	}
	if err := provenance.Verify(st, provenance.Expectations{Repo: cloneURL, Commit: commit, BuilderID: builder}); err != nil {
		t.Errorf("provenance on the target: %v", err)
	}
	tagged, err := remote.Head(target.Tag("0123456"))
	if err != nil || tagged.Digest.String() != src.DigestStr() {
		t.Errorf("tag 0123456 = %v, %v; want %s", tagged, err, src.DigestStr())
	}
}

func TestCopyImageByDigest(t *testing.T) {
	qa, prod := newRegistry(t), newRegistry(t)
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	src, _ := name.NewDigest(qa + "/shop@" + d.String())
	if err := remote.Write(src, img); err != nil {
		t.Fatal(err)
	}
	target, _ := name.NewRepository(prod + "/shop")
	got, err := Copy(context.Background(), src, target, CopyOptions{})
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	copied, err := remote.Image(got)
	if err != nil {
		t.Fatal(err)
	}
	cd, _ := copied.Digest()
	if cd != d {
		t.Errorf("copied digest = %s, want %s", cd, d)
	}
}

func TestCopyMissingSource(t *testing.T) {
	qa, prod := newRegistry(t), newRegistry(t)
	src, _ := name.NewDigest(qa + "/shop@" + v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}.String())
	target, _ := name.NewRepository(prod + "/shop")
	if _, err := Copy(context.Background(), src, target, CopyOptions{}); err == nil || !strings.Contains(err.Error(), "reading "+src.String()) {
		t.Fatalf("Copy = %v, want a read error naming the source", err)
	}
}

// A registry that answers 503 to the first write of each manifest (a
// restart, a proxy in front of it) does not fail the promotion: the copy
// retries transient answers (go-containerregistry's default retry: 408,
// 429, 5xx and dropped connections, three tries with backoff).
func TestCopyRetriesTransientRegistryErrors(t *testing.T) {
	qa := newRegistry(t)
	var mu sync.Mutex
	failed := map[string]bool{}
	reg := registry.New()
	prodSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
			mu.Lock()
			first := !failed[r.URL.Path]
			failed[r.URL.Path] = true
			mu.Unlock()
			if first {
				_, _ = io.Copy(io.Discard, r.Body)
				http.Error(w, "registry restarting", http.StatusServiceUnavailable)
				return
			}
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(prodSrv.Close)
	prod := strings.TrimPrefix(prodSrv.URL, "http://")

	src := pushIndex(t, qa+"/shop", cloneURL, commit, builder)
	target, err := name.NewRepository(prod + "/apps/shop")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Copy(context.Background(), src, target, CopyOptions{})
	if err != nil {
		t.Fatalf("Copy through a registry failing each manifest's first write: %v", err)
	}
	if diff := cmp.Diff(manifests(t, src), manifests(t, got)); diff != "" {
		t.Errorf("manifests (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(failed) == 0 {
		t.Fatal("no manifest write was refused: the test did not exercise a retry")
	}
}
