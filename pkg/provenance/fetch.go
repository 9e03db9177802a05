package provenance

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Annotations BuildKit puts on the attestation manifest in an index and on
// its in-toto layers.
const (
	annotationRefType    = "vnd.docker.reference.type"
	annotationRefDigest  = "vnd.docker.reference.digest"
	refTypeAttestation   = "attestation-manifest"
	annotationPredicate  = "in-toto.io/predicate-type"
	maxStatementSize     = 64 << 20 // mode=max embeds the LLB; stay well above it, below memory trouble
	mediaTypeInTotoLayer = "application/vnd.in-toto+json"
	platformOSUnknown    = "unknown" // attestation manifests carry unknown/unknown
)

// Fetch reads the provenance of the image ref points to. ref must resolve to
// an image index as BuildKit pushes it: image manifests plus attestation
// manifests that reference them. For a multi-platform index the first image
// manifest's provenance is returned. The statement's subjects must include
// that image manifest's digest, so a statement copied from another image is
// rejected. opts are passed to remote (auth, transport, context...).
func Fetch(ctx context.Context, ref name.Reference, opts ...remote.Option) (*Statement, error) {
	atts, err := FetchAttestations(ctx, ref, "SLSA provenance", func(pt string) bool { return pt == PredicateSLSA02 || pt == PredicateSLSA1 }, opts...)
	if err != nil {
		return nil, err
	}
	return Parse(atts[0].Statement)
}

// Attestation is one in-toto statement of an image's attestation manifest.
type Attestation struct {
	// Image is the image manifest the statement is about.
	Image         v1.Descriptor
	PredicateType string
	// Statement is the in-toto statement as stored (JSON).
	Statement []byte
}

// FetchAttestations reads the attestation manifest BuildKit attached to the
// image ref points to (the first image manifest of the index that has one)
// and returns, in manifest order, its in-toto statements whose predicate
// type accept admits: the provenance, the SBOMs (one per scanned file), or
// others. kind names what is wanted in errors. It fails when none is admitted, and when an admitted statement's
// subjects do not name the image manifest, so that a statement copied from
// another image is rejected. opts are passed to remote.
func FetchAttestations(ctx context.Context, ref name.Reference, kind string, accept func(predicateType string) bool, opts ...remote.Option) ([]Attestation, error) {
	opts = append([]remote.Option{remote.WithContext(ctx)}, opts...)
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	if !desc.MediaType.IsIndex() {
		return nil, fmt.Errorf("%s is a single %s, not an index: it carries no attestations (BuildKit pushes an index when attest:provenance is on)", ref, desc.MediaType)
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("reading image index %s: %w", ref, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading image index %s: %w", ref, err)
	}
	image, att, err := findAttestation(im)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	attImg, err := idx.Image(att.Digest)
	if err != nil {
		return nil, fmt.Errorf("reading attestation manifest %s: %w", att.Digest, err)
	}
	out, err := readStatements(attImg, kind, accept)
	if err != nil {
		return nil, fmt.Errorf("attestation manifest %s: %w", att.Digest, err)
	}
	for i := range out {
		out[i].Image = image
		var hdr struct {
			Subject []Subject `json:"subject"`
		}
		if err := json.Unmarshal(out[i].Statement, &hdr); err != nil {
			return nil, fmt.Errorf("attestation manifest %s: decoding %s statement: %w", att.Digest, out[i].PredicateType, err)
		}
		digests := (&Statement{Subject: hdr.Subject}).SubjectDigests()
		if !slices.Contains(digests, image.Digest.String()) {
			return nil, fmt.Errorf("%s statement subjects %v do not include image manifest %s", out[i].PredicateType, digests, image.Digest)
		}
	}
	return out, nil
}

// findAttestation returns the first image manifest that has an attestation
// manifest, and that attestation manifest.
func findAttestation(im *v1.IndexManifest) (image, att v1.Descriptor, err error) {
	byRef := map[string]v1.Descriptor{}
	var images []v1.Descriptor
	for _, d := range im.Manifests {
		if d.Annotations[annotationRefType] == refTypeAttestation {
			byRef[d.Annotations[annotationRefDigest]] = d
			continue
		}
		if d.Platform != nil && d.Platform.OS == platformOSUnknown {
			continue
		}
		images = append(images, d)
	}
	if len(images) == 0 {
		return image, att, fmt.Errorf("index has no image manifest")
	}
	for _, img := range images {
		if a, ok := byRef[img.Digest.String()]; ok {
			return img, a, nil
		}
	}
	return image, att, fmt.Errorf("no attestation manifest for image %s (was it built with attest:provenance?)", images[0].Digest)
}

// readStatements returns the in-toto layers of an attestation manifest
// whose predicate type accept admits.
func readStatements(img v1.Image, kind string, accept func(string) bool) ([]Attestation, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	var seen []string
	var out []Attestation
	for _, l := range m.Layers {
		pt := l.Annotations[annotationPredicate]
		seen = append(seen, pt)
		if !accept(pt) {
			continue
		}
		if l.MediaType != mediaTypeInTotoLayer {
			return nil, fmt.Errorf("%s layer %s has media type %q, want %q", pt, l.Digest, l.MediaType, mediaTypeInTotoLayer)
		}
		if l.Size > maxStatementSize {
			return nil, fmt.Errorf("%s layer %s is %d bytes, over the %d limit", pt, l.Digest, l.Size, maxStatementSize)
		}
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return nil, fmt.Errorf("%s layer %s: %w", pt, l.Digest, err)
		}
		// The blob is plain JSON, so the "compressed" (as stored) form is the statement.
		rc, err := layer.Compressed()
		if err != nil {
			return nil, fmt.Errorf("%s layer %s: %w", pt, l.Digest, err)
		}
		data, err := io.ReadAll(io.LimitReader(rc, maxStatementSize+1))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s layer %s: %w", pt, l.Digest, err)
		}
		if len(data) > maxStatementSize {
			return nil, fmt.Errorf("%s layer %s is over the %d limit", pt, l.Digest, maxStatementSize)
		}
		out = append(out, Attestation{PredicateType: pt, Statement: data})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s layer (predicate types found: %q)", kind, seen)
	}
	return out, nil
}
