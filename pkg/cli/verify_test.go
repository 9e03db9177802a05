package cli

import (
	"context"
	"crypto/elliptic"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/slipway-ci/slipway/pkg/provenance/provenancetest"
	"github.com/slipway-ci/slipway/pkg/sbom/sbomtest"
	"github.com/slipway-ci/slipway/pkg/signing"
)

func TestVerifyCmd(t *testing.T) {
	const (
		cloneURL = "https://git.example/acme/shop.git"
		commit   = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		builder  = "https://ci.example.com/builder"
	)
	ctx := context.Background()
	dir := t.TempDir()
	keyPair := func(prefix string) (*signing.Signer, string) {
		priv, pub, err := cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), cryptoutils.StaticPasswordFunc([]byte("pw")))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, prefix+".pub")
		if err := os.WriteFile(p, pub, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := signing.ParseSigner(priv, []byte("pw"))
		if err != nil {
			t.Fatal(err)
		}
		return s, p
	}
	slipway, slipwayPub := keyPair("slipway")
	_, otherPub := keyPair("other")
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	must := func(idx v1.ImageIndex, err error) v1.ImageIndex {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return idx
	}
	push := func(tag string, idx v1.ImageIndex, claims *signing.Claims) string {
		t.Helper()
		ref, _ := name.NewTag(host + "/acme/shop:" + tag)
		if err := remote.WriteIndex(ref, idx); err != nil {
			t.Fatal(err)
		}
		if claims != nil {
			d, _ := idx.Digest()
			if err := slipway.Sign(ctx, ref.Context().Digest(d.String()), *claims); err != nil {
				t.Fatal(err)
			}
		}
		return ref.String()
	}
	good := &signing.Claims{RunID: "slipway-builds/shop-1", Repo: "acme/shop", Commit: commit}
	signed := push("signed", must(provenancetest.Index(cloneURL, commit, builder)), good)
	unsigned := push("unsigned", must(provenancetest.Index(cloneURL, commit, builder)), nil)
	otherCommit := push("other-commit", must(provenancetest.Index(cloneURL, strings.Repeat("b", 40), builder)), good)
	sbomOnly := push("sbom", must(sbomtest.Index(vulnDep)), good)
	cleanSBOM := push("clean", must(sbomtest.Index(fixedDep)), good)
	feed := "../advisory/testdata/feed"

	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string // lines the output contains
	}{
		{name: "signed, provenance of the signed commit", args: []string{signed, "--key", slipwayPub, "--builder", builder},
			want: []string{"signature:   OK    key slipway.pub", "run slipway-builds/shop-1, acme/shop@" + commit, "provenance:  OK    " + cloneURL + "@" + commit, "verify OK"}},
		{name: "rotation: any of the keys", args: []string{signed, "--key", otherPub + "," + slipwayPub}, want: []string{"signature:   OK    key slipway.pub"}},
		{name: "unsigned", args: []string{unsigned, "--key", slipwayPub}, wantCode: 1,
			want: []string{"signature:   FAIL  no signature: ", "provenance:  OK"}},
		{name: "another key", args: []string{signed, "--key", otherPub}, wantCode: 1,
			want: []string{"signature:   FAIL  no signature by a trusted key: 1 signature(s)"}},
		{name: "provenance of another commit", args: []string{otherCommit, "--key", slipwayPub}, wantCode: 1,
			want: []string{"signature:   OK", "provenance:  FAIL  commit: want " + commit + ", got bbbb"}},
		{name: "wrong builder", args: []string{signed, "--key", slipwayPub, "--builder", "urn:other"}, wantCode: 1,
			want: []string{"provenance:  FAIL  builder id: want urn:other"}},
		{name: "policy violation, no provenance", args: []string{sbomOnly, "--key", slipwayPub, "--advisories", feed}, wantCode: 1,
			want: []string{"signature:   OK", "provenance:  FAIL", "policy:      FAIL  1 violation(s) in 1 packages:", "example.com/slipway-vuln", "SLIPWAY-2026-0001", "1.2.0"}},
		{name: "clean policy", args: []string{cleanSBOM, "--key", slipwayPub, "--advisories", feed}, wantCode: 1,
			want: []string{"policy:      OK    1 packages"}},
		{name: "no SBOM", args: []string{signed, "--key", slipwayPub, "--advisories", feed}, wantCode: 1,
			want: []string{"provenance:  OK", "policy:      FAIL"}},
		{name: "unreadable key", args: []string{signed, "--key", filepath.Join(dir, "none.pub")}, wantCode: 2},
		{name: "no key", args: []string{signed}, wantCode: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code, err := runCmd(t, NewVerifyCmd(), tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit code %d (%v), want %d; output:\n%s", code, err, tt.wantCode, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
