// Package signing signs an image digest the way cosign does, offline (a
// key pair, no Fulcio, no Rekor), and verifies such signatures: a
// manifest tagged sha256-<hex>.sig in the image's repository whose layers
// each hold a simple-signing payload, the signature in an annotation. The
// payload's optional section binds the digest to the Slipway run that
// built it (run id, repo, commit).
package signing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// Signer signs payloads with one private key.
type Signer struct {
	sv signature.SignerVerifier
	// KeyID names the key's public half in messages (see Key.ID).
	KeyID string
}

// LoadSigner reads a PEM private key: cosign's encrypted format (what
// `cosign generate-key-pair` writes; password required), an encrypted or
// plain PKCS#8 key, or a SEC 1 EC key. Only ECDSA keys are accepted: the
// format every cosign version verifies.
func LoadSigner(path string, password []byte) (*Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	s, err := ParseSigner(data, password)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return s, nil
}

// ParseSigner is LoadSigner on the file's content.
func ParseSigner(pemData, password []byte) (*Signer, error) {
	block, _ := pem.Decode(pemData)
	if block == nil {
		return nil, errors.New("not a PEM private key")
	}
	var pf cryptoutils.PassFunc
	if len(password) > 0 {
		pf = cryptoutils.StaticPasswordFunc(password)
	}
	priv, err := cryptoutils.UnmarshalPEMToPrivateKey(pemData, pf)
	if err != nil {
		if strings.Contains(block.Type, "ENCRYPTED") {
			// cosign's format decrypts to garbage with a wrong or missing
			// password, which then fails to parse: say what is likely.
			return nil, fmt.Errorf("cannot decrypt the private key (wrong or missing password?): %w", err)
		}
		return nil, fmt.Errorf("cannot read the private key: %w", err)
	}
	ec, ok := priv.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T: want ECDSA (P-256)", priv)
	}
	sv, err := signature.LoadECDSASignerVerifier(ec, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("loading the ECDSA key: %w", err)
	}
	id, err := keyID(ec.Public())
	if err != nil {
		return nil, err
	}
	return &Signer{sv: sv, KeyID: id}, nil
}

// PublicKey is the signer's public half as a Key named name, so a
// signing instance also verifies its own signatures.
func (s *Signer) PublicKey(name string) (Key, error) {
	pub, err := s.sv.PublicKey()
	if err != nil {
		return Key{}, fmt.Errorf("signing key's public half: %w", err)
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return Key{}, fmt.Errorf("signing key's public half: %w", err)
	}
	return Key{Name: name, ID: s.KeyID, v: v}, nil
}

// Key is a public key signatures are checked with.
type Key struct {
	// Name is where the key came from (its file), for messages.
	Name string
	// ID is the first 16 hex digits of the SHA-256 of the key's DER
	// encoding: short, and the same for the same key wherever it is.
	ID string
	v  signature.Verifier
}

func (k Key) String() string { return k.Name + " (" + k.ID + ")" }

// LoadKeys reads PEM public keys, one per file (cosign.pub).
func LoadKeys(paths ...string) ([]Key, error) {
	keys := make([]Key, 0, len(paths))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("verify key: %w", err)
		}
		k, err := ParseKey(filepath.Base(p), data)
		if err != nil {
			return nil, fmt.Errorf("verify key %s: %w", p, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// ParseKey reads one PEM public key; name labels it in messages.
func ParseKey(name string, pemData []byte) (Key, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemData)
	if err != nil {
		return Key{}, fmt.Errorf("not a PEM public key: %w", err)
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return Key{}, fmt.Errorf("unsupported public key: %w", err)
	}
	id, err := keyID(pub)
	if err != nil {
		return Key{}, err
	}
	return Key{Name: name, ID: id, v: v}, nil
}

func keyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encoding the public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:8]), nil
}
