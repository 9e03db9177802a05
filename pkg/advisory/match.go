package advisory

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Match is an advisory that affects a package version.
type Match struct {
	ID       string
	Aliases  []string
	Summary  string
	Severity Severity
	Score    float64 // CVSS v3 base score; 0 when none was given
	// Fixed is the lowest fixed version above the matched version, when
	// the advisory names one.
	Fixed string
	// Uncertain says why the match could not be decided (a version the
	// ecosystem's ordering cannot read); such a match is reported rather
	// than dropped, so that bad data fails closed.
	Uncertain string
}

// Affects reports whether the record covers version of the package
// (ecosystem, name). The package's ecosystem may carry a release
// ("Debian:12"); a record for another release of it does not match.
func (r *Record) Affects(ecosystem, name, version string) (Match, bool) {
	m := Match{ID: r.ID, Aliases: r.Aliases, Summary: r.Summary}
	hit := false
	for i := range r.Affected {
		a := &r.Affected[i]
		if !samePackage(a.Package, ecosystem, name) {
			continue
		}
		fixed, ok, err := a.affects(ecosystem, version)
		if err != nil {
			m.Uncertain = err.Error()
			ok = true
		}
		if !ok {
			continue
		}
		sev, score := r.severityOf(a)
		if !hit || sev > m.Severity {
			m.Severity, m.Score = sev, score
		}
		if m.Fixed == "" {
			m.Fixed = fixed
		}
		hit = true
	}
	return m, hit
}

func samePackage(p Package, ecosystem, name string) bool {
	pe, prel, _ := strings.Cut(p.Ecosystem, ":")
	e, rel, _ := strings.Cut(ecosystem, ":")
	if pe != e || (prel != "" && rel != "" && prel != rel) {
		return false
	}
	return NormalizeName(pe, p.Name) == NormalizeName(e, name)
}

// NormalizeName puts a package name in the form OSV compares: PyPI names
// per PEP 503 (case and runs of -_. folded), others unchanged.
func NormalizeName(ecosystem, name string) string {
	if ecosystem != EcosystemPyPI {
		return name
	}
	var b strings.Builder
	sep := false
	for _, c := range strings.ToLower(name) {
		if c == '-' || c == '_' || c == '.' {
			sep = true
			continue
		}
		if sep && b.Len() > 0 {
			b.WriteByte('-')
		}
		sep = false
		b.WriteRune(c)
	}
	return b.String()
}

// affects evaluates the explicit versions list and every range.
func (a *Affected) affects(ecosystem, version string) (fixed string, ok bool, err error) {
	eco, ordErr := OrderingFor(ecosystem)
	for _, v := range a.Versions {
		if v == version {
			return "", true, nil
		}
		if ordErr == nil {
			if c, err := eco(v, version); err == nil && c == 0 {
				return "", true, nil
			}
		}
	}
	var errs []string
	for _, rg := range a.Ranges {
		ord := eco
		switch {
		case rg.Type == RangeGit:
			continue // needs the repository's history; the versions list covers it
		case rg.Type == RangeSemver && baseEcosystem(ecosystem) != EcosystemGo:
			ord = CompareSemver
		case ordErr != nil:
			continue // an ecosystem without an ordering: only the versions list
		}
		f, hit, err := rangeAffects(rg, version, ord)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if hit {
			return f, true, nil
		}
	}
	if len(errs) > 0 {
		return "", false, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return "", false, nil
}

func baseEcosystem(e string) string {
	b, _, _ := strings.Cut(e, ":")
	return b
}

// eventVersion returns the event's version and whether it is introduced=0,
// which sorts before every version.
func eventVersion(e Event) (string, bool) {
	switch {
	case e.Introduced != "":
		return e.Introduced, e.Introduced == "0"
	case e.Fixed != "":
		return e.Fixed, false
	case e.LastAffected != "":
		return e.LastAffected, false
	}
	return e.Limit, false
}

// rangeAffects is OSV's evaluation algorithm for SEMVER and ECOSYSTEM
// ranges: sort the events by version, walk them, an introduced at or below
// the version turns "affected" on, a fixed at or below it (or a
// last_affected strictly below it) turns it off. limit events bound the
// range from above. fixed is the first fixed event above the version.
func rangeAffects(rg Range, version string, cmp Ordering) (fixed string, affected bool, err error) {
	var limits []string
	events := make([]Event, 0, len(rg.Events))
	for _, e := range rg.Events {
		if e.Limit != "" {
			limits = append(limits, e.Limit)
			continue
		}
		events = append(events, e)
	}
	// Check every version once, so that sorting can't hit an error midway.
	if _, err := cmp(version, version); err != nil {
		return "", false, fmt.Errorf("package version: %w", err)
	}
	for _, e := range rg.Events {
		if v, zero := eventVersion(e); !zero {
			if _, err := cmp(v, v); err != nil {
				return "", false, fmt.Errorf("%s range event: %w", rg.Type, err)
			}
		}
	}
	less := func(a, b Event) int {
		va, za := eventVersion(a)
		vb, zb := eventVersion(b)
		switch {
		case za && zb:
			return 0
		case za:
			return -1
		case zb:
			return 1
		}
		c, _ := cmp(va, vb)
		return c
	}
	slices.SortStableFunc(events, less)
	if len(limits) > 0 && !slices.ContainsFunc(limits, func(l string) bool {
		c, _ := cmp(version, l)
		return c < 0
	}) {
		return "", false, nil
	}
	for _, e := range events {
		v, zero := eventVersion(e)
		c := 1
		if !zero {
			c, _ = cmp(version, v)
		}
		switch {
		case e.Introduced != "":
			if c >= 0 {
				affected = true
			}
		case e.Fixed != "":
			if c >= 0 {
				affected = false
			}
		case e.LastAffected != "":
			if c > 0 {
				affected = false
			}
		}
	}
	if !affected {
		return "", false, nil
	}
	for _, e := range events {
		if e.Fixed != "" {
			if c, _ := cmp(e.Fixed, version); c > 0 {
				return e.Fixed, true, nil
			}
		}
	}
	return "", true, nil
}

// sortMatches orders matches by advisory id.
func sortMatches(ms []Match) {
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
}
