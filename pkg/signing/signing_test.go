package signing_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/slipway-ci/slipway/pkg/signing"
)

// keyPair is a fresh P-256 key: the signer and its public key.
func keyPair(t *testing.T, name string) (*signing.Signer, signing.Key) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signing.ParseSigner(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	k, err := signing.ParseKey(name, pub)
	if err != nil {
		t.Fatal(err)
	}
	return s, k
}

// pushImage pushes a random image to a fresh in-process registry.
func pushImage(t *testing.T, host, repo string) name.Digest {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewDigest(host + "/" + repo + "@" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	return ref
}

func newRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func sigManifest(t *testing.T, image name.Digest) v1.Image {
	t.Helper()
	tag, err := signing.SignatureTag(image)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(tag)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

var claims = signing.Claims{RunID: "slipway-builds/shop-aaaaaaaa-1", Repo: "acme/shop", Commit: strings.Repeat("a", 40)}

func TestSignVerifyRoundTrip(t *testing.T) {
	ctx := context.Background()
	host := newRegistry(t)
	img := pushImage(t, host, "acme/shop")
	signer, key := keyPair(t, "cosign.pub")
	if err := signer.Sign(ctx, img, claims); err != nil {
		t.Fatal(err)
	}
	got, err := signing.Verify(ctx, img, []signing.Key{key})
	if err != nil {
		t.Fatal(err)
	}
	want := signing.Payload{Reference: img.Context().Name(), Digest: img.DigestStr(), Claims: claims}
	if diff := cmp.Diff(want, got.Payload); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
	if got.Key.ID != signer.KeyID {
		t.Errorf("verified by %s, want the signer's key %s", got.Key.ID, signer.KeyID)
	}

	// cosign's layout: one simple-signing layer with the signature annotation.
	m, err := sigManifest(t, img).Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != signing.SimpleSigningMediaType || m.Layers[0].Annotations[signing.SignatureAnnotation] == "" {
		t.Errorf("signature manifest layers = %+v", m.Layers)
	}

	// Signing again adds nothing.
	if err := signer.Sign(ctx, img, claims); err != nil {
		t.Fatal(err)
	}
	if m, _ := sigManifest(t, img).Manifest(); len(m.Layers) != 1 {
		t.Errorf("after signing twice: %d layers, want 1", len(m.Layers))
	}
}

func TestVerifyRefusals(t *testing.T) {
	ctx := context.Background()
	host := newRegistry(t)
	signer, key := keyPair(t, "slipway.pub")
	_, other := keyPair(t, "other.pub")

	tests := []struct {
		name    string
		prepare func(t *testing.T) name.Digest
		keys    []signing.Key
		want    error
		reason  string
	}{
		{
			name:    "unsigned",
			prepare: func(t *testing.T) name.Digest { return pushImage(t, host, "unsigned") },
			keys:    []signing.Key{key},
			want:    signing.ErrNoSignature,
			reason:  "has no signature manifest sha256-",
		},
		{
			name: "wrong key",
			prepare: func(t *testing.T) name.Digest {
				img := pushImage(t, host, "wrongkey")
				if err := signer.Sign(ctx, img, claims); err != nil {
					t.Fatal(err)
				}
				return img
			},
			keys:   []signing.Key{other},
			want:   signing.ErrUntrusted,
			reason: "1 signature(s) of sha256:",
		},
		{
			name: "tampered payload",
			prepare: func(t *testing.T) name.Digest {
				img := pushImage(t, host, "tampered")
				if err := signer.Sign(ctx, img, claims); err != nil {
					t.Fatal(err)
				}
				// Same signature, another run id in the payload.
				orig := sigManifest(t, img)
				m, _ := orig.Manifest()
				forged := claims
				forged.RunID = "slipway-builds/someone-else"
				pl, err := signing.NewPayload(img.Context().Name(), img.DigestStr(), forged)
				if err != nil {
					t.Fatal(err)
				}
				writeSig(t, img, pl, m.Layers[0].Annotations[signing.SignatureAnnotation])
				return img
			},
			keys: []signing.Key{key},
			want: signing.ErrUntrusted,
		},
		{
			name: "signature of another digest",
			prepare: func(t *testing.T) name.Digest {
				signed := pushImage(t, host, "moved")
				if err := signer.Sign(ctx, signed, claims); err != nil {
					t.Fatal(err)
				}
				// The valid signature manifest of one image put under
				// another image's signature tag.
				img := pushImage(t, host, "moved")
				tag, _ := signing.SignatureTag(img)
				if err := remote.Write(tag, sigManifest(t, signed)); err != nil {
					t.Fatal(err)
				}
				return img
			},
			keys:   []signing.Key{key},
			want:   signing.ErrMismatch,
			reason: "signed digest sha256:",
		},
		{
			name: "not a signature layer",
			prepare: func(t *testing.T) name.Digest {
				img := pushImage(t, host, "junk")
				tag, _ := signing.SignatureTag(img)
				junk, _ := random.Image(64, 1)
				if err := remote.Write(tag, junk); err != nil {
					t.Fatal(err)
				}
				return img
			},
			keys:   []signing.Key{key},
			want:   signing.ErrUntrusted,
			reason: "skipped: layer 0 has media type",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := tt.prepare(t)
			v, err := signing.Verify(ctx, img, tt.keys)
			if !errors.Is(err, tt.want) || !signing.IsVerdict(err) {
				t.Fatalf("Verify = %v, %v; want %v", v, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not say %q", err, tt.reason)
			}
		})
	}
}

// writeSig replaces img's signature manifest with one layer of payload pl
// and signature sig (base64).
func writeSig(t *testing.T, img name.Digest, pl []byte, sig string) {
	t.Helper()
	tag, _ := signing.SignatureTag(img)
	l := static.NewLayer(pl, signing.SimpleSigningMediaType)
	out, err := mutate.Append(empty.Image, mutate.Addendum{Layer: l, Annotations: map[string]string{signing.SignatureAnnotation: sig}})
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, out); err != nil {
		t.Fatal(err)
	}
}

// Rotation: the new key signs, both keys verify; an image the old key
// signed before the rotation still passes, one only the retired key
// signed does not once that key is dropped.
func TestRotation(t *testing.T) {
	ctx := context.Background()
	host := newRegistry(t)
	oldSigner, oldKey := keyPair(t, "old.pub")
	newSigner, newKey := keyPair(t, "new.pub")
	before := pushImage(t, host, "shop")
	after := pushImage(t, host, "shop")
	if err := oldSigner.Sign(ctx, before, claims); err != nil {
		t.Fatal(err)
	}
	if err := newSigner.Sign(ctx, after, claims); err != nil {
		t.Fatal(err)
	}
	both := []signing.Key{oldKey, newKey}
	for _, img := range []name.Digest{before, after} {
		if _, err := signing.Verify(ctx, img, both); err != nil {
			t.Errorf("%s with both keys: %v", img, err)
		}
	}
	if _, err := signing.Verify(ctx, before, []signing.Key{newKey}); !errors.Is(err, signing.ErrUntrusted) {
		t.Errorf("old signature after the old key was dropped: %v, want ErrUntrusted", err)
	}
	// Re-signing with the new key keeps the old signature beside it.
	if err := newSigner.Sign(ctx, before, claims); err != nil {
		t.Fatal(err)
	}
	if m, _ := sigManifest(t, before).Manifest(); len(m.Layers) != 2 {
		t.Errorf("%d signature layers, want the old and the new", len(m.Layers))
	}
	for _, k := range both {
		v, err := signing.Verify(ctx, before, []signing.Key{k})
		if err != nil {
			t.Fatalf("with %s: %v", k, err)
		}
		if v.Key.ID != k.ID {
			t.Errorf("verified by %s, want %s", v.Key, k)
		}
	}
}

func TestLoadSigner(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// cosign generate-key-pair's format (scrypt + secretbox).
	cosignPriv, cosignPub, err := cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), cryptoutils.StaticPasswordFunc([]byte("s3cret")))
	if err != nil {
		t.Fatal(err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(ec)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	rsaDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	sec1, _ := x509.MarshalECPrivateKey(ec)

	tests := []struct {
		name, path, password, wantErr string
	}{
		{name: "cosign encrypted", path: write("cosign.key", cosignPriv), password: "s3cret"},
		{name: "cosign encrypted, wrong password", path: write("cosign2.key", cosignPriv), password: "nope", wantErr: "wrong or missing password"},
		{name: "cosign encrypted, no password", path: write("cosign3.key", cosignPriv), wantErr: "wrong or missing password"},
		{name: "openssl encrypted PKCS#8", path: "testdata/openssl-encrypted.key", password: "pw123"},
		{name: "openssl encrypted PKCS#8, wrong password", path: "testdata/openssl-encrypted.key", password: "nope", wantErr: "wrong or missing password"},
		{name: "PKCS#8", path: write("pkcs8.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))},
		{name: "SEC 1", path: write("ec.key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}))},
		{name: "RSA", path: write("rsa.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rsaDER})), wantErr: "unsupported private key type *rsa.PrivateKey: want ECDSA"},
		{name: "a public key", path: write("cosign.pub", cosignPub), wantErr: "unknown private key PEM file type: PUBLIC KEY"},
		{name: "not PEM", path: write("junk.key", []byte("hello")), wantErr: "not a PEM private key"},
		{name: "missing", path: filepath.Join(dir, "none.key"), wantErr: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := signing.LoadSigner(tt.path, []byte(tt.password))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadSigner = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.KeyID == "" {
				t.Error("no key id")
			}
		})
	}

	// The cosign pair: its public key verifies what its private key signs.
	s, err := signing.LoadSigner(filepath.Join(dir, "cosign.key"), []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := signing.LoadKeys(filepath.Join(dir, "cosign.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if keys[0].ID != s.KeyID {
		t.Errorf("public key id %s, signer's %s", keys[0].ID, s.KeyID)
	}
	s, err = signing.LoadSigner("testdata/openssl-encrypted.key", []byte("pw123"))
	if err != nil {
		t.Fatal(err)
	}
	if keys, err = signing.LoadKeys("testdata/openssl-encrypted.pub"); err != nil || keys[0].ID != s.KeyID {
		t.Errorf("openssl pair: %v, ids %v / %s", err, keys, s.KeyID)
	}
	if _, err := signing.LoadKeys(filepath.Join(dir, "pkcs8.key")); err == nil || !strings.Contains(err.Error(), "not a PEM public key") {
		t.Errorf("a private key as a verify key: %v", err)
	}
}

func TestParsePayload(t *testing.T) {
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	good, err := signing.NewPayload("reg/acme/shop", d, claims)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      string
		want    *signing.Payload
		wantErr string
	}{
		{name: "ours", in: string(good), want: &signing.Payload{Reference: "reg/acme/shop", Digest: d, Claims: claims}},
		{name: "cosign's without claims", in: `{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"` + d + `"},"type":"cosign container image signature"},"optional":null}`,
			want: &signing.Payload{Reference: "r", Digest: d}},
		{name: "other type", in: `{"critical":{"image":{"docker-manifest-digest":"` + d + `"},"type":"atomic container signature"}}`, wantErr: `payload type "atomic container signature"`},
		{name: "bad digest", in: `{"critical":{"image":{"docker-manifest-digest":"sha256:xyz"},"type":"cosign container image signature"}}`, wantErr: "payload digest"},
		{name: "claim not a string", in: `{"critical":{"image":{"docker-manifest-digest":"` + d + `"},"type":"cosign container image signature"},"optional":{"slipway.dev/run-id":7}}`, wantErr: `"slipway.dev/run-id" is a float64`},
		{name: "not JSON", in: `{`, wantErr: "not simple-signing JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := signing.ParsePayload([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePayload = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParsePayload(f *testing.F) {
	good, _ := signing.NewPayload("reg/acme/shop", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", claims)
	f.Add(good)
	f.Add([]byte(`{"critical":{},"optional":{"slipway.dev/repo":[1]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := signing.ParsePayload(data)
		if err == nil {
			if _, herr := v1.NewHash(p.Digest); herr != nil {
				t.Fatalf("accepted payload with digest %q", p.Digest)
			}
		}
	})
}
