package sbom

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipway-ci/slipway/pkg/provenance"
)

// Fetch reads the packages of the SPDX SBOMs BuildKit attached to the image
// ref points to (attest:sbom: one statement per scanned file, merged here).
// The statements must name the image manifest as their subject. opts are
// passed to remote (auth, transport...).
func Fetch(ctx context.Context, ref name.Reference, opts ...remote.Option) ([]Package, error) {
	atts, err := provenance.FetchAttestations(ctx, ref, "SPDX SBOM", func(pt string) bool { return pt == PredicateSPDX }, opts...)
	if err != nil {
		return nil, err
	}
	var out []Package
	for _, a := range atts {
		pkgs, err := ParseStatement(a.Statement)
		if err != nil {
			return nil, fmt.Errorf("%s: SBOM of %s: %w", ref, a.Image.Digest, err)
		}
		out = append(out, pkgs...)
	}
	return Normalize(out), nil
}
