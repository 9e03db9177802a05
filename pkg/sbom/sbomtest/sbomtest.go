// Package sbomtest builds image indexes shaped like BuildKit's output with
// attest:sbom (an image plus an attestation manifest holding an SPDX
// statement about it), for tests of code that reads SBOMs. Push the result
// to httptest.NewServer(registry.New()) with remote.WriteIndex.
package sbomtest

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/slipway-ci/slipway/pkg/provenance/provenancetest"
)

// Package is one package of the SBOM Index writes.
type Package struct {
	Name, Version, PURL, License string
}

// Index returns a random linux/amd64 image in an index, with an
// attestation manifest whose SPDX 2.3 statement lists pkgs.
func Index(pkgs ...Package) (v1.ImageIndex, error) {
	return provenancetest.Attested("https://spdx.dev/Document", func(d v1.Hash) any { return Statement(d, pkgs...) })
}

// Statement is the in-toto statement BuildKit stores for an SPDX SBOM of
// the image subject, listing pkgs as syft does (purl in externalRefs).
func Statement(subject v1.Hash, pkgs ...Package) map[string]any {
	var ps []any
	for i, p := range pkgs {
		ps = append(ps, map[string]any{
			"name":             p.Name,
			"SPDXID":           fmt.Sprintf("SPDXRef-Package-%d", i),
			"versionInfo":      p.Version,
			"downloadLocation": "NOASSERTION",
			"licenseConcluded": "NOASSERTION",
			"licenseDeclared":  orNoAssertion(p.License),
			"externalRefs": []any{map[string]string{
				"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": p.PURL,
			}},
		})
	}
	return map[string]any{
		"_type":         "https://in-toto.io/Statement/v0.1",
		"predicateType": "https://spdx.dev/Document",
		"subject": []any{map[string]any{
			"name":   "pkg:docker/test/app@latest?platform=linux%2Famd64",
			"digest": map[string]string{subject.Algorithm: subject.Hex},
		}},
		"predicate": map[string]any{
			"spdxVersion":       "SPDX-2.3",
			"dataLicense":       "CC0-1.0",
			"SPDXID":            "SPDXRef-DOCUMENT",
			"name":              "sbom",
			"documentNamespace": "https://slipway.dev/sbomtest/sbom",
			"creationInfo":      map[string]any{"creators": []string{"Tool: sbomtest"}, "created": "2026-11-01T00:00:00Z"},
			"packages":          ps,
		},
	}
}

func orNoAssertion(s string) string {
	if s == "" {
		return "NOASSERTION"
	}
	return s
}
