package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/package-url/packageurl-go"

	"github.com/slipway-ci/slipway/pkg/advisory"
	"github.com/slipway-ci/slipway/pkg/sbom"
)

// Rule kinds of a Violation.
const (
	RuleAdvisory = "advisory"
	RulePackage  = "denied-package"
	RuleLicense  = "denied-license"
)

// Violation is one reason an image fails the policy.
type Violation struct {
	Package sbom.Package `json:"package"`
	Rule    string       `json:"rule"`
	// ID is the advisory id, the denied purl pattern or the denied license.
	ID       string   `json:"id"`
	Aliases  []string `json:"aliases,omitempty"`
	Severity string   `json:"severity,omitempty"`
	// Fixed is the lowest version without the advisory, when known.
	Fixed  string `json:"fixed,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Result is the outcome of a policy check.
type Result struct {
	Violations []Violation `json:"violations"`
	// Ignored lists advisories that matched but are accepted by an
	// ignoreAdvisories entry, for the record.
	Ignored []Violation `json:"ignored,omitempty"`
}

// Evaluate checks packages against rules and the advisory feed (which may
// be nil) as of now, the time ignore entries expire against. Violations are
// ordered by package (ecosystem, name, version), then rule, then id.
func Evaluate(pkgs []sbom.Package, rules Rules, feed *advisory.Feed, now time.Time) Result {
	var res Result
	maxSev := rules.maxSeverity()
	allowUnknown := strings.EqualFold(rules.UnknownSeverity, "allow")
	for _, p := range pkgs {
		for _, rule := range rules.DenyPackages {
			if v, ok := rule.check(p); ok {
				res.Violations = append(res.Violations, v)
			}
		}
		if hits := deniedLicenses(p.License, rules.DenyLicenses); len(hits) > 0 {
			for _, h := range hits {
				res.Violations = append(res.Violations, Violation{Package: p, Rule: RuleLicense, ID: h,
					Detail: fmt.Sprintf("license %q is denied", p.License)})
			}
		}
		if feed == nil || p.Ecosystem == "" {
			continue
		}
		for _, m := range feed.Match(p.Ecosystem, p.Name, p.Version) {
			v := Violation{Package: p, Rule: RuleAdvisory, ID: m.ID, Aliases: m.Aliases, Severity: m.Severity.String(), Fixed: m.Fixed, Detail: m.Summary}
			if m.Uncertain != "" {
				v.Detail = "version could not be compared, counted as affected: " + m.Uncertain
			} else if m.Severity == advisory.SeverityUnknown && allowUnknown {
				continue
			} else if m.Severity != advisory.SeverityUnknown && maxSev != advisory.SeverityUnknown && m.Severity <= maxSev {
				continue
			}
			if ig, ok := ignored(rules.IgnoreAdvisories, m, now); ok {
				v.Detail = "ignored: " + ig.Reason
				res.Ignored = append(res.Ignored, v)
				continue
			}
			res.Violations = append(res.Violations, v)
		}
	}
	sortViolations(res.Violations)
	sortViolations(res.Ignored)
	return res
}

func ignored(igs []Ignore, m advisory.Match, now time.Time) (Ignore, bool) {
	for _, ig := range igs {
		exp := ig.expires
		if exp.IsZero() && ig.Expires != "" {
			// Rules built in code rather than by Parse; an unreadable date
			// has expired (fail closed).
			var err error
			if exp, err = time.Parse(time.DateOnly, ig.Expires); err != nil {
				continue
			}
		}
		if !exp.IsZero() && !now.Before(exp) {
			continue
		}
		if strings.EqualFold(ig.ID, m.ID) || slices.ContainsFunc(m.Aliases, func(a string) bool { return strings.EqualFold(a, ig.ID) }) {
			return ig, true
		}
	}
	return Ignore{}, false
}

// check matches a package against a denied-package rule.
func (r PackageRule) check(p sbom.Package) (Violation, bool) {
	if p.PURL == "" || !purlMatches(r.PURL, p.PURL) {
		return Violation{}, false
	}
	v := Violation{Package: p, Rule: RulePackage, ID: r.PURL, Detail: r.Reason}
	if r.Versions != "" {
		v.ID += " " + r.Versions
	}
	c := r.versions
	var err error
	if c == nil && strings.TrimSpace(r.Versions) != "" {
		// Rules built in code rather than by Parse: compile here.
		c, err = parseConstraint(r.Versions)
	}
	ok := false
	if err == nil {
		ok, err = c.matches(p.Ecosystem, p.Version)
	}
	if err != nil {
		// The version can't be placed in the range: count it as denied.
		v.Detail = strings.TrimSpace(v.Detail + " (version could not be compared, counted as denied: " + err.Error() + ")")
		return v, true
	}
	return v, ok
}

// purlMatches matches a purl pattern against a package's purl, ignoring the
// latter's version, qualifiers and subpath and any percent-encoding.
func purlMatches(pattern, purl string) bool {
	pu, err := packageurl.FromString(purl)
	if err != nil {
		return false
	}
	subject := "pkg:" + strings.ToLower(pu.Type) + "/" + pu.Name
	if pu.Namespace != "" {
		subject = "pkg:" + strings.ToLower(pu.Type) + "/" + pu.Namespace + "/" + pu.Name
	}
	typ, rest, _ := strings.Cut(strings.TrimPrefix(pattern, "pkg:"), "/")
	return glob("pkg:"+strings.ToLower(typ)+"/"+unescape(rest), subject)
}

func unescape(s string) string {
	return strings.NewReplacer("%40", "@", "%2F", "/", "%2f", "/").Replace(s)
}

// glob matches s against a pattern where * matches any run of characters,
// "/" included.
func glob(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

func sortViolations(vs []Violation) {
	slices.SortStableFunc(vs, func(a, b Violation) int {
		return cmp.Or(cmp.Compare(a.Package.Ecosystem, b.Package.Ecosystem), cmp.Compare(a.Package.Name, b.Package.Name),
			cmp.Compare(a.Package.Version, b.Package.Version), cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.ID, b.ID))
	})
}
