package policy

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/sbom"
)

func TestCheck(t *testing.T) {
	vuln := Violation{Package: sbom.Package{Name: "example.com/slipway-vuln", Version: "v1.0.0"}, Rule: RuleAdvisory,
		ID: "SLIPWAY-2026-0001", Severity: "HIGH", Fixed: "1.2.0", Detail: "left out"}
	many := make([]Violation, run.MaxPolicyViolations+3)
	for i := range many {
		many[i] = Violation{Package: sbom.Package{Name: fmt.Sprintf("p%02d", i)}, Rule: RuleLicense, ID: "GPL-3.0-only"}
	}
	tests := []struct {
		name string
		res  Result
		want run.PolicyCheck
	}{
		{"clean", Result{}, run.PolicyCheck{Outcome: run.PolicyPassed, Packages: 7}},
		{"ignored only passes", Result{Ignored: []Violation{vuln}}, run.PolicyCheck{Outcome: run.PolicyPassed, Packages: 7}},
		{"one advisory", Result{Violations: []Violation{vuln}}, run.PolicyCheck{Outcome: run.PolicyFailed, Packages: 7,
			Violations: []run.PolicyViolation{{Package: "example.com/slipway-vuln", Version: "v1.0.0", Rule: "advisory", ID: "SLIPWAY-2026-0001", Severity: "HIGH", Fixed: "1.2.0"}}}},
		{"bounded", Result{Violations: many}, run.PolicyCheck{Outcome: run.PolicyFailed, Packages: 7, More: 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Check(tc.res, 7)
			if tc.name == "bounded" {
				if len(got.Violations) != run.MaxPolicyViolations || got.Count() != len(many) {
					t.Fatalf("bounded to %d listed, %d counted; want %d, %d", len(got.Violations), got.Count(), run.MaxPolicyViolations, len(many))
				}
				got.Violations = nil
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDocumentRoundTrip(t *testing.T) {
	f, err := Load("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rules := f.For("payments", "legacy-billing")
	doc, err := Document(rules)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("the pipeline could not read the document: %v\n%s", err, doc)
	}
	if diff := cmp.Diff(rules, back.For("", ""), cmpopts.IgnoreUnexported(PackageRule{}, Ignore{})); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestEmpty(t *testing.T) {
	for doc, want := range map[string]bool{
		"":                                  true,
		"# nothing yet\n":                   true,
		"default: {}\n":                     true,
		"default: {maxSeverity: none}\n":    false,
		"apps: {web: {maxSeverity: low}}\n": false,
		"teams: {a: {}}\n":                  false,
	} {
		f, err := Parse([]byte(doc))
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		if got := f.Empty(); got != want {
			t.Errorf("Empty(%q) = %v, want %v", doc, got, want)
		}
	}
	if !(*File)(nil).Empty() {
		t.Error("a nil file is not empty")
	}
}
