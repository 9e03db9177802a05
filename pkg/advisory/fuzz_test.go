package advisory

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseRecord checks the OSV parser never panics, and that a record it
// accepts can be matched against any version without panicking.
func FuzzParseRecord(f *testing.F) {
	files, _ := filepath.Glob("testdata/feed/*.json")
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "1.0.0")
	}
	f.Fuzz(func(t *testing.T, data []byte, version string) {
		r, err := ParseRecord(data)
		if err != nil {
			return
		}
		if r.ID == "" {
			t.Fatal("accepted a record without id")
		}
		for _, a := range r.Affected {
			r.Affects(a.Package.Ecosystem, a.Package.Name, version)
		}
	})
}

// FuzzVersionOrderings checks each ordering never panics and is a total
// order on what it accepts (antisymmetric, transitive): the OSV range
// algorithm sorts events with it.
func FuzzVersionOrderings(f *testing.F) {
	for _, s := range [][3]string{{"1.0.0", "1.0.0-rc.1", "1.0"}, {"1-a1", "1.0-SNAPSHOT", "1.foo"}, {"1:2.3~rc1-1", "2.3-1", "2.3"}, {"1!2.0.post1", "2.0.dev3", "2.0"}, {"v0.0.0-2023-abc", "v1+incompatible", "v1.0.0"}} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		for name, ord := range map[string]Ordering{"go": CompareGo, "semver": CompareSemver, "pep440": ComparePEP440, "maven": CompareMaven, "debian": CompareDebian} {
			ab, err1 := ord(a, b)
			ba, err2 := ord(b, a)
			bc, err3 := ord(b, c)
			ac, err4 := ord(a, c)
			if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
				continue
			}
			if sign(ab) != -sign(ba) {
				t.Errorf("%s: compare(%q,%q)=%d but compare(%q,%q)=%d", name, a, b, ab, b, a, ba)
			}
			if ab <= 0 && bc <= 0 && ac > 0 {
				t.Errorf("%s: %q <= %q <= %q but %q > %q", name, a, b, c, a, c)
			}
		}
	})
}

// FuzzCVSS3 checks the vector parser never panics and stays in 0..10.
func FuzzCVSS3(f *testing.F) {
	f.Add("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
	f.Add("CVSS:3.0/AV:P/AC:H/PR:H/UI:R/S:C/C:L/I:N/A:N")
	f.Fuzz(func(t *testing.T, v string) {
		s, err := CVSS3BaseScore(v)
		if err == nil && (s < 0 || s > 10) {
			t.Fatalf("%q scored %v", v, s)
		}
	})
}
