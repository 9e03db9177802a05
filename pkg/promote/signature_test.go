package promote

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/signing"
	"github.com/slipway-ci/slipway/pkg/store"
)

func (r *runs) GetRun(_ context.Context, id string) (*run.Run, error) {
	if r.err != nil {
		return nil, r.err
	}
	for _, run := range r.runs {
		if run.ID == id {
			return &run, nil
		}
	}
	return nil, store.ErrNotFound
}

func newKey(t *testing.T, name string) (*signing.Signer, signing.Key) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	s, err := signing.ParseSigner(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	k, err := signing.ParseKey(name, pub)
	if err != nil {
		t.Fatal(err)
	}
	return s, k
}

func TestGateSignatures(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	slipway, slipwayKey := newKey(t, "slipway.pub")
	retired, retiredKey := newKey(t, "retired.pub")
	stranger, _ := newKey(t, "stranger.pub")
	src := Source{Repo: repoPath, CloneURL: cloneURL}

	// Every case pushes its own image; the run records name it by digest.
	tests := []struct {
		name string
		// sign signs img (nil: unsigned), with the run id the payload names.
		signer *signing.Signer
		claims func(img name.Digest) signing.Claims
		// runs are the store's records, given the pushed image.
		runs       func(img name.Digest) []run.Run
		keys       []signing.Key
		storeErr   error
		wantReason string // "" = let through
		wantErr    string // not a verdict
	}{
		{name: "signed for the run that built it", signer: slipway},
		{name: "rotation: signed by a key still accepted", signer: retired, keys: []signing.Key{slipwayKey, retiredKey}},
		{name: "unsigned, provenance copied", wantReason: "has no valid signature by Slipway: no signature"},
		{name: "signed by another key", signer: stranger, wantReason: "has no valid signature by Slipway: no signature by a trusted key"},
		{name: "retired key no longer accepted", signer: retired, wantReason: "no signature by a trusted key"},
		{
			name: "the run produced another digest", signer: slipway,
			runs: func(img name.Digest) []run.Run {
				return []run.Run{{ID: "ci/1", Repo: repoPath, SHA: commit, State: run.Succeeded, ImageDigest: "sha256:" + strings.Repeat("f", 64)}}
			},
			wantReason: "run ci/1 produced sha256:ffff",
		},
		{
			name: "the named run did not succeed", signer: slipway,
			runs: func(img name.Digest) []run.Run {
				return []run.Run{
					{ID: "ci/0", Repo: repoPath, SHA: commit, State: run.Succeeded, ImageDigest: "sha256:" + strings.Repeat("e", 64)},
					{ID: "ci/1", Repo: repoPath, SHA: commit, State: run.Failed, ImageDigest: img.DigestStr()},
				}
			},
			wantReason: "run ci/1 failed, it did not succeed",
		},
		{
			name: "the named run is unknown", signer: slipway,
			claims:     func(name.Digest) signing.Claims { return signing.Claims{RunID: "ci/9", Repo: repoPath, Commit: commit} },
			wantReason: "run ci/9 is not in Slipway's records",
		},
		{
			name: "the named run is of another commit", signer: slipway,
			runs: func(img name.Digest) []run.Run {
				return []run.Run{
					{ID: "ci/0", Repo: repoPath, SHA: commit, State: run.Succeeded},
					{ID: "ci/1", Repo: repoPath, SHA: strings.Repeat("b", 40), State: run.Succeeded, ImageDigest: img.DigestStr()},
				}
			},
			wantReason: "run ci/1 built acme/shop@bbbb",
		},
		{
			name: "signed for another repo", signer: slipway,
			claims: func(name.Digest) signing.Claims {
				return signing.Claims{RunID: "ci/1", Repo: "acme/other", Commit: commit}
			},
			wantReason: `signed for repo "acme/other", the app builds from "acme/shop"`,
		},
		{
			name: "signed for another commit", signer: slipway,
			claims: func(name.Digest) signing.Claims {
				return signing.Claims{RunID: "ci/1", Repo: repoPath, Commit: strings.Repeat("c", 40)}
			},
			wantReason: "signed for commit cccc",
		},
		{
			name: "no run in the payload", signer: slipway,
			claims:     func(name.Digest) signing.Claims { return signing.Claims{Repo: repoPath, Commit: commit} },
			wantReason: "the signed payload names no Slipway run",
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := pushIndex(t, reg+"/shop"+string(rune('a'+i)), cloneURL, commit, builder)
			records := []run.Run{{ID: "ci/1", Repo: repoPath, SHA: commit, State: run.Succeeded, ImageDigest: img.DigestStr()}}
			if tt.runs != nil {
				records = tt.runs(img)
			}
			if tt.signer != nil {
				c := signing.Claims{RunID: "ci/1", Repo: repoPath, Commit: commit}
				if tt.claims != nil {
					c = tt.claims(img)
				}
				if err := tt.signer.Sign(ctx, img, c); err != nil {
					t.Fatal(err)
				}
			}
			keys := tt.keys
			if keys == nil {
				keys = []signing.Key{slipwayKey}
			}
			rs := &runs{runs: records}
			g := &Gate{BuilderID: builder, Runs: StoreRuns{Runs: rs}, Signatures: &Signatures{Keys: keys, Runs: rs}}
			_, err := g.Check(ctx, img, src)
			var refused *RefusedError
			switch {
			case tt.wantReason == "" && err != nil:
				t.Fatalf("Check = %v, want it let through", err)
			case tt.wantReason == "":
			case !errors.As(err, &refused):
				t.Fatalf("Check = %v, want a refusal", err)
			case !strings.Contains(refused.Error(), tt.wantReason):
				t.Errorf("reason %q does not say %q", refused.Error(), tt.wantReason)
			}
		})
	}
}

// A store that cannot be read is no verdict: the promotion is not refused.
func TestGateSignaturesStoreDown(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	s, k := newKey(t, "slipway.pub")
	img := pushIndex(t, reg+"/shop", cloneURL, commit, builder)
	if err := s.Sign(ctx, img, signing.Claims{RunID: "ci/1", Repo: repoPath, Commit: commit}); err != nil {
		t.Fatal(err)
	}
	good := &runs{runs: []run.Run{{ID: "ci/1", Repo: repoPath, SHA: commit, State: run.Succeeded, ImageDigest: img.DigestStr()}}}
	down := &runs{err: errors.New("database is locked")}
	g := &Gate{BuilderID: builder, Runs: StoreRuns{Runs: good}, Signatures: &Signatures{Keys: []signing.Key{k}, Runs: down}}
	_, err := g.Check(ctx, img, Source{Repo: repoPath, CloneURL: cloneURL})
	var refused *RefusedError
	if err == nil || errors.As(err, &refused) || !strings.Contains(err.Error(), "database is locked") {
		t.Fatalf("Check = %v, want the store error, not a refusal", err)
	}
}

// Copy carries the signature manifest along, so the next environment's
// gate verifies the copy.
func TestCopyCarriesSignatures(t *testing.T) {
	ctx := context.Background()
	from, to := newRegistry(t), newRegistry(t)
	s, k := newKey(t, "slipway.pub")
	src := pushIndex(t, from+"/ci/shop", cloneURL, commit, builder)
	if err := s.Sign(ctx, src, signing.Claims{RunID: "ci/1", Repo: repoPath, Commit: commit}); err != nil {
		t.Fatal(err)
	}
	target, _ := name.NewRepository(to + "/qa/shop")
	dst, err := Copy(ctx, src, target, CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := signing.Verify(ctx, dst, []signing.Key{k})
	if err != nil {
		t.Fatalf("copy's signature: %v", err)
	}
	if v.Reference != src.Context().Name() {
		t.Errorf("payload reference %s, want where it was signed, %s", v.Reference, src.Context().Name())
	}

	// An unsigned image copies as before, without a signature.
	plain := pushIndex(t, from+"/ci/plain", cloneURL, commit, builder)
	target, _ = name.NewRepository(to + "/qa/plain")
	dst, err = Copy(ctx, plain, target, CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signing.Verify(ctx, dst, []signing.Key{k}, remote.WithContext(ctx)); !errors.Is(err, signing.ErrNoSignature) {
		t.Errorf("unsigned copy: %v, want ErrNoSignature", err)
	}
}
