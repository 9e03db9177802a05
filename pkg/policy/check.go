package policy

import (
	"encoding/json"
	"fmt"

	"github.com/slipway-ci/slipway/pkg/run"
)

// Check turns a result into the bounded record a CI run stores and shows:
// the outcome, the package count and the first violations.
func Check(res Result, packages int) run.PolicyCheck {
	c := run.PolicyCheck{Outcome: run.PolicyPassed, Packages: packages}
	if len(res.Violations) > 0 {
		c.Outcome = run.PolicyFailed
	}
	for _, v := range res.Violations {
		c.Violations = append(c.Violations, run.PolicyViolation{
			Package: v.Package.Name, Version: v.Package.Version, Rule: v.Rule,
			ID: v.ID, Severity: v.Severity, Fixed: v.Fixed,
		})
	}
	c.Bound()
	return c
}

// Document is a policy file holding only rules as its default: how the
// server hands one app's merged rules to the pipeline's policy step, which
// reads it with Parse.
func Document(rules Rules) (string, error) {
	b, err := json.Marshal(File{Default: rules})
	if err != nil {
		return "", fmt.Errorf("encoding policy rules: %w", err)
	}
	return string(b), nil
}

// Empty reports whether the file sets no rule at any level (an empty or
// comment-only file): the platform configured no policy, and the CI step
// records "no policy" instead of applying the built-in default.
func (f *File) Empty() bool {
	if f == nil {
		return true
	}
	r := f.Default
	return len(f.Teams) == 0 && len(f.Apps) == 0 && r.MaxSeverity == "" && r.UnknownSeverity == "" &&
		len(r.DenyPackages) == 0 && len(r.DenyLicenses) == 0 && len(r.IgnoreAdvisories) == 0
}
