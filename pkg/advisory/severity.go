package advisory

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Severity is a qualitative level; the zero value is unknown.
type Severity int

// Levels, in increasing order.
const (
	SeverityUnknown Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = []string{"UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("Severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity reads a level word as feeds write it: LOW, MEDIUM or
// MODERATE (GitHub's word), HIGH, CRITICAL, in any case.
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "LOW", "NEGLIGIBLE":
		return SeverityLow, nil
	case "MEDIUM", "MODERATE":
		return SeverityMedium, nil
	case "HIGH":
		return SeverityHigh, nil
	case "CRITICAL":
		return SeverityCritical, nil
	}
	return SeverityUnknown, fmt.Errorf("unknown severity %q (want LOW, MEDIUM, HIGH or CRITICAL)", s)
}

// MarshalText writes the level's name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// SeverityFromScore maps a CVSS v3 base score to its qualitative rating.
func SeverityFromScore(score float64) Severity {
	switch {
	case score >= 9:
		return SeverityCritical
	case score >= 7:
		return SeverityHigh
	case score >= 4:
		return SeverityMedium
	}
	return SeverityLow
}

// severityOf rates the advisory for one affected entry: the highest CVSS v3
// base score among the record's and the entry's vectors; failing that, the
// highest level word in database_specific / ecosystem_specific "severity"
// (GitHub, Go) or an Ubuntu score; otherwise unknown. CVSS v2 and v4
// vectors are not scored.
func (r *Record) severityOf(a *Affected) (Severity, float64) {
	best := -1.0
	words := SeverityUnknown
	for _, s := range append(append([]SeverityScore(nil), r.Severity...), a.Severity...) {
		switch s.Type {
		case "CVSS_V3":
			if score, err := CVSS3BaseScore(s.Score); err == nil && score > best {
				best = score
			}
		case "Ubuntu":
			if lv, err := ParseSeverity(s.Score); err == nil && lv > words {
				words = lv
			}
		}
	}
	if best >= 0 {
		return SeverityFromScore(best), best
	}
	for _, raw := range []json.RawMessage{r.DatabaseSpecific, a.DatabaseSpecific, a.EcosystemSpecific} {
		var ds struct {
			Severity any `json:"severity"`
		}
		if len(raw) == 0 || json.Unmarshal(raw, &ds) != nil {
			continue
		}
		if w, ok := ds.Severity.(string); ok {
			if lv, err := ParseSeverity(w); err == nil && lv > words {
				words = lv
			}
		}
	}
	return words, 0
}
