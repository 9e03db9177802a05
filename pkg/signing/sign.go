package signing

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The layout cosign reads and writes.
const (
	// SimpleSigningMediaType is the media type of a signature layer.
	SimpleSigningMediaType types.MediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// SignatureAnnotation holds the base64 signature of the layer's payload.
	SignatureAnnotation = "dev.cosignproject.cosign/signature"
)

// maxEntries bounds the signatures read from one signature manifest.
const maxEntries = 64

// SignatureTag is the tag cosign keeps image's signatures under:
// sha256-<hex>.sig in image's repository.
func SignatureTag(image name.Digest) (name.Tag, error) {
	h, err := v1.NewHash(image.DigestStr())
	if err != nil {
		return name.Tag{}, fmt.Errorf("image digest: %w", err)
	}
	return image.Context().Tag(h.Algorithm + "-" + h.Hex + ".sig"), nil
}

// Sign signs image's digest with c in the payload and adds the signature
// to the image's signature manifest, keeping the signatures already there
// (another key's, during a rotation). Signing the same claims again is a
// no-op, so a retried or repeated call adds nothing.
func (s *Signer) Sign(ctx context.Context, image name.Digest, c Claims, opts ...remote.Option) error {
	tag, err := SignatureTag(image)
	if err != nil {
		return err
	}
	opts = append([]remote.Option{remote.WithContext(ctx)}, opts...)
	pl, err := NewPayload(image.Context().Name(), image.DigestStr(), c)
	if err != nil {
		return fmt.Errorf("signing %s: %w", image, err)
	}
	base, found, err := signatureImage(tag, opts)
	if err != nil {
		return err
	}
	if found {
		ents, err := entries(base)
		if err != nil {
			return fmt.Errorf("reading the signatures of %s: %w", image, err)
		}
		own := Key{v: s.sv}
		for _, e := range ents {
			if bytes.Equal(e.payload, pl) && own.verifies(e) {
				return nil
			}
		}
	} else {
		base = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	}
	sig, err := s.sv.SignMessage(bytes.NewReader(pl))
	if err != nil {
		return fmt.Errorf("signing %s: %w", image, err)
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:       static.NewLayer(pl, SimpleSigningMediaType),
		Annotations: map[string]string{SignatureAnnotation: base64.StdEncoding.EncodeToString(sig)},
	})
	if err != nil {
		return fmt.Errorf("signing %s: %w", image, err)
	}
	if err := remote.Write(tag, img, opts...); err != nil {
		return fmt.Errorf("writing signature %s: %w", tag, err)
	}
	return nil
}

// signatureImage reads the signature manifest at tag; found is false when
// there is none.
func signatureImage(tag name.Tag, opts []remote.Option) (v1.Image, bool, error) {
	img, err := remote.Image(tag, opts...)
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading signature %s: %w", tag, err)
	}
	return img, true, nil
}

// entry is one signature layer: the payload and its decoded signature.
type entry struct {
	payload, sig []byte
	// bad says why the layer is not a usable signature ("" when it is).
	bad string
}

// entries reads img's signature layers. A layer that is not one (another
// media type, no or undecodable annotation) is kept with bad set, so the
// caller can say what it saw.
func entries(img v1.Image) ([]entry, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("signature manifest: %w", err)
	}
	if len(m.Layers) > maxEntries {
		return nil, fmt.Errorf("signature manifest has %d layers, more than %d", len(m.Layers), maxEntries)
	}
	out := make([]entry, 0, len(m.Layers))
	for i, d := range m.Layers {
		if d.MediaType != SimpleSigningMediaType {
			out = append(out, entry{bad: fmt.Sprintf("layer %d has media type %s", i, d.MediaType)})
			continue
		}
		if d.Size > maxPayload {
			out = append(out, entry{bad: fmt.Sprintf("layer %d: payload of %d bytes exceeds %d", i, d.Size, maxPayload)})
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(d.Annotations[SignatureAnnotation])
		if err != nil || len(sig) == 0 {
			out = append(out, entry{bad: fmt.Sprintf("layer %d has no readable %s annotation", i, SignatureAnnotation)})
			continue
		}
		l, err := img.LayerByDigest(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("signature layer %d: %w", i, err)
		}
		rc, err := l.Compressed()
		if err != nil {
			return nil, fmt.Errorf("signature layer %d: %w", i, err)
		}
		pl, err := io.ReadAll(io.LimitReader(rc, maxPayload+1))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("signature layer %d: %w", i, err)
		}
		out = append(out, entry{payload: pl, sig: sig})
	}
	return out, nil
}

func (k Key) verifies(e entry) bool {
	return e.bad == "" && k.v.VerifySignature(bytes.NewReader(e.sig), bytes.NewReader(e.payload)) == nil
}
