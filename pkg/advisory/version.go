package advisory

import (
	"errors"
	"fmt"
	"strings"

	msemver "github.com/Masterminds/semver/v3"
	pep440 "github.com/aquasecurity/go-pep440-version"
	"golang.org/x/mod/semver"
)

// OSV ecosystem names (https://ossf.github.io/osv-schema/#affectedpackage-field)
// whose version ordering Slipway knows.
const (
	EcosystemGo     = "Go"
	EcosystemNPM    = "npm"
	EcosystemPyPI   = "PyPI"
	EcosystemMaven  = "Maven"
	EcosystemDebian = "Debian"
)

// ErrUnknownOrdering is returned for an ecosystem whose version ordering
// Slipway does not implement; only exact `versions` lists match there.
var ErrUnknownOrdering = errors.New("no version ordering for this ecosystem")

// Ordering compares two versions of one ecosystem: negative when a < b,
// zero when equal, positive when a > b.
type Ordering func(a, b string) (int, error)

// OrderingFor returns the version ordering of an OSV ecosystem. A release
// suffix ("Debian:12") does not change the ordering.
func OrderingFor(ecosystem string) (Ordering, error) {
	base, _, _ := strings.Cut(ecosystem, ":")
	switch base {
	case EcosystemGo:
		return CompareGo, nil
	case EcosystemNPM:
		return CompareSemver, nil
	case EcosystemPyPI:
		return ComparePEP440, nil
	case EcosystemMaven:
		return CompareMaven, nil
	case EcosystemDebian, "Ubuntu":
		return CompareDebian, nil
	}
	return nil, fmt.Errorf("%q: %w", ecosystem, ErrUnknownOrdering)
}

// goVersion returns v in the form x/mod/semver wants: OSV writes Go module
// versions without the "v" that go.mod and SBOMs carry.
func goVersion(v string) (string, error) {
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	if !semver.IsValid(v) {
		return "", fmt.Errorf("%q is not a Go module version", v)
	}
	return v, nil
}

// CompareGo orders Go module versions (semver with an optional "v",
// pseudo-versions as pre-releases, "+incompatible" ignored as build metadata).
func CompareGo(a, b string) (int, error) {
	va, err := goVersion(a)
	if err != nil {
		return 0, err
	}
	vb, err := goVersion(b)
	if err != nil {
		return 0, err
	}
	return semver.Compare(va, vb), nil
}

// CompareSemver orders SemVer 2.0 versions (npm, and OSV SEMVER ranges).
func CompareSemver(a, b string) (int, error) {
	va, err := msemver.NewVersion(a)
	if err != nil {
		return 0, fmt.Errorf("%q is not a semantic version: %w", a, err)
	}
	vb, err := msemver.NewVersion(b)
	if err != nil {
		return 0, fmt.Errorf("%q is not a semantic version: %w", b, err)
	}
	return va.Compare(vb), nil
}

// ComparePEP440 orders Python package versions as PEP 440 does
// (1.0.dev1 < 1.0a1 < 1.0rc1 < 1.0 < 1.0.post1, epochs, local versions).
func ComparePEP440(a, b string) (int, error) {
	va, err := pep440.Parse(a)
	if err != nil {
		return 0, fmt.Errorf("%q is not a PEP 440 version: %w", a, err)
	}
	vb, err := pep440.Parse(b)
	if err != nil {
		return 0, fmt.Errorf("%q is not a PEP 440 version: %w", b, err)
	}
	return va.Compare(vb), nil
}
