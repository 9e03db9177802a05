package advisory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func ev(kind, v string) Event {
	switch kind {
	case "i":
		return Event{Introduced: v}
	case "f":
		return Event{Fixed: v}
	case "l":
		return Event{LastAffected: v}
	}
	return Event{Limit: v}
}

func TestRangeAffects(t *testing.T) {
	type result struct {
		Affected bool
		Fixed    string
	}
	tests := []struct {
		name    string
		events  []Event
		ord     Ordering
		version string
		want    result
	}{
		{"from zero, before fix", []Event{ev("i", "0"), ev("f", "1.2.0")}, CompareSemver, "1.1.9", result{true, "1.2.0"}},
		{"at the fix", []Event{ev("i", "0"), ev("f", "1.2.0")}, CompareSemver, "1.2.0", result{}},
		{"pre-release of the fix is affected", []Event{ev("i", "0"), ev("f", "1.2.0")}, CompareSemver, "1.2.0-rc.1", result{true, "1.2.0"}},
		{"before introduced", []Event{ev("i", "1.0.0"), ev("f", "1.2.0")}, CompareSemver, "0.9.0", result{}},
		{"at introduced", []Event{ev("i", "1.0.0"), ev("f", "1.2.0")}, CompareSemver, "1.0.0", result{true, "1.2.0"}},
		{"no fix yet", []Event{ev("i", "1.0.0")}, CompareSemver, "9.0.0", result{true, ""}},
		{"at last_affected", []Event{ev("i", "1.0.0"), ev("l", "1.4.0")}, CompareSemver, "1.4.0", result{true, ""}},
		{"after last_affected", []Event{ev("i", "1.0.0"), ev("l", "1.4.0")}, CompareSemver, "1.4.1", result{}},
		// Events out of order in the record: the algorithm sorts them.
		{"unsorted, second range hit", []Event{ev("i", "2.0.0"), ev("f", "2.1.0"), ev("i", "1.0.0"), ev("f", "1.5.0")}, CompareSemver, "2.0.5", result{true, "2.1.0"}},
		{"unsorted, between ranges", []Event{ev("i", "2.0.0"), ev("f", "2.1.0"), ev("i", "1.0.0"), ev("f", "1.5.0")}, CompareSemver, "1.7.0", result{}},
		{"unsorted, first range hit", []Event{ev("i", "2.0.0"), ev("f", "2.1.0"), ev("i", "1.0.0"), ev("f", "1.5.0")}, CompareSemver, "1.0.1", result{true, "1.5.0"}},
		{"limit bounds the range", []Event{ev("i", "0"), ev("lim", "2.0.0")}, CompareSemver, "2.0.0", result{}},
		{"below the limit", []Event{ev("i", "0"), ev("lim", "2.0.0")}, CompareSemver, "1.9.0", result{true, ""}},
		{"Go, v prefix in SBOM", []Event{ev("i", "0"), ev("f", "1.2.0")}, CompareGo, "v1.0.0", result{true, "1.2.0"}},
		{"Go pseudo-version", []Event{ev("i", "0"), ev("f", "0.1.0")}, CompareGo, "v0.0.0-20230101000000-abcdefabcdef", result{true, "0.1.0"}},
		{"Go +incompatible", []Event{ev("i", "2.0.0"), ev("f", "2.3.0")}, CompareGo, "v2.2.0+incompatible", result{true, "2.3.0"}},
		{"PEP 440 rc before the fix", []Event{ev("i", "2.3.0"), ev("f", "2.31.0")}, ComparePEP440, "2.31.0rc1", result{true, "2.31.0"}},
		{"PEP 440 post release after the fix", []Event{ev("i", "2.3.0"), ev("f", "2.31.0")}, ComparePEP440, "2.31.0.post1", result{}},
		{"PEP 440 not string order", []Event{ev("i", "2.3.0"), ev("f", "2.31.0")}, ComparePEP440, "2.4.0", result{true, "2.31.0"}},
		{"Maven qualifier before the fix", []Event{ev("i", "2.13.0"), ev("f", "2.15.0")}, CompareMaven, "2.15.0-rc1", result{true, "2.15.0"}},
		{"Maven alpha before beta", []Event{ev("i", "2.0-beta9"), ev("f", "2.3.1")}, CompareMaven, "2.0-alpha1", result{}},
		{"Maven milestone after beta", []Event{ev("i", "2.0-beta9"), ev("f", "2.3.1")}, CompareMaven, "2.0-m1", result{true, "2.3.1"}},
		{"Maven beta at introduced", []Event{ev("i", "2.0-beta9"), ev("f", "2.3.1")}, CompareMaven, "2.0-beta10", result{true, "2.3.1"}},
		{"Maven release equals .RELEASE", []Event{ev("i", "0"), ev("f", "5.3.18")}, CompareMaven, "5.3.18.RELEASE", result{}},
		{"npm pre-release", []Event{ev("i", "0"), ev("f", "4.17.21")}, CompareSemver, "4.17.21-beta.1", result{true, "4.17.21"}},
		{"Debian tilde", []Event{ev("i", "0"), ev("f", "1.2.3-1~deb12u1")}, CompareDebian, "1.2.3-1~deb12u0", result{true, "1.2.3-1~deb12u1"}},
		{"Debian fixed", []Event{ev("i", "0"), ev("f", "1.2.3-1~deb12u1")}, CompareDebian, "1.2.3-1", result{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fixed, affected, err := rangeAffects(Range{Type: RangeEcosystem, Events: tc.events}, tc.version, tc.ord)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, result{affected, fixed}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestRangeAffectsBadVersion(t *testing.T) {
	_, _, err := rangeAffects(Range{Type: RangeSemver, Events: []Event{ev("i", "0"), ev("f", "one.two")}}, "1.0.0", CompareSemver)
	if err == nil || !strings.Contains(err.Error(), "one.two") {
		t.Fatalf("err = %v, want it to name the bad event version", err)
	}
}

func TestFeedMatch(t *testing.T) {
	feed, err := LoadDir("testdata/feed")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := feed.Len(), 5; got != want {
		t.Errorf("Len = %d, want %d (the withdrawn record dropped)", got, want)
	}
	type m struct {
		ID, Fixed, Severity string
		Score               float64
		Uncertain           bool
	}
	tests := []struct {
		eco, name, version string
		want               []m
	}{
		{"Go", "example.com/slipway-vuln", "v1.0.0", []m{{"SLIPWAY-2026-0001", "1.2.0", "CRITICAL", 9.1, false}}},
		{"Go", "example.com/slipway-vuln", "v1.2.0", nil},
		{"Go", "example.com/slipway-vuln", "(devel)", []m{{"SLIPWAY-2026-0001", "", "CRITICAL", 9.1, true}}},
		{"npm", "lodash", "4.17.20", []m{{"GHSA-35jh-r3h4-6jhm", "4.17.21", "HIGH", 7.2, false}}},
		{"npm", "lodash", "4.17.21", nil},
		{"npm", "Lodash", "4.17.20", nil}, // npm names are case-sensitive
		{"PyPI", "Requests", "2.30.0", []m{{"PYSEC-2023-74", "", "MEDIUM", 0, false}}},
		{"PyPI", "requests", "2.4.1", []m{{"PYSEC-2023-74", "2.31.0", "MEDIUM", 0, false}}},
		{"PyPI", "requests", "2.31.0", nil},
		{"Maven", "org.apache.logging.log4j:log4j-core", "2.14.1", []m{{"GHSA-jfh8-c2jp-5v3q", "2.15.0", "CRITICAL", 10, false}}},
		{"Maven", "org.apache.logging.log4j:log4j-core", "2.12.2", nil},
		{"Maven", "org.apache.logging.log4j:log4j-core", "2.3", []m{{"GHSA-jfh8-c2jp-5v3q", "2.3.1", "CRITICAL", 10, false}}},
		{"Debian:12", "libexample1", "1.2.2-1", []m{{"DSA-TEST-0001", "1.2.3-1~deb12u1", "UNKNOWN", 0, false}}},
		{"Debian", "libexample1", "1.2.2-1", []m{{"DSA-TEST-0001", "1.2.3-1~deb12u1", "UNKNOWN", 0, false}}},
		{"Debian:11", "libexample1", "1.2.2-1", nil}, // another release
	}
	for _, tc := range tests {
		var got []m
		for _, x := range feed.Match(tc.eco, tc.name, tc.version) {
			got = append(got, m{x.ID, x.Fixed, x.Severity.String(), x.Score, x.Uncertain != ""})
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Match(%s, %s, %s) (-want +got):\n%s", tc.eco, tc.name, tc.version, diff)
		}
	}
}

func TestLoadDirErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ok.json", `{"id":"OK-1","affected":[{"package":{"ecosystem":"Go","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`)
	write("broken.json", `{"id":`)
	write("noid.json", `{"summary":"x"}`)
	write("README.md", `not a record`)
	_, err := LoadDir(dir)
	if err == nil {
		t.Fatal("LoadDir accepted a feed with bad records")
	}
	for _, want := range []string{"broken.json", "noid.json: OSV record has no id"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := LoadDir(filepath.Join(dir, "missing")); err == nil {
		t.Error("LoadDir accepted a missing directory")
	}
}

func TestParseRecordErrors(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"no package name", `{"id":"X","affected":[{"package":{"ecosystem":"Go"}}]}`, "needs ecosystem and name"},
		{"no package, not GIT", `{"id":"X","affected":[{"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`, "needs ecosystem and name"},
		{"bad range type", `{"id":"X","affected":[{"package":{"ecosystem":"Go","name":"a"},"ranges":[{"type":"DATE","events":[{"introduced":"0"}]}]}]}`, "unknown range type"},
		{"two kinds in one event", `{"id":"X","affected":[{"package":{"ecosystem":"Go","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0","fixed":"1.0.0"}]}]}]}`, "exactly one of"},
		{"no introduced", `{"id":"X","affected":[{"package":{"ecosystem":"Go","name":"a"},"ranges":[{"type":"SEMVER","events":[{"fixed":"1.0.0"}]}]}]}`, "no introduced event"},
		{"trailing data", `{"id":"X"} {}`, "trailing data"},
		{"not json", `id: X`, "decoding OSV record"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRecord([]byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// A repository-only entry (GIT ranges, no package) is valid OSV and
// matches nothing.
func TestRepositoryOnlyRecord(t *testing.T) {
	r, err := ParseRecord([]byte(`{"id":"OSV-2026-1","affected":[{"ranges":[{"type":"GIT","repo":"https://git.example/x","events":[{"introduced":"0"},{"fixed":"abc"}]}],"versions":["1.0.0"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := NewFeed(r).Match("Go", "", "1.0.0"); got != nil {
		t.Errorf("matched %v", got)
	}
}

func TestCVSS3BaseScore(t *testing.T) {
	tests := []struct {
		vector string
		want   float64
	}{
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N", 5.4},
		{"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8},
		{"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9},
		{"CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6},
		{"CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N", 6.4},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O", 9.8}, // temporal ignored
	}
	for _, tc := range tests {
		got, err := CVSS3BaseScore(tc.vector)
		if err != nil {
			t.Errorf("%s: %v", tc.vector, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s = %v, want %v", tc.vector, got, tc.want)
		}
	}
	for _, bad := range []string{
		"AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
		"CVSS:2.0/AV:N",
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",
		"CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
		"CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:X/C:H/I:H/A:H",
	} {
		if _, err := CVSS3BaseScore(bad); err == nil {
			t.Errorf("CVSS3BaseScore(%q) accepted an invalid vector", bad)
		}
	}
}
