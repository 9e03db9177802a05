package policy

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseExample(t *testing.T) {
	f, err := Load("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(f.Default.DenyPackages); got != 2 {
		t.Fatalf("default has %d denied packages, want 2", got)
	}
	if f.Teams["payments"].Apps["legacy-billing"].IgnoreAdvisories[0].expires.IsZero() {
		t.Error("expires was not parsed")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown key", "default:\n  maxSeverty: high\n", `unknown field "maxSeverty"`},
		{"unknown top-level key", "defaults: {}\n", `unknown field "defaults"`},
		{"bad top-level app", "apps:\n  web:\n    maxSeverity: severe\n", `apps.web.maxSeverity: "severe"`},
		{"unknown key in an app", "teams:\n  a:\n    apps:\n      b:\n        denyLicense: [MIT]\n", `unknown field "denyLicense"`},
		{"duplicate key", "default:\n  maxSeverity: high\n  maxSeverity: low\n", "maxSeverity"},
		{"bad severity", "default:\n  maxSeverity: severe\n", `default.maxSeverity: "severe" is not one of`},
		{"bad unknownSeverity", "default:\n  unknownSeverity: maybe\n", "default.unknownSeverity"},
		{"bad purl", "default:\n  denyPackages: [{purl: lodash}]\n", `default.denyPackages[0].purl: "lodash" is not a purl pattern`},
		{"version in purl", "default:\n  denyPackages: [{purl: pkg:npm/lodash@4.17.20}]\n", "give versions in the versions field"},
		{"bad range", "teams:\n  t:\n    denyPackages: [{purl: pkg:npm/lodash, versions: '~4.17'}]\n", `teams.t.denyPackages[0].versions: "~4.17"`},
		{"empty comparison", "default:\n  denyPackages: [{purl: pkg:npm/lodash, versions: '>=1.0.0,'}]\n", "empty comparison"},
		{"bad license", "default:\n  denyLicenses: [GPL3]\n", `default.denyLicenses[0]: ["GPL3"] is not an SPDX license id`},
		{"ignore without reason", "default:\n  ignoreAdvisories: [{id: GHSA-1}]\n", "(GHSA-1): a reason is required"},
		{"ignore without id", "default:\n  ignoreAdvisories: [{reason: x}]\n", "id is required"},
		{"bad expiry", "default:\n  ignoreAdvisories: [{id: X, reason: y, expires: next week}]\n", "is not a date"},
		{"not YAML", "default: [\n", "decoding policy"},
		{"wrong type", "default:\n  denyLicenses: MIT\n", "decoding policy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestFor(t *testing.T) {
	f, err := Load("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		MaxSeverity  string
		DenyPackages []string
		DenyLicenses []string
		Ignore       []string
	}
	sum := func(r Rules) summary {
		s := summary{MaxSeverity: r.MaxSeverity, DenyLicenses: r.DenyLicenses}
		for _, p := range r.DenyPackages {
			s.DenyPackages = append(s.DenyPackages, p.PURL)
		}
		for _, i := range r.IgnoreAdvisories {
			s.Ignore = append(s.Ignore, i.ID)
		}
		return s
	}
	global := []string{"AGPL-3.0-only", "AGPL-3.0-or-later", "SSPL-1.0"}
	pkgs := []string{"pkg:npm/event-stream", "pkg:maven/org.apache.logging.log4j/log4j-core"}
	tests := []struct {
		team, app string
		want      summary
	}{
		{"", "", summary{"medium", pkgs, global, nil}},
		{"unknown-team", "x", summary{"medium", pkgs, global, nil}},
		// The team replaces the threshold and adds a license.
		{"payments", "api", summary{"low", pkgs, append(global[:3:3], "GPL-*"), nil}},
		// The app replaces the threshold again and adds an ignore; the
		// team's and default's lists stay.
		{"payments", "legacy-billing", summary{"high", pkgs, append(global[:3:3], "GPL-*"), []string{"CVE-2021-23337"}}},
		// A top-level apps entry applies without a team: it replaces the
		// threshold and adds a package; the default's lists stay.
		{"", "web", summary{"critical", append(pkgs[:2:2], "pkg:golang/example.com/slipway-vuln"), global, nil}},
		// ...and over a team's rules, merged last.
		{"payments", "web", summary{"critical", append(pkgs[:2:2], "pkg:golang/example.com/slipway-vuln"), append(global[:3:3], "GPL-*"), nil}},
		// Another app of no team gets the default only.
		{"", "api", summary{"medium", pkgs, global, nil}},
	}
	for _, tc := range tests {
		got := sum(f.For(tc.team, tc.app))
		if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("For(%q, %q) (-want +got):\n%s", tc.team, tc.app, diff)
		}
	}
	// For must not alias the file's slices: merging twice gives the same.
	a := f.For("payments", "legacy-billing")
	b := f.For("payments", "legacy-billing")
	if diff := cmp.Diff(sum(a), sum(b)); diff != "" {
		t.Errorf("second For differs (-first +second):\n%s", diff)
	}
	if got := len(f.Default.DenyLicenses); got != 3 {
		t.Errorf("For changed the default's licenses: %d", got)
	}
}

func TestMerge(t *testing.T) {
	base := Rules{MaxSeverity: "high", UnknownSeverity: "allow", DenyLicenses: []string{"A"}, DenyPackages: []PackageRule{{PURL: "pkg:npm/a"}}, IgnoreAdvisories: []Ignore{{ID: "X", Reason: "r"}}}
	tests := []struct {
		name string
		over Rules
		want Rules
	}{
		{"empty override keeps everything", Rules{}, base},
		{"scalars replace", Rules{MaxSeverity: "none", UnknownSeverity: "deny"},
			Rules{MaxSeverity: "none", UnknownSeverity: "deny", DenyLicenses: []string{"A"}, DenyPackages: []PackageRule{{PURL: "pkg:npm/a"}}, IgnoreAdvisories: []Ignore{{ID: "X", Reason: "r"}}}},
		{"lists add", Rules{DenyLicenses: []string{"B"}, DenyPackages: []PackageRule{{PURL: "pkg:npm/b"}}, IgnoreAdvisories: []Ignore{{ID: "Y", Reason: "s"}}},
			Rules{MaxSeverity: "high", UnknownSeverity: "allow", DenyLicenses: []string{"A", "B"}, DenyPackages: []PackageRule{{PURL: "pkg:npm/a"}, {PURL: "pkg:npm/b"}}, IgnoreAdvisories: []Ignore{{ID: "X", Reason: "r"}, {ID: "Y", Reason: "s"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Merge(base, tc.over)
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(PackageRule{}, Ignore{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if len(base.DenyLicenses) != 1 {
		t.Error("Merge changed its base")
	}
}

func TestDeniedLicenses(t *testing.T) {
	denied := []string{"GPL-3.0-only", "AGPL-*", "LicenseRef-proprietary"}
	tests := []struct {
		expr string
		want []string
	}{
		{"MIT", nil},
		{"GPL-3.0-only", []string{"GPL-3.0-only"}},
		{"gpl-3.0-only", []string{"GPL-3.0-only"}}, // ids are case-insensitive
		{"MIT OR GPL-3.0-only", nil},               // MIT can be chosen
		{"GPL-3.0-only OR MIT", nil},
		{"MIT AND GPL-3.0-only", []string{"GPL-3.0-only"}},
		{"(MIT AND GPL-3.0-only) OR Apache-2.0", nil},
		{"(MIT OR Apache-2.0) AND GPL-3.0-only", []string{"GPL-3.0-only"}},
		{"GPL-3.0-only OR AGPL-3.0-only", []string{"AGPL-*", "GPL-3.0-only"}},
		{"AGPL-3.0-or-later", []string{"AGPL-*"}},
		{"GPL-2.0-or-later", nil}, // GPL-2.0 may be chosen
		{"GPL-3.0-only WITH Classpath-exception-2.0", []string{"GPL-3.0-only"}},
		{"LicenseRef-proprietary AND MIT", []string{"LicenseRef-proprietary"}},
		{"", nil},
		// Unreadable by the SPDX parser: judged by its words.
		{"GPL-3.0-only and some text", []string{"GPL-3.0-only"}},
		{"BSD-style, see LICENSE", nil},
	}
	for _, tc := range tests {
		got := deniedLicenses(tc.expr, denied)
		if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("deniedLicenses(%q) (-want +got):\n%s", tc.expr, diff)
		}
	}
}

func TestConstraint(t *testing.T) {
	tests := []struct {
		rng, eco, version string
		want              bool
	}{
		{"", "npm", "1.0.0", true},
		{"*", "npm", "1.0.0", true},
		{">=1.0.0, <1.4.2", "npm", "1.4.1", true},
		{">=1.0.0, <1.4.2", "npm", "1.4.2", false},
		{">=1.0.0, <1.4.2", "npm", "1.4.2-rc.1", true},
		{"<1.0.0 || =2.0.0", "npm", "2.0.0", true},
		{"<1.0.0 || =2.0.0", "npm", "1.5.0", false},
		{"!=3.3.6", "npm", "3.3.6", false},
		{"<v1.2.0", "Go", "v1.2.0-pre", true},
		{"<=1.2.0", "Go", "v1.2.0+incompatible", true},
		{"<2.31", "PyPI", "2.4", true},         // not string order
		{">=2.31", "PyPI", "2.31.0rc1", false}, // a pre-release is before
		{"<2.17.1", "Maven", "2.17.0-rc1", true},
		{"<2.17.1", "Maven", "2.17.1.RELEASE", false},
		{">=2.0-beta9", "Maven", "2.0-alpha1", false},
		{"<1.2.3-1~deb12u1", "Debian:12", "1.2.3-1~deb12u0", true},
		{"=1.0", "crates.io", "1.0", true}, // no ordering: = by text
	}
	for _, tc := range tests {
		c, err := parseConstraint(tc.rng)
		if err != nil {
			t.Fatalf("%q: %v", tc.rng, err)
		}
		got, err := c.matches(tc.eco, tc.version)
		if err != nil {
			t.Errorf("%q matches(%s %s): %v", tc.rng, tc.eco, tc.version, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%q matches(%s %s) = %v, want %v", tc.rng, tc.eco, tc.version, got, tc.want)
		}
	}
	c, _ := parseConstraint("<1.0")
	if _, err := c.matches("crates.io", "0.9"); err == nil {
		t.Error("an ordering comparison in an ecosystem without ordering gave no error")
	}
	if _, err := c.matches("npm", "not-a-version"); err == nil {
		t.Error("an unparseable version gave no error")
	}
}

func TestPurlMatches(t *testing.T) {
	tests := []struct {
		pattern, purl string
		want          bool
	}{
		{"pkg:npm/lodash", "pkg:npm/lodash@4.17.20", true},
		{"pkg:npm/lodash", "pkg:npm/lodash-es@4.17.20", false},
		{"pkg:npm/@babel/*", "pkg:npm/%40babel/core@7.24.0", true},
		{"pkg:npm/%40babel/core", "pkg:npm/%40babel/core@7.24.0", true},
		{"pkg:golang/github.com/evil/*", "pkg:golang/github.com/evil/lib/v2@v2.0.0", true},
		{"pkg:golang/github.com/evil/*", "pkg:golang/github.com/good/lib@v1.0.0", false},
		{"pkg:deb/debian/libssl3", "pkg:deb/debian/libssl3@3.0.11-1?arch=amd64&distro=debian-12", true},
		{"pkg:NPM/lodash", "pkg:npm/lodash@1.0.0", true}, // type is case-insensitive
		{"pkg:*/log4j-core", "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1", true},
		{"pkg:npm/lodash", "not a purl", false},
	}
	for _, tc := range tests {
		if got := purlMatches(tc.pattern, tc.purl); got != tc.want {
			t.Errorf("purlMatches(%q, %q) = %v, want %v", tc.pattern, tc.purl, got, tc.want)
		}
	}
}

// FuzzParse checks the policy parser never panics and that what it accepts
// can be merged and its ranges evaluated.
func FuzzParse(f *testing.F) {
	data, err := os.ReadFile("testdata/policy.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data, "1.0.0")
	f.Add([]byte("default: {denyPackages: [{purl: 'pkg:npm/a', versions: '<1 || >=2, !=3'}]}"), "2.5.0")
	f.Fuzz(func(t *testing.T, data []byte, version string) {
		p, err := Parse(data)
		if err != nil {
			return
		}
		for team, tm := range p.Teams {
			for app := range tm.Apps {
				r := p.For(team, app)
				for _, d := range r.DenyPackages {
					_, _ = d.versions.matches("npm", version)
				}
			}
		}
	})
}

// FuzzConstraint checks the range parser never panics.
func FuzzConstraint(f *testing.F) {
	for _, s := range []string{">=1.0.0, <1.4.2", "<1 || =2", "*", "!=1.0"} {
		f.Add(s, "1.2.0")
	}
	f.Fuzz(func(t *testing.T, s, v string) {
		c, err := parseConstraint(s)
		if err != nil {
			return
		}
		for _, eco := range []string{"Go", "npm", "PyPI", "Maven", "Debian", "crates.io"} {
			_, _ = c.matches(eco, v)
		}
	})
}
