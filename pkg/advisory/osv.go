// Package advisory reads an offline feed of OSV advisories
// (https://ossf.github.io/osv-schema/) and tells which of them affect a
// package version, using each ecosystem's own version ordering.
package advisory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Record is one OSV advisory, reduced to the fields Slipway reads.
type Record struct {
	SchemaVersion string   `json:"schema_version,omitempty"`
	ID            string   `json:"id"`
	Modified      string   `json:"modified,omitempty"`
	Published     string   `json:"published,omitempty"`
	Withdrawn     string   `json:"withdrawn,omitempty"`
	Aliases       []string `json:"aliases,omitempty"`
	Summary       string   `json:"summary,omitempty"`
	// details (often the largest field) is not kept: a full osv.dev
	// mirror is held in memory.
	Severity         []SeverityScore `json:"severity,omitempty"`
	Affected         []Affected      `json:"affected,omitempty"`
	DatabaseSpecific json.RawMessage `json:"database_specific,omitempty"`
}

// SeverityScore is a typed score: a CVSS vector for CVSS_V2/V3/V4, or a
// qualitative word for Ubuntu.
type SeverityScore struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

// Affected names one package and the versions of it the advisory covers.
type Affected struct {
	Package           Package         `json:"package"`
	Severity          []SeverityScore `json:"severity,omitempty"`
	Ranges            []Range         `json:"ranges,omitempty"`
	Versions          []string        `json:"versions,omitempty"`
	EcosystemSpecific json.RawMessage `json:"ecosystem_specific,omitempty"`
	DatabaseSpecific  json.RawMessage `json:"database_specific,omitempty"`
}

// Package identifies a package by OSV ecosystem and name (and maybe purl).
type Package struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	PURL      string `json:"purl,omitempty"`
}

// Range types.
const (
	RangeSemver    = "SEMVER"
	RangeEcosystem = "ECOSYSTEM"
	RangeGit       = "GIT"
)

// Range is a list of version events of one ordering.
type Range struct {
	Type   string  `json:"type"`
	Repo   string  `json:"repo,omitempty"`
	Events []Event `json:"events"`
}

// Event is one of introduced, fixed, last_affected or limit.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// maxRecordSize bounds one record file; osv.dev's largest are a few MB.
const maxRecordSize = 32 << 20

// ParseRecord decodes and checks one OSV record. Unknown fields are allowed
// (the schema grows; a mirror must keep working), missing required ones and
// malformed events are errors.
func ParseRecord(data []byte) (*Record, error) {
	if len(data) > maxRecordSize {
		return nil, fmt.Errorf("record is %d bytes, over the %d limit", len(data), maxRecordSize)
	}
	var r Record
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("decoding OSV record: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decoding OSV record: trailing data after the JSON object")
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

func (r *Record) validate() error {
	if strings.TrimSpace(r.ID) == "" {
		return fmt.Errorf("OSV record has no id")
	}
	for i, a := range r.Affected {
		if a.Package.Ecosystem == "" || a.Package.Name == "" {
			// The schema allows a repository-only entry (GIT ranges, no
			// package); it never matches a package and is skipped.
			if a.Package != (Package{}) || slices.ContainsFunc(a.Ranges, func(rg Range) bool { return rg.Type != RangeGit }) {
				return fmt.Errorf("%s: affected[%d]: package needs ecosystem and name", r.ID, i)
			}
		}
		for j, rg := range a.Ranges {
			if err := rg.validate(); err != nil {
				return fmt.Errorf("%s: affected[%d].ranges[%d]: %w", r.ID, i, j, err)
			}
		}
	}
	return nil
}

func (rg Range) validate() error {
	switch rg.Type {
	case RangeSemver, RangeEcosystem, RangeGit:
	default:
		return fmt.Errorf("unknown range type %q (want SEMVER, ECOSYSTEM or GIT)", rg.Type)
	}
	introduced := false
	for k, e := range rg.Events {
		n := 0
		for _, v := range []string{e.Introduced, e.Fixed, e.LastAffected, e.Limit} {
			if v != "" {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("events[%d] must have exactly one of introduced, fixed, last_affected, limit", k)
		}
		if e.Introduced != "" {
			introduced = true
		}
	}
	if !introduced {
		return fmt.Errorf("no introduced event")
	}
	return nil
}
