//go:build e2e

package e2e

// The signature gate on the real stack (subtests of
// TestPromotionRollingQAToProdApprovalGateAndRollback): an image pushed
// straight to the registry with a provenance statement copied from a real
// build (same builder id, repo and commit, the subject fixed up) passes
// every provenance check but has no signature by Slipway, and is refused;
// the same image signed with Slipway's own key for the real run is
// refused too, because that run's IMAGE_DIGEST is another digest.

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipway-ci/slipway/e2e/framework"
	"github.com/slipway-ci/slipway/pkg/provenance"
	"github.com/slipway-ci/slipway/pkg/provenance/provenancetest"
	"github.com/slipway-ci/slipway/pkg/signing"
)

// pushForgedProvenance pushes to the qa registry a new image whose
// provenance copies the builder id, source and commit of app's digest,
// and returns its digest.
func pushForgedProvenance(ctx context.Context, t *testing.T, app, digest string) string {
	t.Helper()
	st, err := provenance.Fetch(ctx, mustRef(t, framework.Registry+"/qa/"+app+"@"+digest), remote.WithContext(ctx))
	if err != nil {
		t.Fatalf("the provenance of %s: %v", digest, err)
	}
	repo, commit := st.Source()
	idx, err := provenancetest.Index(repo, commit, st.BuilderID())
	if err != nil {
		t.Fatal(err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	dst, err := name.NewDigest(framework.Registry+"/qa/"+app+"@"+d.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(dst, idx, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// signForged signs digest in the qa registry with the server's own key,
// naming run (which built another digest) of repo at sha.
func signForged(ctx context.Context, t *testing.T, s *slipwayStack, app, digest, run, repo, sha string) {
	t.Helper()
	if s.SigningKeyFile == "" {
		t.Fatal("slipway.sh up printed no SLIPWAY_SIGNING_KEY_FILE")
	}
	pw, err := os.ReadFile(s.SigningKeyPasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := signing.LoadSigner(s.SigningKeyFile, []byte(strings.TrimSpace(string(pw))))
	if err != nil {
		t.Fatal(err)
	}
	img, err := name.NewDigest(framework.Registry+"/qa/"+app+"@"+digest, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := signer.Sign(ctx, img, signing.Claims{RunID: run, Repo: repo, Commit: sha}, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
}

// refusedByGate asks to promote app's digest from qa to prod and wants it
// refused with a reason containing reason, and nothing copied to prod.
func refusedByGate(t *testing.T, api *promoAPI, app, digest, reason string) {
	t.Helper()
	code, body := api.do(t, http.MethodPost, "/api/v1/promotions", api.release,
		map[string]string{"app": app, "from": "qa", "to": "prod", "digest": digest})
	var p promotion
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("promotion of %s = %d %s: %v", digest, code, body, err)
	}
	if code != http.StatusUnprocessableEntity || p.State != "refused" || !strings.Contains(p.Reason, reason) {
		t.Fatalf("promotion of %s = %d %s, want 422 refused for %q", digest, code, body, reason)
	}
	t.Logf("refused by the gate: %s", p.Reason)
	if d, err := registryDigest(context.Background(), prodRegistry+"/prod/"+app+"@"+digest); err != nil || d != "" {
		t.Errorf("the refused image reached the prod registry (%q, %v)", d, err)
	}
}
