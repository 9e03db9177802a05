package advisory

import (
	"testing"
)

type cmpCase struct {
	a, b string
	want int
}

func runOrdering(t *testing.T, ord Ordering, cases []cmpCase) {
	t.Helper()
	for _, tc := range cases {
		got, err := ord(tc.a, tc.b)
		if err != nil {
			t.Errorf("compare(%q, %q): %v", tc.a, tc.b, err)
			continue
		}
		if sign(got) != tc.want {
			t.Errorf("compare(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		// Antisymmetry: the reverse comparison must agree.
		if rev, _ := ord(tc.b, tc.a); sign(rev) != -tc.want {
			t.Errorf("compare(%q, %q) = %d, want %d", tc.b, tc.a, rev, -tc.want)
		}
	}
}

func sign(c int) int {
	switch {
	case c < 0:
		return -1
	case c > 0:
		return 1
	}
	return 0
}

func TestCompareGo(t *testing.T) {
	runOrdering(t, CompareGo, []cmpCase{
		{"v1.2.3", "1.2.3", 0}, // OSV writes no "v"
		{"v1.2.3", "v1.10.0", -1},
		{"v1.0.0-rc.1", "v1.0.0", -1},
		{"v1.0.0-alpha", "v1.0.0-alpha.1", -1},
		{"v1.0.0-alpha.beta", "v1.0.0-beta", -1},
		{"v0.0.0-20230101000000-abcdefabcdef", "v0.1.0", -1}, // pseudo-version
		{"v2.0.0+incompatible", "2.0.0", 0},
		{"v2.0.1+incompatible", "v2.0.0+incompatible", 1},
		{"v1.2.3+meta", "v1.2.3", 0},
	})
	for _, bad := range []string{"", "latest", "1.2.3.4", "(devel)"} {
		if _, err := CompareGo(bad, "v1.0.0"); err == nil {
			t.Errorf("CompareGo(%q) accepted an invalid version", bad)
		}
	}
}

func TestCompareSemver(t *testing.T) {
	runOrdering(t, CompareSemver, []cmpCase{
		{"1.2.3", "1.2.3", 0},
		{"1.2.3", "1.10.0", -1},
		{"1.0.0-alpha", "1.0.0-alpha.1", -1},
		{"1.0.0-alpha.1", "1.0.0-alpha.beta", -1},
		{"1.0.0-beta.2", "1.0.0-beta.11", -1},
		{"1.0.0-rc.1", "1.0.0", -1},
		{"1.0.0+build.1", "1.0.0", 0},
		{"4.17.20", "4.17.21", -1},
	})
	if _, err := CompareSemver("not.a.version", "1.0.0"); err == nil {
		t.Error("CompareSemver accepted an invalid version")
	}
}

func TestComparePEP440(t *testing.T) {
	runOrdering(t, ComparePEP440, []cmpCase{
		{"1.0", "1.0.0", 0},
		{"1.0.dev1", "1.0a1", -1},
		{"1.0a1", "1.0b1", -1},
		{"1.0b2", "1.0rc1", -1},
		{"1.0rc1", "1.0", -1},
		{"1.0", "1.0.post1", -1},
		{"1.0", "1!0.5", -1}, // epoch wins
		{"2.31.0", "2.4.0", 1},
		{"1.0+local.1", "1.0", 1},
	})
	if _, err := ComparePEP440("not a version", "1.0"); err == nil {
		t.Error("ComparePEP440 accepted an invalid version")
	}
}

// The examples of the Maven version order specification
// (https://maven.apache.org/pom.html#version-order-specification) and of
// ComparableVersion's own tests.
func TestCompareMaven(t *testing.T) {
	runOrdering(t, CompareMaven, []cmpCase{
		{"1", "1.1", -1},          // number padding
		{"1-snapshot", "1", -1},   // qualifier padding
		{"1", "1-sp", -1},         // sp after release
		{"1-foo2", "1-foo10", -1}, // switching to numeric order
		{"1.foo", "1-foo", 0},     // .qualifier = -qualifier
		{"1-foo", "1-1", -1},      // -qualifier < -number
		{"1-1", "1.1", -1},        // -number < .number
		{"1.ga", "1-ga", 0},       // ga is a null qualifier
		{"1-ga", "1-0", 0},
		{"1-0", "1.0", 0},
		{"1.0", "1", 0},
		{"1-sp", "1-ga", 1},
		{"1-sp.1", "1-ga.1", 1},
		{"1-sp-1", "1-ga-1", -1},
		{"1-ga-1", "1-1", 0},
		{"1-a1", "1-alpha-1", 0},  // a followed by a number is alpha
		{"1-alpha", "1-beta", -1}, // qualifier order
		{"1-beta", "1-milestone", -1},
		{"1-milestone", "1-rc", -1},
		{"1-rc", "1-cr", 0},
		{"1-rc", "1-snapshot", -1},
		{"1-snapshot", "1-final", -1},
		{"1-final", "1", 0},
		{"1-sp", "1-abc", -1}, // unknown qualifiers after the known ones
		{"1-abc", "1-abd", -1},
		{"1.0.0-SNAPSHOT", "1.0.0", -1},
		{"1.0-SNAPSHOT", "1-SNAPSHOT", 0},
		{"2.0.0.RELEASE", "2.0.0", 0},
		// The spec's tokens make ".0.rc" greater than "-rc"; Maven 3.9's
		// ComparableVersion (MNG-7644) departs from the spec and says equal.
		{"1.0.0.RC1", "1.0.0-RC1", 1},
		{"1.0.0-RC1", "1.0.0-RC2", -1},
		{"1.0.0-RC2", "1.0.0", -1},
		{"2.12.7.1", "2.12.7", 1},
		{"2.13.0-rc1", "2.12.7.1", 1},
		{"1.0alpha1", "1.0-alpha-1", 0},
		{"1.0b1", "1.0-beta-1", 0},
		{"1-b", "1-beta", 1}, // b alone is not beta: an unknown qualifier
		{"1.1", "1.01", 0},
		{"20231231", "20240101", -1},
		{"123456789012345678901234567890", "123456789012345678901234567891", -1},
		{"0-1", "1", -1},
	})
	if _, err := CompareMaven("", "1"); err == nil {
		t.Error("CompareMaven accepted an empty version")
	}
}

func TestCompareDebian(t *testing.T) {
	runOrdering(t, CompareDebian, []cmpCase{
		{"1.0", "1.0", 0},
		{"1.0-1", "1.0-2", -1},
		{"1.0~rc1", "1.0", -1}, // tilde before the end
		{"1.0~rc1-1", "1.0-1", -1},
		{"1.0~~", "1.0~", -1},
		{"1.0", "1.0a", -1},
		{"1.0a", "1.0+", -1}, // letters before other characters
		{"1:0.9", "2.0", 1},  // epoch wins
		{"0:1.0", "1.0", 0},
		{"3.0.11-1~deb12u2", "3.0.11-1", -1},
		{"3.0.11-1~deb12u2", "3.0.13-1~deb12u1", -1},
		{"1.2.10", "1.2.9", 1},
		{"1.002", "1.2", 0},
	})
	for _, bad := range []string{"", "x:1.0", "a1.0"} {
		if _, err := CompareDebian(bad, "1.0"); err == nil {
			t.Errorf("CompareDebian(%q) accepted an invalid version", bad)
		}
	}
}

func TestOrderingFor(t *testing.T) {
	for _, eco := range []string{"Go", "npm", "PyPI", "Maven", "Debian", "Debian:12"} {
		if _, err := OrderingFor(eco); err != nil {
			t.Errorf("OrderingFor(%q): %v", eco, err)
		}
	}
	if _, err := OrderingFor("crates.io"); err == nil {
		t.Error("OrderingFor(crates.io) claimed an ordering")
	}
}
