package run

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// PolicyOutcome is the verdict of the CI run's dependency policy step.
type PolicyOutcome string

const (
	// PolicyPassed: the image's SBOM has no violation.
	PolicyPassed PolicyOutcome = "passed"
	// PolicyFailed: at least one violation; the run fails.
	PolicyFailed PolicyOutcome = "failed"
	// PolicyNone: the platform configures no policy; nothing was checked.
	PolicyNone PolicyOutcome = "none"
)

// MaxPolicyViolations bounds the violations a PolicyCheck lists, so the
// policy step's Task result stays within Tekton's result size (4 KiB per
// TaskRun, shared with the other results).
const MaxPolicyViolations = 10

// maxField bounds each text field of a listed violation for the same reason.
const maxField = 120

// MaxPolicyResultBytes bounds a PolicyCheck's JSON: the termination message
// of a Tekton step holds at most 4096 bytes, results and their framing.
const MaxPolicyResultBytes = 3000

// PolicyCheck is the outcome of the dependency policy for one image digest:
// the JSON the policy step writes as its Task result, and what the store
// keeps per digest.
type PolicyCheck struct {
	Digest string `json:"digest,omitempty"`
	// RunID is the CI run whose policy step produced the check.
	RunID   string        `json:"runId,omitempty"`
	Outcome PolicyOutcome `json:"outcome"`
	// Packages is how many packages the SBOM listed.
	Packages int `json:"packages,omitempty"`
	// Violations are the first MaxPolicyViolations violations.
	Violations []PolicyViolation `json:"violations,omitempty"`
	// More counts the violations left out of Violations.
	More      int       `json:"more,omitempty"`
	CheckedAt time.Time `json:"checkedAt,omitzero"`
}

// PolicyViolation is one line of a policy check: which package, which rule
// or advisory, and the version that fixes it when known.
type PolicyViolation struct {
	Package string `json:"package"`
	Version string `json:"version,omitempty"`
	// Rule is "advisory", "denied-package" or "denied-license".
	Rule string `json:"rule"`
	// ID is the advisory id, the denied purl pattern or the license.
	ID       string `json:"id"`
	Severity string `json:"severity,omitempty"`
	Fixed    string `json:"fixed,omitempty"`
}

// Bound keeps the first MaxPolicyViolations violations, each field cut to a
// bounded length, and counts the rest in More.
func (c *PolicyCheck) Bound() {
	if n := len(c.Violations); n > MaxPolicyViolations {
		c.More += n - MaxPolicyViolations
		c.Violations = c.Violations[:MaxPolicyViolations]
	}
	for i := range c.Violations {
		v := &c.Violations[i]
		for _, f := range []*string{&v.Package, &v.Version, &v.Rule, &v.ID, &v.Severity, &v.Fixed} {
			*f = cut(*f, maxField)
		}
	}
	// Long names can still overflow the message: drop from the end.
	for len(c.Violations) > 1 {
		b, err := json.Marshal(c)
		if err != nil || len(b) <= MaxPolicyResultBytes {
			return
		}
		c.Violations = c.Violations[:len(c.Violations)-1]
		c.More++
	}
}

// Count is the number of violations, listed or not.
func (c *PolicyCheck) Count() int { return len(c.Violations) + c.More }

// String is one violation as a line: "example.com/lib 1.0.0: SLIPWAY-2026-0001 (fixed in 1.2.0)".
func (v PolicyViolation) String() string {
	s := v.Package
	if v.Version != "" {
		s += " " + v.Version
	}
	s += ": " + v.ID
	if v.Rule != "" && v.Rule != "advisory" {
		s += " (" + v.Rule + ")"
	}
	if v.Fixed != "" {
		s += " (fixed in " + v.Fixed + ")"
	}
	return s
}

// Summary is the short form for a commit status: the count and the first
// violation, "2 policy violations, first: example.com/lib 1.0.0: GO-2026-1 (fixed in 1.2.0)".
func (c *PolicyCheck) Summary() string {
	switch c.Outcome {
	case PolicyNone:
		return "no dependency policy"
	case PolicyPassed:
		return fmt.Sprintf("dependency policy passed (%d packages)", c.Packages)
	}
	n := c.Count()
	if n == 0 {
		return "dependency policy failed"
	}
	word := "violation"
	if n > 1 {
		word = "violations"
	}
	return fmt.Sprintf("%d policy %s, first: %s", n, word, c.Violations[0])
}

// Table renders the violations as a Markdown table (MR comments).
func (c *PolicyCheck) Table() string {
	if len(c.Violations) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("| Package | Version | Advisory or rule | Severity | Fixed in |\n|---|---|---|---|---|\n")
	for _, v := range c.Violations {
		id := v.ID
		if v.Rule != "" && v.Rule != "advisory" {
			id = v.Rule + ": " + id
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", md(v.Package), md(v.Version), md(id), md(v.Severity), md(v.Fixed))
	}
	if c.More > 0 {
		fmt.Fprintf(&b, "\n…and %d more.\n", c.More)
	}
	return b.String()
}

func md(s string) string {
	if s == "" {
		return "–"
	}
	return strings.NewReplacer("|", `\|`, "\n", " ", "`", "'").Replace(s)
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n] + "…"
}
