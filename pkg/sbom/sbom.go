// Package sbom reads the SPDX SBOM BuildKit attaches to an image
// (attest:sbom) into a flat list of packages named the way OSV names them,
// ready for the dependency policy.
package sbom

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/package-url/packageurl-go"
	spdxjson "github.com/spdx/tools-golang/json"
)

// PredicateSPDX is the in-toto predicate type of an SPDX document, as
// BuildKit's SBOM attestation carries it.
const PredicateSPDX = "https://spdx.dev/Document"

// maxDocumentSize bounds one SBOM; large images' SBOMs are a few MB.
const maxDocumentSize = 64 << 20

// Package is one software package found in an image.
type Package struct {
	// Ecosystem is the OSV ecosystem ("Go", "npm", "PyPI", "Maven",
	// "Debian:12"...), empty when the package has no purl or its type has
	// no OSV ecosystem.
	Ecosystem string `json:"ecosystem,omitempty"`
	// Name is the package's name as OSV writes it: a Go module path, an
	// npm name with its scope, Maven group:artifact.
	Name    string `json:"name"`
	Version string `json:"version"`
	PURL    string `json:"purl,omitempty"`
	// License is an SPDX license expression: the concluded license, else
	// the declared one; empty when neither is known (NOASSERTION, NONE).
	License string `json:"license,omitempty"`
}

// ParseSPDX reads an SPDX 2.x JSON document.
func ParseSPDX(data []byte) ([]Package, error) {
	if len(data) > maxDocumentSize {
		return nil, fmt.Errorf("SPDX document is %d bytes, over the %d limit", len(data), maxDocumentSize)
	}
	doc, err := spdxjson.Read(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("reading SPDX document: %w", err)
	}
	var out []Package
	for _, p := range doc.Packages {
		if p == nil {
			continue
		}
		pkg := Package{Name: p.PackageName, Version: p.PackageVersion, License: license(p.PackageLicenseConcluded, p.PackageLicenseDeclared)}
		for _, ref := range p.PackageExternalReferences {
			if ref == nil || !strings.EqualFold(ref.Category, "PACKAGE-MANAGER") || ref.RefType != "purl" {
				continue
			}
			pu, err := packageurl.FromString(ref.Locator)
			if err != nil {
				return nil, fmt.Errorf("SPDX package %q: purl %q: %w", p.PackageName, ref.Locator, err)
			}
			pkg.PURL = ref.Locator
			pkg.Ecosystem, pkg.Name = osvName(pu)
			if pu.Version != "" {
				pkg.Version = pu.Version
			}
			break
		}
		if pkg.Ecosystem == "Go" && pkg.Name == "stdlib" {
			pkg.Version = strings.TrimPrefix(pkg.Version, "go")
		}
		if pkg.Name == "" {
			continue
		}
		out = append(out, pkg)
	}
	return Normalize(out), nil
}

// ParseStatement reads an in-toto statement whose predicate is an SPDX
// document, as stored in BuildKit's attestation manifest.
func ParseStatement(data []byte) ([]Package, error) {
	if len(data) > maxDocumentSize {
		return nil, fmt.Errorf("statement is %d bytes, over the %d limit", len(data), maxDocumentSize)
	}
	var st struct {
		PredicateType string          `json:"predicateType"`
		Predicate     json.RawMessage `json:"predicate"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("decoding in-toto statement: %w", err)
	}
	if st.PredicateType != PredicateSPDX {
		return nil, fmt.Errorf("statement predicate type is %q, want %q", st.PredicateType, PredicateSPDX)
	}
	if len(st.Predicate) == 0 {
		return nil, fmt.Errorf("SPDX statement has no predicate")
	}
	return ParseSPDX(st.Predicate)
}

// Normalize sorts packages (ecosystem, name, version, purl) and drops exact
// duplicates, as when several SBOMs of one image list the same package.
func Normalize(pkgs []Package) []Package {
	slices.SortFunc(pkgs, func(a, b Package) int {
		return cmp.Or(cmp.Compare(a.Ecosystem, b.Ecosystem), cmp.Compare(a.Name, b.Name),
			cmp.Compare(a.Version, b.Version), cmp.Compare(a.PURL, b.PURL), cmp.Compare(a.License, b.License))
	})
	return slices.Compact(pkgs)
}

func license(concluded, declared string) string {
	for _, l := range []string{concluded, declared} {
		l = strings.TrimSpace(l)
		if l != "" && l != "NOASSERTION" && l != "NONE" {
			return l
		}
	}
	return ""
}

// osvName maps a purl to OSV's ecosystem and package name
// (https://ossf.github.io/osv-schema/#affectedpackage-field).
func osvName(p packageurl.PackageURL) (ecosystem, name string) {
	joined := func(sep string) string {
		if p.Namespace == "" {
			return p.Name
		}
		return p.Namespace + sep + p.Name
	}
	switch p.Type {
	case packageurl.TypeGolang:
		return "Go", joined("/")
	case packageurl.TypeNPM:
		return "npm", joined("/")
	case packageurl.TypePyPi:
		return "PyPI", p.Name
	case packageurl.TypeMaven:
		return "Maven", joined(":")
	case packageurl.TypeCargo:
		return "crates.io", p.Name
	case packageurl.TypeGem:
		return "RubyGems", p.Name
	case packageurl.TypeNuget:
		return "NuGet", p.Name
	case packageurl.TypeComposer:
		return "Packagist", joined("/")
	case packageurl.TypeDebian:
		eco := "Debian"
		if strings.EqualFold(p.Namespace, "ubuntu") {
			eco = "Ubuntu"
		}
		return withRelease(eco, p, false), p.Name
	case "apk":
		return withRelease("Alpine", p, true), p.Name
	}
	return "", joined("/")
}

// withRelease appends the distribution release from the purl's distro
// qualifier ("debian-12.15" → "Debian:12"; "ubuntu-22.04" → "Ubuntu:22.04";
// Alpine: "alpine-3.18.4" → "Alpine:v3.18").
func withRelease(eco string, p packageurl.PackageURL, alpine bool) string {
	distro := p.Qualifiers.Map()["distro"]
	if distro == "" {
		return eco
	}
	_, rel, ok := strings.Cut(distro, "-")
	if !ok || rel == "" {
		return eco
	}
	if eco == "Debian" {
		// OSV names Debian by major release ("Debian:12"); syft writes the
		// point release (distro=debian-12.15).
		rel, _, _ = strings.Cut(rel, ".")
	}
	if alpine {
		parts := strings.SplitN(rel, ".", 3)
		if len(parts) >= 2 {
			rel = parts[0] + "." + parts[1]
		}
		return eco + ":v" + rel
	}
	return eco + ":" + rel
}
