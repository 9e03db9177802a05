package run

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPolicyCheckText(t *testing.T) {
	vuln := PolicyViolation{Package: "example.com/slipway-vuln", Version: "v1.0.0", Rule: "advisory", ID: "SLIPWAY-2026-0001", Severity: "HIGH", Fixed: "1.2.0"}
	lic := PolicyViolation{Package: "left|pad", Version: "1.0", Rule: "denied-license", ID: "GPL-3.0-only"}
	tests := []struct {
		name         string
		check        PolicyCheck
		summary      string
		tableContent []string
	}{
		{"none", PolicyCheck{Outcome: PolicyNone}, "no dependency policy", nil},
		{"passed", PolicyCheck{Outcome: PolicyPassed, Packages: 12}, "dependency policy passed (12 packages)", nil},
		{"one", PolicyCheck{Outcome: PolicyFailed, Violations: []PolicyViolation{vuln}},
			"1 policy violation, first: example.com/slipway-vuln v1.0.0: SLIPWAY-2026-0001 (fixed in 1.2.0)",
			[]string{"| example.com/slipway-vuln | v1.0.0 | SLIPWAY-2026-0001 | HIGH | 1.2.0 |"}},
		{"rule and more", PolicyCheck{Outcome: PolicyFailed, Violations: []PolicyViolation{lic, vuln}, More: 4},
			"6 policy violations, first: left|pad 1.0: GPL-3.0-only (denied-license)",
			[]string{`| left\|pad | 1.0 | denied-license: GPL-3.0-only | – | – |`, "…and 4 more."}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.summary, tc.check.Summary()); diff != "" {
				t.Errorf("Summary (-want +got):\n%s", diff)
			}
			table := tc.check.Table()
			for _, want := range tc.tableContent {
				if !strings.Contains(table, want) {
					t.Errorf("Table lacks %q:\n%s", want, table)
				}
			}
			if tc.tableContent == nil && table != "" {
				t.Errorf("Table = %q, want empty", table)
			}
		})
	}
}

func TestPolicyCheckBound(t *testing.T) {
	c := PolicyCheck{Outcome: PolicyFailed, More: 1}
	for range MaxPolicyViolations + 5 {
		c.Violations = append(c.Violations, PolicyViolation{Package: strings.Repeat("é", 200), ID: "X"})
	}
	c.Bound()
	if len(c.Violations) != MaxPolicyViolations || c.More != 6 || c.Count() != MaxPolicyViolations+6 {
		t.Fatalf("listed %d, more %d", len(c.Violations), c.More)
	}
	p := c.Violations[0].Package
	if len(p) > maxField+len("…") || !strings.HasSuffix(p, "…") || strings.ContainsRune(p, '\uFFFD') {
		t.Errorf("package not cut on a rune boundary: %q (%d bytes)", p, len(p))
	}
}

func TestPolicyCheckBoundBytes(t *testing.T) {
	c := PolicyCheck{Outcome: PolicyFailed, Packages: 99}
	for range MaxPolicyViolations {
		long := strings.Repeat("x", maxField)
		c.Violations = append(c.Violations, PolicyViolation{Package: long, Version: long, Rule: "advisory", ID: long, Severity: "CRITICAL", Fixed: long})
	}
	c.Bound()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxPolicyResultBytes || c.Count() != MaxPolicyViolations || len(c.Violations) == 0 {
		t.Errorf("%d bytes, %d listed, %d counted", len(b), len(c.Violations), c.Count())
	}
}
