package advisory

import (
	"fmt"
	"strings"
)

// Maven version ordering as the Maven version order specification states it
// (https://maven.apache.org/pom.html#version-order-specification), which is
// what OSV's Maven ranges are written against:
//
//   - the version is split into tokens at '.', '-' and at transitions
//     between digits and letters (a transition counts as '-'); each token
//     keeps the separator before it; empty tokens are "0";
//   - "a", "b", "m" directly followed by a number mean alpha, beta,
//     milestone; "cr" is "rc"; "final", "ga" and "release" are "";
//   - null tokens (0, "") are trimmed at the end and before each hyphen;
//   - numbers compare naturally; qualifiers as alpha < beta < milestone <
//     rc < snapshot < "" < sp < any other, others alphabetically;
//   - across kinds, .qualifier = -qualifier < -number < .number;
//   - a missing token compares as the null of the other side's kind.

type mavenToken struct {
	sep        byte // '.' or '-'
	value      string
	numeric    bool
	transition bool // follows the previous token without a separator ("a1")
}

var mavenQualifierOrder = map[string]int{
	"alpha": 0, "beta": 1, "milestone": 2, "rc": 3, "snapshot": 4, "": 5, "sp": 6,
}

func (t mavenToken) isNull() bool {
	if t.numeric {
		return t.value == "0"
	}
	return t.value == ""
}

// parseMaven tokenizes a Maven version. It never fails: any string is a
// Maven version, but the empty string is refused to catch missing data.
func parseMaven(v string) ([]mavenToken, error) {
	if strings.TrimSpace(v) == "" {
		return nil, fmt.Errorf("empty Maven version")
	}
	v = strings.ToLower(v)
	var tokens []mavenToken
	sep := byte('.')
	start := 0
	transition := false
	flush := func(end int, next byte, nextByTransition bool) {
		raw := v[start:end]
		t := mavenToken{sep: sep, value: raw, transition: transition}
		if raw == "" {
			t.value, t.numeric = "0", true
		} else if isDigits(raw) {
			t.value, t.numeric = strings.TrimLeft(raw, "0"), true
			if t.value == "" {
				t.value = "0"
			}
		}
		tokens = append(tokens, t)
		sep, transition = next, nextByTransition
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '.' || c == '-':
			flush(i, c, false)
			start = i + 1
		case i > start && isDigit(c) != isDigit(v[i-1]):
			flush(i, '-', true)
			start = i
		}
	}
	flush(len(v), 0, false)
	// Aliases, after tokenizing so that "a1" (a then number) is known.
	for i := range tokens {
		t := &tokens[i]
		if t.numeric {
			continue
		}
		nextIsNumber := i+1 < len(tokens) && tokens[i+1].numeric && tokens[i+1].transition
		switch {
		case t.value == "a" && nextIsNumber:
			t.value = "alpha"
		case t.value == "b" && nextIsNumber:
			t.value = "beta"
		case t.value == "m" && nextIsNumber:
			t.value = "milestone"
		case t.value == "cr":
			t.value = "rc"
		case t.value == "final" || t.value == "ga" || t.value == "release":
			t.value = ""
		}
	}
	return trimMaven(tokens), nil
}

// trimMaven drops null tokens at the end of each hyphen-separated group; a
// group left empty disappears (so "1-ga-1" is "1-1" and "1.0-rc" is "1-rc").
func trimMaven(tokens []mavenToken) []mavenToken {
	var out, group []mavenToken
	flush := func() {
		for len(group) > 0 && group[len(group)-1].isNull() {
			group = group[:len(group)-1]
		}
		out = append(out, group...)
		group = nil
	}
	for _, t := range tokens {
		if t.sep == '-' {
			flush()
		}
		group = append(group, t)
	}
	flush()
	return out
}

// CompareMaven orders Maven versions (see the comment at the top of this file).
func CompareMaven(a, b string) (int, error) {
	ta, err := parseMaven(a)
	if err != nil {
		return 0, err
	}
	tb, err := parseMaven(b)
	if err != nil {
		return 0, err
	}
	for i := 0; i < len(ta) || i < len(tb); i++ {
		var x, y mavenToken
		switch {
		case i >= len(ta):
			y = tb[i]
			x = nullLike(y)
		case i >= len(tb):
			x = ta[i]
			y = nullLike(x)
		default:
			x, y = ta[i], tb[i]
		}
		if c := compareMavenToken(x, y); c != 0 {
			return c, nil
		}
	}
	return 0, nil
}

func nullLike(t mavenToken) mavenToken {
	if t.numeric {
		return mavenToken{sep: t.sep, value: "0", numeric: true}
	}
	return mavenToken{sep: t.sep, value: ""}
}

// kindRank orders tokens of different kinds: .qualifier = -qualifier <
// -number < .number.
func kindRank(t mavenToken) int {
	switch {
	case !t.numeric:
		return 0
	case t.sep == '-':
		return 1
	default:
		return 2
	}
}

func compareMavenToken(x, y mavenToken) int {
	if rx, ry := kindRank(x), kindRank(y); rx != ry {
		return cmpInt(rx, ry)
	}
	if x.numeric {
		return compareDigits(x.value, y.value)
	}
	ox, knownX := mavenQualifierOrder[x.value]
	oy, knownY := mavenQualifierOrder[y.value]
	switch {
	case knownX && knownY:
		return cmpInt(ox, oy)
	case knownX:
		return -1
	case knownY:
		return 1
	}
	return strings.Compare(x.value, y.value)
}

// compareDigits compares two decimal numbers without leading zeros, of any
// length (Maven versions may hold dates and build numbers beyond int64).
func compareDigits(a, b string) int {
	if len(a) != len(b) {
		return cmpInt(len(a), len(b))
	}
	return strings.Compare(a, b)
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}
