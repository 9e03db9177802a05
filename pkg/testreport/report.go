// Package testreport is the domain of test results: one run's test cases,
// the JUnit XML toolchains write, the `go test -json` stream Slipway turns
// into JUnit itself, and the compact summary the unit-test Task's report
// step hands to the server. Every reader is bounded: a report is untrusted
// output of the code under test.
package testreport

import (
	"cmp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Status is the outcome of one test case.
type Status string

const (
	Passed  Status = "passed"
	Failed  Status = "failed"
	Skipped Status = "skipped"
)

// Valid reports whether s is one of the statuses above.
func (s Status) Valid() bool { return s == Passed || s == Failed || s == Skipped }

// Limits on what one report holds. Outputs keep their tail, where a failing
// test's assertion usually is.
const (
	// MaxInput bounds one JUnit file or one `go test -json` stream.
	MaxInput = 64 << 20
	// MaxCases bounds the cases of one run; beyond it cases are dropped
	// (failed ones last) and the report says Truncated.
	MaxCases = 20000
	// MaxOutput bounds the output kept per case.
	MaxOutput = 8 << 10
	// MaxName bounds a suite or test name.
	MaxName = 512
)

// Case is one test case of a run.
type Case struct {
	// Suite is the JUnit classname (the Go package, the Java class, the
	// Python module).
	Suite  string        `json:"suite"`
	Name   string        `json:"name"`
	Status Status        `json:"status"`
	Time   time.Duration `json:"time"`
	// Output is the failure message and the test's output, its tail kept.
	Output string `json:"output,omitempty"`
}

// Report is the test cases of one run.
type Report struct {
	Cases []Case `json:"cases"`
	// Truncated says cases were dropped over MaxCases or the summary budget.
	Truncated bool `json:"truncated,omitempty"`
}

// Counts are a report's totals.
type Counts struct {
	Total, Passed, Failed, Skipped int
}

// Counts adds up the cases by status.
func (r *Report) Counts() Counts {
	var c Counts
	for _, tc := range r.Cases {
		c.Total++
		switch tc.Status {
		case Passed:
			c.Passed++
		case Failed:
			c.Failed++
		case Skipped:
			c.Skipped++
		}
	}
	return c
}

// Sort orders the cases for people: failed first, then skipped, then
// passed, each by suite and name.
func (r *Report) Sort() { SortCases(r.Cases) }

// SortCases orders cs failed first, then skipped, then passed, each by
// suite and name.
func SortCases(cs []Case) {
	rank := map[Status]int{Failed: 0, Skipped: 1, Passed: 2}
	slices.SortStableFunc(cs, func(a, b Case) int {
		return cmp.Or(cmp.Compare(rank[a.Status], rank[b.Status]), cmp.Compare(a.Suite, b.Suite), cmp.Compare(a.Name, b.Name))
	})
}

// Failures returns at most n failed cases (all with n < 0), in Sort order.
func (r *Report) Failures(n int) []Case {
	var out []Case
	for _, tc := range r.Cases {
		if tc.Status == Failed {
			out = append(out, tc)
		}
	}
	SortCases(out)
	if n >= 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

// add appends c unless the report is full, bounding its strings.
func (r *Report) add(c Case) {
	if len(r.Cases) >= MaxCases {
		r.Truncated = true
		return
	}
	c.Suite = clip(c.Suite, MaxName, false)
	c.Name = clip(c.Name, MaxName, false)
	c.Output = clip(c.Output, MaxOutput, true)
	r.Cases = append(r.Cases, c)
}

// Merge appends o's cases to r, within the same bounds.
func (r *Report) Merge(o *Report) {
	for _, c := range o.Cases {
		r.add(c)
	}
	r.Truncated = r.Truncated || o.Truncated
}

// clip bounds s to max bytes of valid UTF-8, keeping the tail (with a
// marker) or the head.
func clip(s string, max int, tail bool) string {
	s = toValidUTF8(s)
	if len(s) <= max {
		return s
	}
	const mark = "…"
	if tail {
		s = s[len(s)-max+len(mark):]
		for len(s) > 0 && !utf8.RuneStart(s[0]) {
			s = s[1:]
		}
		return mark + s
	}
	s = s[:max-len(mark)]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + mark
}

// toValidUTF8 makes s storable as text in both engines: valid UTF-8 and
// no NUL (PostgreSQL's text refuses it).
func toValidUTF8(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}
