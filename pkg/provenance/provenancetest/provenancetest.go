// Package provenancetest builds image indexes shaped like BuildKit's output
// (an image plus an attestation manifest with a SLSA v1 statement about
// it), for tests of code that gates on provenance. Push the result to
// httptest.NewServer(registry.New()) with remote.WriteIndex.
package provenancetest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Index returns a random linux/amd64 image in an index, with an
// attestation manifest whose SLSA v1 provenance says it was built from repo
// at commit by builderID, the way Slipway's build records it (vcs metadata
// of a local context).
func Index(repo, commit, builderID string) (v1.ImageIndex, error) {
	return Attested("https://slsa.dev/provenance/v1", func(d v1.Hash) any { return statement(d, repo, commit, builderID) })
}

// Attested returns a random linux/amd64 image in an index, with an
// attestation manifest holding one in-toto statement of predicateType,
// made by statement for the image's digest, laid out as BuildKit does.
func Attested(predicateType string, statement func(subject v1.Hash) any) (v1.ImageIndex, error) {
	img, err := random.Image(1024, 1)
	if err != nil {
		return nil, fmt.Errorf("random image: %w", err)
	}
	d, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("image digest: %w", err)
	}
	st, err := json.Marshal(statement(d))
	if err != nil {
		return nil, fmt.Errorf("encoding statement: %w", err)
	}
	att, err := mutate.Append(
		mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON),
		mutate.Addendum{
			Layer:       static.NewLayer(st, "application/vnd.in-toto+json"),
			Annotations: map[string]string{"in-toto.io/predicate-type": predicateType},
		})
	if err != nil {
		return nil, fmt.Errorf("attestation manifest: %w", err)
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{
				"vnd.docker.reference.type":   "attestation-manifest",
				"vnd.docker.reference.digest": d.String(),
			},
		}},
	), nil
}

// Dockerfile is the Dockerfile Index records in the provenance, as
// BuildKit's mode=max does.
const Dockerfile = "FROM scratch\nCOPY app /app\n"

// statement follows BuildKit v0.33's SLSA v1 output for a local context
// (see pkg/provenance/testdata for a full real one).
func statement(subject v1.Hash, repo, commit, builderID string) map[string]any {
	return map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"predicateType": "https://slsa.dev/provenance/v1",
		"subject": []any{map[string]any{
			"name":   "pkg:docker/test/app@latest?platform=linux%2Famd64",
			"digest": map[string]string{subject.Algorithm: subject.Hex},
		}},
		"predicate": map[string]any{
			"buildDefinition": map[string]any{
				"buildType": "https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md",
				"externalParameters": map[string]any{
					"configSource": map[string]any{"path": "Dockerfile"},
					"request":      map[string]any{"frontend": "dockerfile.v0"},
				},
			},
			"runDetails": map[string]any{
				"builder": map[string]any{"id": builderID},
				"metadata": map[string]any{
					"buildkit_metadata": map[string]any{
						"vcs": map[string]string{"source": repo, "revision": commit},
						// mode=max records the Dockerfile itself.
						"source": map[string]any{"infos": []any{map[string]any{
							"filename": "Dockerfile", "language": "Dockerfile",
							"data": base64.StdEncoding.EncodeToString([]byte(Dockerfile)),
						}}},
					},
				},
			},
		},
	}
}
