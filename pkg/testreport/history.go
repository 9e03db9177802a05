package testreport

import (
	"slices"
	"time"
)

// Outcome is one run's result for one test: a row of its history.
type Outcome struct {
	RunID  string
	SHA    string
	Status Status
	At     time.Time
}

// FlakySHAs returns the commits on which the test both passed and failed,
// sorted: the same code, two verdicts, so the test (or what it depends on)
// is flaky rather than the commit broken.
func FlakySHAs(history []Outcome) []string {
	seen := map[string][2]bool{}
	for _, o := range history {
		if o.SHA == "" {
			continue
		}
		s := seen[o.SHA]
		switch o.Status {
		case Passed:
			s[0] = true
		case Failed:
			s[1] = true
		}
		seen[o.SHA] = s
	}
	var out []string
	for sha, s := range seen {
		if s[0] && s[1] {
			out = append(out, sha)
		}
	}
	slices.Sort(out)
	return out
}
