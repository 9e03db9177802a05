package provenancetest_test

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipway-ci/slipway/pkg/provenance"
	"github.com/slipway-ci/slipway/pkg/provenance/provenancetest"
)

// The kit's index must read back through the real Fetch and pass Verify.
func TestIndexRoundTrip(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/team/app:abc1234")
	if err != nil {
		t.Fatal(err)
	}
	const repo, commit, builder = "https://git.example/team/app.git", "0123456789abcdef0123456789abcdef01234567", "https://slipway.dev/builder/buildkit"
	idx, err := provenancetest.Index(repo, commit, builder)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	st, err := provenance.Fetch(context.Background(), ref)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if err := provenance.Verify(st, provenance.Expectations{Repo: repo, Commit: commit, BuilderID: builder}); err != nil {
		t.Errorf("Verify: %v", err)
	}
}
