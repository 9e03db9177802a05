// Package policy is Slipway's dependency policy: which packages, licenses
// and advisory severities an image may carry. A policy file holds a global
// default, overridden per team and then per app; Evaluate checks an
// image's packages (from its SBOM) against the merged rules and an OSV feed.
package policy

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/slipway-ci/slipway/pkg/advisory"
)

// File is a policy file: the default rules, and per team (and per app of
// a team) rules merged over them. Apps holds per-app rules by app name,
// for platforms that do not group apps into teams (yet): they are merged
// last, over the default and any team's.
type File struct {
	Default Rules            `json:"default"`
	Teams   map[string]Team  `json:"teams,omitempty"`
	Apps    map[string]Rules `json:"apps,omitempty"`
}

// Team holds a team's rules and its apps' rules.
type Team struct {
	Rules `json:",inline"`
	Apps  map[string]Rules `json:"apps,omitempty"`
}

// Rules is one level of policy. When levels are merged (default, then
// team, then app), scalars set at a later level replace the earlier value
// and lists are added together: an app can relax the severity threshold or
// accept an advisory with a reason, but cannot lift a package or license
// denied above it.
type Rules struct {
	// MaxSeverity is the highest advisory severity an image may carry:
	// none (any advisory is a violation), low, medium, high, or critical
	// (severity never fails the check). Replaces. Default: none.
	MaxSeverity string `json:"maxSeverity,omitempty"`
	// UnknownSeverity says what an advisory without a usable severity
	// does: deny (a violation, the default) or allow. Replaces.
	UnknownSeverity string `json:"unknownSeverity,omitempty"`
	// DenyPackages are packages no image may carry. Added.
	DenyPackages []PackageRule `json:"denyPackages,omitempty"`
	// DenyLicenses are SPDX license ids ("GPL-3.0-only"; "AGPL-*" globs).
	// A license expression is a violation when no choice it offers avoids
	// them: "MIT OR GPL-3.0-only" passes, "MIT AND GPL-3.0-only" does not.
	// Added.
	DenyLicenses []string `json:"denyLicenses,omitempty"`
	// IgnoreAdvisories accepts advisories, each with a reason. Added.
	IgnoreAdvisories []Ignore `json:"ignoreAdvisories,omitempty"`
}

// PackageRule denies packages by purl pattern and version range.
type PackageRule struct {
	// PURL is a purl without version, where * matches any run of
	// characters: "pkg:golang/github.com/evil/*", "pkg:npm/event-stream".
	PURL string `json:"purl"`
	// Versions is a range in the package ecosystem's own ordering:
	// comparisons (<, <=, >, >=, =, !=) joined by "," (and) and "||" (or),
	// e.g. ">=3.3.4, <3.3.6 || =3.4.0". Empty means every version.
	Versions string `json:"versions,omitempty"`
	Reason   string `json:"reason,omitempty"`

	versions constraint
}

// Ignore accepts one advisory (by id or alias) until an optional date.
type Ignore struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
	// Expires is a date (YYYY-MM-DD) from which the advisory counts again.
	Expires string `json:"expires,omitempty"`

	expires time.Time
}

var severityNames = map[string]advisory.Severity{
	"none": advisory.SeverityUnknown, "low": advisory.SeverityLow, "medium": advisory.SeverityMedium,
	"high": advisory.SeverityHigh, "critical": advisory.SeverityCritical,
}

// Parse decodes a policy file (YAML or JSON). Unknown keys, duplicate keys
// and invalid values are errors that name the offending field.
func Parse(data []byte) (*File, error) {
	var f File
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("decoding policy: %w", err)
	}
	if err := f.Default.compile("default"); err != nil {
		return nil, err
	}
	for tn, t := range f.Teams {
		if err := t.compile("teams." + tn); err != nil {
			return nil, err
		}
		for an, a := range t.Apps {
			if err := a.compile("teams." + tn + ".apps." + an); err != nil {
				return nil, err
			}
			t.Apps[an] = a
		}
		f.Teams[tn] = t
	}
	for an, a := range f.Apps {
		if err := a.compile("apps." + an); err != nil {
			return nil, err
		}
		f.Apps[an] = a
	}
	return &f, nil
}

// Load reads and parses a policy file.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	f, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// compile checks a level's values and prepares its ranges; where names
// the level in errors.
func (r *Rules) compile(where string) error {
	if r.MaxSeverity != "" {
		if _, ok := severityNames[strings.ToLower(r.MaxSeverity)]; !ok {
			return fmt.Errorf("%s.maxSeverity: %q is not one of none, low, medium, high, critical", where, r.MaxSeverity)
		}
	}
	switch strings.ToLower(r.UnknownSeverity) {
	case "", "deny", "allow":
	default:
		return fmt.Errorf("%s.unknownSeverity: %q is not deny or allow", where, r.UnknownSeverity)
	}
	for i := range r.DenyPackages {
		p := &r.DenyPackages[i]
		if !strings.HasPrefix(p.PURL, "pkg:") || !strings.Contains(p.PURL, "/") {
			return fmt.Errorf("%s.denyPackages[%d].purl: %q is not a purl pattern (pkg:TYPE/[NAMESPACE/]NAME)", where, i, p.PURL)
		}
		if strings.ContainsAny(p.PURL, "@?#") {
			return fmt.Errorf("%s.denyPackages[%d].purl: %q: give versions in the versions field, not in the purl", where, i, p.PURL)
		}
		c, err := parseConstraint(p.Versions)
		if err != nil {
			return fmt.Errorf("%s.denyPackages[%d].versions: %w", where, i, err)
		}
		p.versions = c
	}
	for i, l := range r.DenyLicenses {
		if err := checkLicenseID(l); err != nil {
			return fmt.Errorf("%s.denyLicenses[%d]: %w", where, i, err)
		}
	}
	for i := range r.IgnoreAdvisories {
		ig := &r.IgnoreAdvisories[i]
		if strings.TrimSpace(ig.ID) == "" {
			return fmt.Errorf("%s.ignoreAdvisories[%d]: id is required", where, i)
		}
		if strings.TrimSpace(ig.Reason) == "" {
			return fmt.Errorf("%s.ignoreAdvisories[%d] (%s): a reason is required", where, i, ig.ID)
		}
		if ig.Expires != "" {
			t, err := time.Parse(time.DateOnly, ig.Expires)
			if err != nil {
				return fmt.Errorf("%s.ignoreAdvisories[%d] (%s).expires: %q is not a date (YYYY-MM-DD)", where, i, ig.ID, ig.Expires)
			}
			ig.expires = t
		}
	}
	return nil
}

// For returns the rules that apply to app of team: the default, then the
// team's, then the team's app's, then the top-level apps entry of app,
// merged (see Rules). An unknown team or app adds nothing; team "" is
// no team (Slipway has no teams yet: the server passes "").
func (f *File) For(team, app string) Rules {
	r := f.Default.clone()
	if t, ok := f.Teams[team]; ok && team != "" {
		r = Merge(r, t.Rules)
		if a, ok := t.Apps[app]; ok {
			r = Merge(r, a)
		}
	}
	if a, ok := f.Apps[app]; ok {
		r = Merge(r, a)
	}
	return r
}

// Merge returns base overridden by over: MaxSeverity and UnknownSeverity
// replace when set in over; DenyPackages, DenyLicenses and
// IgnoreAdvisories are base's followed by over's.
func Merge(base, over Rules) Rules {
	out := base.clone()
	if over.MaxSeverity != "" {
		out.MaxSeverity = over.MaxSeverity
	}
	if over.UnknownSeverity != "" {
		out.UnknownSeverity = over.UnknownSeverity
	}
	out.DenyPackages = append(out.DenyPackages, over.DenyPackages...)
	out.DenyLicenses = append(out.DenyLicenses, over.DenyLicenses...)
	out.IgnoreAdvisories = append(out.IgnoreAdvisories, over.IgnoreAdvisories...)
	return out
}

func (r Rules) clone() Rules {
	r.DenyPackages = slices.Clone(r.DenyPackages)
	r.DenyLicenses = slices.Clone(r.DenyLicenses)
	r.IgnoreAdvisories = slices.Clone(r.IgnoreAdvisories)
	return r
}

func (r Rules) maxSeverity() advisory.Severity {
	return severityNames[strings.ToLower(r.MaxSeverity)] // "" is none
}
