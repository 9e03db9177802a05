package api

import (
	"regexp"
	"testing"
)

var dns1123 = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$`)

// validName accepts exactly the lower-case DNS names a namespace or
// PipelineRun may have, up to max bytes.
func FuzzValidName(f *testing.F) {
	for _, s := range []string{"slipway-builds", "web-3f786850-abc", "a", "-a", "a-", "A", "a_b", "a.b", "", "ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := len(s) <= 63 && dns1123.MatchString(s)
		if got := validName(s, 63); got != want {
			t.Errorf("validName(%q) = %v, want %v", s, got, want)
		}
	})
}
