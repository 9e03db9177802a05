package rollout

import (
	"fmt"
	"strconv"
	"strings"
)

// Query is an analysis threshold: a Prometheus instant query whose scalar
// value must stay within [Min, Max] (a nil bound is not checked) while a
// canary step runs.
//
// Each look gives a pass, a failure (out of bounds) or an inconclusive
// result (no data, NaN, or the query could not be answered). A step
// aborts once its failures exceed FailureLimit; once its inconclusive
// results exceed InconclusiveLimit it pauses for a human to continue or
// abort, instead of guessing either way or waiting forever. Both default
// to 0: the first failure aborts, the first inconclusive look pauses.
type Query struct {
	Name              string
	Query             string
	Min               *float64
	Max               *float64
	FailureLimit      int
	InconclusiveLimit int
}

// ParseQuery reads "NAME=PROMQL<=MAX" or "NAME=PROMQL>=MIN", optionally
// followed by "failureLimit=N" and "inconclusiveLimit=N" separated by
// spaces. The last comparison operator splits, so PromQL may contain its
// own.
func ParseQuery(s string) (Query, error) {
	const want = "want NAME=PROMQL<=MAX or NAME=PROMQL>=MIN, then optionally failureLimit=N inconclusiveLimit=N"
	name, rest, ok := strings.Cut(s, "=")
	le, ge := strings.LastIndex(rest, "<="), strings.LastIndex(rest, ">=")
	i := max(le, ge)
	if !ok || strings.TrimSpace(name) == "" || i <= 0 || strings.TrimSpace(rest[:i]) == "" {
		return Query{}, fmt.Errorf("analysis %q: %s", s, want)
	}
	fields := strings.Fields(rest[i+2:])
	if len(fields) == 0 {
		return Query{}, fmt.Errorf("analysis %q: no threshold after the comparison", s)
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return Query{}, fmt.Errorf("analysis %q: threshold: %w", s, err)
	}
	q := Query{Name: strings.TrimSpace(name), Query: strings.TrimSpace(rest[:i])}
	if i == le {
		q.Max = &v
	} else {
		q.Min = &v
	}
	seen := map[string]bool{}
	for _, f := range fields[1:] {
		k, val, ok := strings.Cut(f, "=")
		n, err := strconv.Atoi(val)
		switch {
		case !ok || (k != "failureLimit" && k != "inconclusiveLimit"):
			return Query{}, fmt.Errorf("analysis %q: unknown option %q (%s)", s, f, want)
		case seen[k]:
			return Query{}, fmt.Errorf("analysis %q: %s given twice", s, k)
		case err != nil || n < 0 || n > 1000:
			return Query{}, fmt.Errorf("analysis %q: %s must be a whole number from 0 to 1000", s, k)
		}
		seen[k] = true
		if k == "failureLimit" {
			q.FailureLimit = n
		} else {
			q.InconclusiveLimit = n
		}
	}
	return q, nil
}
