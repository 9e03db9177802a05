package signing

import (
	"encoding/json"
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/sigstore/pkg/signature/payload"
)

// Keys of the payload's optional section that bind a signature to a run.
const (
	ClaimRunID  = "slipway.dev/run-id"
	ClaimRepo   = "slipway.dev/repo"
	ClaimCommit = "slipway.dev/commit"
)

// maxPayload bounds a payload read from a registry: a real one is a few
// hundred bytes.
const maxPayload = 64 << 10

// Claims is what Slipway signs beside the digest: the run that produced
// it.
type Claims struct {
	// RunID is the run's "namespace/name" as Slipway records it.
	RunID  string `json:"runId"`
	Repo   string `json:"repo"`
	Commit string `json:"commit"`
}

// Payload is a decoded simple-signing payload.
type Payload struct {
	// Reference is critical.identity.docker-reference: the repository the
	// image was signed in (copies elsewhere keep it).
	Reference string
	// Digest is critical.image.docker-manifest-digest.
	Digest string
	Claims Claims
}

// NewPayload is the simple-signing payload cosign writes for the image
// (repository ref, digest), with c in its optional section.
func NewPayload(ref, digest string, c Claims) ([]byte, error) {
	p := payload.SimpleContainerImage{
		Critical: payload.Critical{
			Identity: payload.Identity{DockerReference: ref},
			Image:    payload.Image{DockerManifestDigest: digest},
			Type:     payload.CosignSignatureType,
		},
		Optional: map[string]any{ClaimRunID: c.RunID, ClaimRepo: c.Repo, ClaimCommit: c.Commit},
	}
	return json.Marshal(p)
}

// ParsePayload decodes a simple-signing payload. It checks the form, not
// the meaning: whether the digest and claims are the right ones is the
// caller's question.
func ParsePayload(data []byte) (*Payload, error) {
	if len(data) > maxPayload {
		return nil, fmt.Errorf("payload of %d bytes exceeds %d", len(data), maxPayload)
	}
	var p payload.SimpleContainerImage
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("payload is not simple-signing JSON: %w", err)
	}
	if p.Critical.Type != payload.CosignSignatureType {
		return nil, fmt.Errorf("payload type %q, want %q", p.Critical.Type, payload.CosignSignatureType)
	}
	if _, err := v1.NewHash(p.Critical.Image.DockerManifestDigest); err != nil {
		return nil, fmt.Errorf("payload digest: %w", err)
	}
	out := &Payload{Reference: p.Critical.Identity.DockerReference, Digest: p.Critical.Image.DockerManifestDigest}
	var errs []error
	claim := func(key string, dst *string) {
		switch v := p.Optional[key].(type) {
		case nil:
		case string:
			*dst = v
		default:
			errs = append(errs, fmt.Errorf("payload optional %q is a %T, want a string", key, v))
		}
	}
	claim(ClaimRunID, &out.Claims.RunID)
	claim(ClaimRepo, &out.Claims.Repo)
	claim(ClaimCommit, &out.Claims.Commit)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}
