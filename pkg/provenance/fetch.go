package provenance

import (
	"context"
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
	st, err := readStatement(attImg)
	if err != nil {
		return nil, fmt.Errorf("attestation manifest %s: %w", att.Digest, err)
	}
	if !slices.Contains(st.SubjectDigests(), image.Digest.String()) {
		return nil, fmt.Errorf("provenance subjects %v do not include image manifest %s", st.SubjectDigests(), image.Digest)
	}
	return st, nil
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

// readStatement returns the first SLSA provenance layer of an attestation
// manifest (it may also hold an SBOM).
func readStatement(img v1.Image) (*Statement, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	var seen []string
	for _, l := range m.Layers {
		pt := l.Annotations[annotationPredicate]
		seen = append(seen, pt)
		if pt != PredicateSLSA02 && pt != PredicateSLSA1 {
			continue
		}
		if l.MediaType != mediaTypeInTotoLayer {
			return nil, fmt.Errorf("provenance layer %s has media type %q, want %q", l.Digest, l.MediaType, mediaTypeInTotoLayer)
		}
		if l.Size > maxStatementSize {
			return nil, fmt.Errorf("provenance layer %s is %d bytes, over the %d limit", l.Digest, l.Size, maxStatementSize)
		}
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return nil, fmt.Errorf("provenance layer %s: %w", l.Digest, err)
		}
		// The blob is plain JSON, so the "compressed" (as stored) form is the statement.
		rc, err := layer.Compressed()
		if err != nil {
			return nil, fmt.Errorf("provenance layer %s: %w", l.Digest, err)
		}
		data, err := io.ReadAll(io.LimitReader(rc, maxStatementSize+1))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("reading provenance layer %s: %w", l.Digest, err)
		}
		return Parse(data)
	}
	return nil, fmt.Errorf("no SLSA provenance layer (predicate types found: %q)", seen)
}
