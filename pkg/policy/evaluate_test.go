package policy

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/advisory"
	"github.com/slipway-ci/slipway/pkg/sbom"
)

var image = []sbom.Package{
	{Ecosystem: "npm", Name: "lodash", Version: "4.17.20", PURL: "pkg:npm/lodash@4.17.20", License: "MIT"},
	{Ecosystem: "Go", Name: "example.com/slipway-vuln", Version: "v1.0.0", PURL: "pkg:golang/example.com/slipway-vuln@v1.0.0", License: "MIT"},
	{Ecosystem: "Go", Name: "example.com/fine", Version: "v1.0.0", PURL: "pkg:golang/example.com/fine@v1.0.0", License: "MIT OR AGPL-3.0-only"},
	{Ecosystem: "PyPI", Name: "requests", Version: "2.30.0", PURL: "pkg:pypi/requests@2.30.0", License: "Apache-2.0"},
	{Ecosystem: "Maven", Name: "org.apache.logging.log4j:log4j-core", Version: "2.14.1", PURL: "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"},
	{Ecosystem: "Debian:12", Name: "libexample1", Version: "1.2.2-1", PURL: "pkg:deb/debian/libexample1@1.2.2-1?distro=debian-12", License: "AGPL-3.0-only AND MIT"},
	{Ecosystem: "npm", Name: "event-stream", Version: "3.3.6", PURL: "pkg:npm/event-stream@3.3.6", License: "MIT"},
	{Name: "/app/server"},
}

func TestEvaluate(t *testing.T) {
	feed, err := advisory.LoadDir("../advisory/testdata/feed")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	base := `
default:
  denyLicenses: [AGPL-3.0-only]
  denyPackages:
    - purl: pkg:npm/event-stream
      versions: "=3.3.6"
      reason: malicious release
    - purl: pkg:npm/event-stream
      versions: "<3.0.0"
      reason: too old
`
	type v struct{ Pkg, Rule, ID, Severity, Fixed string }
	all := []v{
		{"libexample1", RuleAdvisory, "DSA-TEST-0001", "UNKNOWN", "1.2.3-1~deb12u1"},
		{"libexample1", RuleLicense, "AGPL-3.0-only", "", ""},
		{"example.com/slipway-vuln", RuleAdvisory, "SLIPWAY-2026-0001", "CRITICAL", "1.2.0"},
		{"org.apache.logging.log4j:log4j-core", RuleAdvisory, "GHSA-jfh8-c2jp-5v3q", "CRITICAL", "2.15.0"},
		{"requests", RuleAdvisory, "PYSEC-2023-74", "MEDIUM", ""},
		{"event-stream", RulePackage, "pkg:npm/event-stream =3.3.6", "", ""},
		{"lodash", RuleAdvisory, "GHSA-35jh-r3h4-6jhm", "HIGH", "4.17.21"},
	}
	tests := []struct {
		name        string
		extra       string
		feed        *advisory.Feed
		want        []v
		wantIgnored []v
	}{
		{"default threshold: every advisory", "", feed, all, nil},
		{"high threshold keeps critical and unknown", "  maxSeverity: high\n", feed, []v{all[0], all[1], all[2], all[3], all[5]}, nil},
		{"unknown severity allowed", "  maxSeverity: high\n  unknownSeverity: allow\n", feed, []v{all[1], all[2], all[3], all[5]}, nil},
		{"critical threshold: no advisory fails", "  maxSeverity: critical\n  unknownSeverity: allow\n", feed, []v{all[1], all[5]}, nil},
		{"ignored by alias", "  ignoreAdvisories: [{id: CVE-2021-23337, reason: not reachable, expires: '2027-01-01'}]\n", feed,
			all[:6], []v{all[6]}},
		{"expired ignore counts again", "  ignoreAdvisories: [{id: GHSA-35jh-r3h4-6jhm, reason: not reachable, expires: '2026-12-01'}]\n", feed, all, nil},
		{"no feed: packages and licenses only", "", nil, []v{all[1], all[5]}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse([]byte(base + tc.extra))
			if err != nil {
				t.Fatal(err)
			}
			res := Evaluate(image, f.For("", ""), tc.feed, now)
			sum := func(vs []Violation) []v {
				var out []v
				for _, x := range vs {
					out = append(out, v{x.Package.Name, x.Rule, x.ID, x.Severity, x.Fixed})
				}
				return out
			}
			if diff := cmp.Diff(tc.want, sum(res.Violations)); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantIgnored, sum(res.Ignored)); diff != "" {
				t.Errorf("ignored (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvaluateDetails(t *testing.T) {
	feed, err := advisory.LoadDir("../advisory/testdata/feed")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse([]byte("default:\n  maxSeverity: critical\n  denyPackages: [{purl: 'pkg:golang/example.com/*', versions: '<1.0.0', reason: pre-1.0 APIs}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	devel := sbom.Package{Ecosystem: "Go", Name: "example.com/slipway-vuln", Version: "(devel)", PURL: "pkg:golang/example.com/slipway-vuln@(devel)"}
	got := Evaluate([]sbom.Package{devel}, f.For("", ""), feed, time.Now()).Violations
	want := []Violation{{
		// A version the ordering can't read fails closed, whatever the threshold.
		Package: devel, Rule: RuleAdvisory, ID: "SLIPWAY-2026-0001", Aliases: []string{"CVE-2026-99901"}, Severity: "CRITICAL",
		Detail: `version could not be compared, counted as affected: package version: "v(devel)" is not a Go module version`,
	}, {
		Package: devel, Rule: RulePackage, ID: "pkg:golang/example.com/* <1.0.0",
		Detail: `pre-1.0 APIs (version could not be compared, counted as denied: "v(devel)" is not a Go module version)`,
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// Rules built in code (not by Parse) must behave the same: ranges and
// expiry dates are read when used.
func TestEvaluateUnparsedRules(t *testing.T) {
	feed, err := advisory.LoadDir("../advisory/testdata/feed")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	pkgs := []sbom.Package{
		{Ecosystem: "npm", Name: "lodash", Version: "4.17.20", PURL: "pkg:npm/lodash@4.17.20"},
		{Ecosystem: "npm", Name: "event-stream", Version: "3.3.5", PURL: "pkg:npm/event-stream@3.3.5"},
	}
	rules := Rules{
		DenyPackages:     []PackageRule{{PURL: "pkg:npm/event-stream", Versions: "=3.3.6"}, {PURL: "pkg:npm/lodash", Versions: "~bad"}},
		IgnoreAdvisories: []Ignore{{ID: "GHSA-35jh-r3h4-6jhm", Reason: "r", Expires: "2026-11-30"}},
	}
	var got []string
	for _, v := range Evaluate(pkgs, rules, feed, now).Violations {
		got = append(got, v.Package.Name+" "+v.Rule+" "+v.ID)
	}
	want := []string{
		"lodash advisory GHSA-35jh-r3h4-6jhm",       // the ignore has expired
		"lodash denied-package pkg:npm/lodash ~bad", // an unreadable range denies
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
