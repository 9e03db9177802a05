package promote

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/slipway-ci/slipway/pkg/provenance"
)

// Promote gates image on its provenance in the source registry and only
// then copies it by digest into target. It returns the target reference
// and the statement that let it through; a refusal is a *RefusedError
// and nothing is copied.
func Promote(ctx context.Context, g *Gate, image name.Digest, src Source, target name.Repository, o CopyOptions) (name.Digest, *provenance.Statement, error) {
	st, err := g.Check(ctx, image, src)
	if err != nil {
		return name.Digest{}, nil, err
	}
	dst, err := Copy(ctx, image, target, o)
	if err != nil {
		return name.Digest{}, nil, fmt.Errorf("promoting %s: %w", image, err)
	}
	return dst, st, nil
}
