package advisory

import (
	"fmt"
	"strings"
)

// CompareDebian orders Debian package versions as dpkg does
// ([epoch:]upstream[-revision]; '~' sorts before anything, even the end).
func CompareDebian(a, b string) (int, error) {
	ea, ua, ra, err := splitDebian(a)
	if err != nil {
		return 0, err
	}
	eb, ub, rb, err := splitDebian(b)
	if err != nil {
		return 0, err
	}
	if c := compareDigits(ea, eb); c != 0 {
		return c, nil
	}
	if c := verrevcmp(ua, ub); c != 0 {
		return c, nil
	}
	return verrevcmp(ra, rb), nil
}

func splitDebian(v string) (epoch, upstream, revision string, err error) {
	if v == "" {
		return "", "", "", fmt.Errorf("empty Debian version")
	}
	epoch = "0"
	if e, rest, ok := strings.Cut(v, ":"); ok {
		if !isDigits(e) {
			return "", "", "", fmt.Errorf("debian version %q: epoch %q is not a number", v, e)
		}
		epoch = strings.TrimLeft(e, "0")
		if epoch == "" {
			epoch = "0"
		}
		v = rest
	}
	upstream = v
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		upstream, revision = v[:i], v[i+1:]
	}
	if upstream == "" || !isDigit(upstream[0]) {
		return "", "", "", fmt.Errorf("debian version %q: upstream version must start with a digit", v)
	}
	return epoch, upstream, revision, nil
}

// debOrder is dpkg's character weight: '~' first, then the end of the
// string, then letters, then everything else.
func debOrder(c byte) int {
	switch {
	case c == '~':
		return -1
	case isDigit(c):
		return 0
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		return int(c)
	}
	return int(c) + 256
}

// verrevcmp is dpkg's lib/dpkg/version.c algorithm: alternate non-digit
// runs (compared by debOrder) and digit runs (compared as numbers).
func verrevcmp(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		firstDiff := 0
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			ac, bc := 0, 0
			if i < len(a) {
				ac = debOrder(a[i])
			}
			if j < len(b) {
				bc = debOrder(b[j])
			}
			if ac != bc {
				return cmpInt(ac, bc)
			}
			i++
			j++
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		for i < len(a) && isDigit(a[i]) && j < len(b) && isDigit(b[j]) {
			if firstDiff == 0 {
				firstDiff = cmpInt(int(a[i]), int(b[j]))
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if firstDiff != 0 {
			return firstDiff
		}
	}
	return 0
}
