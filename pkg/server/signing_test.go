package server

import (
	"context"
	"crypto/elliptic"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/slipway-ci/slipway/pkg/config"
	"github.com/slipway-ci/slipway/pkg/promote"
	"github.com/slipway-ci/slipway/pkg/provenance/provenancetest"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/signing"
	"github.com/slipway-ci/slipway/pkg/store"
)

func (f fakeRuns) GetRun(_ context.Context, id string) (*run.Run, error) {
	for _, r := range f {
		if r.ID == id {
			return &r, nil
		}
	}
	return nil, store.ErrNotFound
}

// cosignKeyPair writes a key pair in cosign's format (what `cosign
// generate-key-pair` writes) and returns the two paths.
func cosignKeyPair(t *testing.T, dir, prefix, password string) (priv, pub string) {
	t.Helper()
	privPEM, pubPEM, err := cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), cryptoutils.StaticPasswordFunc([]byte(password)))
	if err != nil {
		t.Fatal(err)
	}
	priv, pub = filepath.Join(dir, prefix+".key"), filepath.Join(dir, prefix+".pub")
	if err := os.WriteFile(priv, privPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, pubPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

// The server signs a succeeded run's image after the run's other
// finishing work, and the gate it builds lets that image through; a
// failed run's image stays unsigned and is refused.
func TestSignedRunPassesTheGate(t *testing.T) {
	const (
		cloneURL = "https://git.example/acme/shop.git"
		commit   = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	)
	ctx := context.Background()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	priv, _ := cosignKeyPair(t, t.TempDir(), "cosign", "pw")
	cfg := &config.Config{PublicURL: "https://ci.example.com", SigningKeyFile: priv, SigningKeyPassword: config.NewSecret("pw")}
	s, err := signer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := verifyKeys(cfg)
	if err != nil {
		t.Fatal(err)
	}

	push := func(repo string) name.Digest {
		t.Helper()
		idx, err := provenancetest.Index(cloneURL, commit, cfg.Builder())
		if err != nil {
			t.Fatal(err)
		}
		d, _ := idx.Digest()
		ref, _ := name.NewDigest(host + "/" + repo + "@" + d.String())
		if err := remote.WriteIndex(ref, idx); err != nil {
			t.Fatal(err)
		}
		return ref
	}
	good, bad := push("acme/shop"), push("acme/shop")
	runs := fakeRuns{
		{ID: "ci/good", Repo: "acme/shop", SHA: commit, State: run.Succeeded, ImageURL: host + "/acme/shop:aaaaaaaa", ImageDigest: good.DigestStr()},
		{ID: "ci/bad", Repo: "acme/shop", SHA: commit, State: run.Failed, ImageURL: host + "/acme/shop:aaaaaaaa", ImageDigest: bad.DigestStr()},
	}
	var finished []string
	hook := withSigning(func(_ context.Context, r run.Run) { finished = append(finished, r.ID) },
		s, []string{host}, nil, slog.New(slog.DiscardHandler))
	for _, r := range runs {
		hook(ctx, r)
	}
	if strings.Join(finished, ",") != "ci/good,ci/bad" {
		t.Errorf("the wrapped hook ran for %v", finished)
	}

	gate := newGate(cfg, runs, nil)
	gate.Signatures = gateSignatures(keys, runs)
	src := promote.Source{Repo: "acme/shop", CloneURL: cloneURL}
	if _, err := gate.Check(ctx, good, src); err != nil {
		t.Errorf("the signed image: %v", err)
	}
	var refused *promote.RefusedError
	if _, err := gate.Check(ctx, bad, src); !errors.As(err, &refused) || !strings.Contains(err.Error(), "no signature") {
		t.Errorf("the failed run's image: %v, want refused for no signature", err)
	}
}

func TestVerifyKeys(t *testing.T) {
	dir := t.TempDir()
	priv, pub := cosignKeyPair(t, dir, "new", "pw")
	_, oldPub := cosignKeyPair(t, dir, "old", "pw2")
	s, err := signer(&config.Config{SigningKeyFile: priv, SigningKeyPassword: config.NewSecret("pw")})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     config.Config
		want    []string // key ids
		wantErr string
	}{
		{name: "neither: provenance only"},
		{name: "the signing key's own public half", cfg: config.Config{SigningKeyFile: priv, SigningKeyPassword: config.NewSecret("pw")}, want: []string{s.KeyID}},
		{name: "rotation: both keys", cfg: config.Config{SigningKeyFile: priv, SigningKeyPassword: config.NewSecret("pw"), VerifyKeys: []string{pub, oldPub}}, want: []string{s.KeyID, ""}},
		{name: "wrong password", cfg: config.Config{SigningKeyFile: priv, SigningKeyPassword: config.NewSecret("nope")}, wantErr: "wrong or missing password"},
		{name: "missing verify key", cfg: config.Config{VerifyKeys: []string{filepath.Join(dir, "none.pub")}}, wantErr: "verify key: open"},
		{name: "a private key as verify key", cfg: config.Config{VerifyKeys: []string{priv}}, wantErr: "not a PEM public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := verifyKeys(&tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("verifyKeys = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != len(tt.want) {
				t.Fatalf("%d keys, want %d", len(keys), len(tt.want))
			}
			for i, id := range tt.want {
				if id != "" && keys[i].ID != id {
					t.Errorf("key %d: id %s, want %s", i, keys[i].ID, id)
				}
			}
		})
	}
}

// allRuns lists runs by state, newest first as the store does.
type allRuns []run.Run

func (a allRuns) ListRuns(_ context.Context, f store.RunFilter) ([]run.Run, error) {
	var out []run.Run
	for _, r := range a {
		if f.State == "" || r.State == f.State {
			out = append(out, r)
		}
	}
	return out, nil
}

// At start the server signs recent succeeded runs a restart left
// unsigned; an image already signed gets no second signature.
func TestSignCatchUp(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	priv, pub := cosignKeyPair(t, t.TempDir(), "cosign", "pw")
	s, err := signer(&config.Config{SigningKeyFile: priv, SigningKeyPassword: config.NewSecret("pw")})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := signing.LoadKeys(pub)
	if err != nil {
		t.Fatal(err)
	}
	push := func() name.Digest {
		t.Helper()
		img, err := random.Image(128, 1)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		ref, _ := name.NewDigest(host + "/acme/shop@" + d.String())
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
		return ref
	}
	unsigned, failed := push(), push()
	runs := allRuns{
		{ID: "ci/2", Repo: "acme/shop", SHA: "b", State: run.Succeeded, ImageURL: host + "/acme/shop:b", ImageDigest: unsigned.DigestStr()},
		{ID: "ci/1", Repo: "acme/shop", SHA: "a", State: run.Failed, ImageURL: host + "/acme/shop:a", ImageDigest: failed.DigestStr()},
	}
	c := &signCatchUp{runs: runs, limit: 10, sign: runSigner{s: s, log: slog.New(slog.DiscardHandler)}}
	for i := range 2 {
		if n := c.catchUp(ctx); n != 1 {
			t.Fatalf("pass %d: %d runs signed, want 1", i, n)
		}
	}
	v, err := signing.Verify(ctx, unsigned, keys)
	if err != nil {
		t.Fatal(err)
	}
	if v.Claims.RunID != "ci/2" {
		t.Errorf("signed for run %q, want ci/2", v.Claims.RunID)
	}
	tag, _ := signing.SignatureTag(unsigned)
	sigs, err := remote.Image(tag)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := sigs.Manifest(); len(m.Layers) != 1 {
		t.Errorf("%d signatures after two passes, want 1", len(m.Layers))
	}
	if _, err := signing.Verify(ctx, failed, keys); !errors.Is(err, signing.ErrNoSignature) {
		t.Errorf("the failed run's image: %v, want no signature", err)
	}
}
