package signing

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Verdicts: an image that is not validly signed. Any other error from
// Verify (the registry unreachable) is no verdict.
var (
	// ErrNoSignature: the image has no signature manifest or no
	// signature in it.
	ErrNoSignature = errors.New("no signature")
	// ErrUntrusted: no signature verifies with any of the keys.
	ErrUntrusted = errors.New("no signature by a trusted key")
	// ErrMismatch: a trusted key signed something else (another digest)
	// or a payload that cannot be read.
	ErrMismatch = errors.New("signed payload does not match the image")
)

// IsVerdict reports whether err says the image is not validly signed.
func IsVerdict(err error) bool {
	return errors.Is(err, ErrNoSignature) || errors.Is(err, ErrUntrusted) || errors.Is(err, ErrMismatch)
}

// Verified is a signature that checked out.
type Verified struct {
	Payload
	// Key is the key that verified it.
	Key Key
}

// Verify checks that one of keys signed image's digest: it reads the
// image's signature manifest (sha256-<hex>.sig) and returns the first
// signature that verifies with any key and whose payload names that
// digest. The payload's docker-reference is not compared: a promoted copy
// in another registry keeps the signature made where it was built.
func Verify(ctx context.Context, image name.Digest, keys []Key, opts ...remote.Option) (*Verified, error) {
	if len(keys) == 0 {
		return nil, errors.New("verifying signatures: no keys given")
	}
	tag, err := SignatureTag(image)
	if err != nil {
		return nil, err
	}
	img, found, err := signatureImage(tag, append([]remote.Option{remote.WithContext(ctx)}, opts...))
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: %s has no signature manifest %s", ErrNoSignature, image, tag.TagStr())
	}
	ents, err := entries(img)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUntrusted, tag, err)
	}
	if len(ents) == 0 {
		return nil, fmt.Errorf("%w: %s has an empty signature manifest", ErrNoSignature, image)
	}
	var mismatches, bad []string
	for _, e := range ents {
		if e.bad != "" {
			bad = append(bad, e.bad)
			continue
		}
		for _, k := range keys {
			if !k.verifies(e) {
				continue
			}
			p, err := ParsePayload(e.payload)
			switch {
			case err != nil:
				mismatches = append(mismatches, fmt.Sprintf("key %s signed an unreadable payload: %v", k, err))
			case p.Digest != image.DigestStr():
				mismatches = append(mismatches, fmt.Sprintf("key %s signed digest %s, not %s", k, p.Digest, image.DigestStr()))
			default:
				return &Verified{Payload: *p, Key: k}, nil
			}
		}
	}
	if len(mismatches) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrMismatch, strings.Join(mismatches, "; "))
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.String()
	}
	msg := fmt.Sprintf("%d signature(s) of %s checked against %s", len(ents)-len(bad), image.DigestStr(), strings.Join(names, ", "))
	if len(bad) > 0 {
		msg += "; skipped: " + strings.Join(bad, "; ")
	}
	return nil, fmt.Errorf("%w: %s", ErrUntrusted, msg)
}
