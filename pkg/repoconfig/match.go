package repoconfig

import (
	"fmt"
	"path"
	"strings"
)

// Caps on the filters of a .slipway.yaml. Anyone who can push writes it, so
// what it asks of the dispatcher is bounded: matching costs at most
// len(pattern) × len(path) per pattern and path (see Match), and these keep
// the pattern side small.
const (
	MaxPatterns     = 100 // per list (branches, tags, paths, ignorePaths)
	MaxPatternBytes = 256
	MaxDoubleStars  = 32 // "**" elements in one pattern
)

// checkPatterns validates one list of glob patterns against the caps and
// path.Match's syntax.
func checkPatterns(field string, patterns []string) error {
	if len(patterns) > MaxPatterns {
		return fmt.Errorf("%s: %d patterns, more than the %d allowed", field, len(patterns), MaxPatterns)
	}
	for i, p := range patterns {
		if len(p) > MaxPatternBytes {
			return fmt.Errorf("%s[%d]: pattern is %d bytes, more than the %d allowed", field, i, len(p), MaxPatternBytes)
		}
		stars := 0
		for _, el := range strings.Split(p, "/") {
			if el == "**" {
				stars++
				continue
			}
			if _, err := path.Match(el, ""); err != nil {
				return fmt.Errorf("%s[%d]: bad pattern %q: %w", field, i, p, err)
			}
		}
		if stars > MaxDoubleStars {
			return fmt.Errorf("%s[%d]: %d \"**\" elements, more than the %d allowed", field, i, stars, MaxDoubleStars)
		}
	}
	return nil
}

// MatchAny reports whether name matches one of the glob patterns. "**"
// matches across "/", "*" within one path element.
func MatchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if Match(p, name) {
			return true
		}
	}
	return false
}

// Match is path.Match on "/"-separated elements, where a "**" element
// matches zero or more whole elements.
//
// It is a dynamic programme over (pattern element, name element) pairs, so
// no pair is tried twice: the cost is at most Σ|pattern element| ×
// Σ|name element|, i.e. O(len(pattern) × len(name)), whatever the number of
// "**". (The recursion this replaced retried the tail after each "**" for
// every split: exponential in the number of "**" against a long path that
// does not match. doublestar v4 keeps one backtrack point per star, but
// expands {a,b} alternatives by recursing over the rest of the pattern for
// each, exponential in the number of brace groups; a module for one
// function was not worth that.) Each element pair is checked by
// path.Match, which does not backtrack past the last "*" and is itself
// O(|element| × |name element|).
func Match(pattern, name string) bool {
	pat := strings.Split(pattern, "/")
	segs := strings.Split(name, "/")
	n := len(segs)
	// next[j]: do pat[i+1:] match segs[j:]? Built from the last pattern
	// element back to the first; cur is the row for pat[i:].
	next := make([]bool, n+1)
	cur := make([]bool, n+1)
	next[n] = true // the empty pattern matches the empty tail only
	for i := len(pat) - 1; i >= 0; i-- {
		if pat[i] == "**" {
			// ** takes zero elements (next[j]) or one more (cur[j+1]).
			cur[n] = next[n]
			for j := n - 1; j >= 0; j-- {
				cur[j] = next[j] || cur[j+1]
			}
		} else {
			cur[n] = false
			for j := n - 1; j >= 0; j-- {
				cur[j] = false
				if next[j+1] {
					cur[j], _ = path.Match(pat[i], segs[j])
				}
			}
		}
		next, cur = cur, next
	}
	return next[0]
}

// CheckPatterns validates glob patterns (Match's syntax) against the caps,
// for other lists that reuse the matcher, e.g. the repository allowlist.
func CheckPatterns(field string, patterns []string) error { return checkPatterns(field, patterns) }
