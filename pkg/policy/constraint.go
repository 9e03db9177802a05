package policy

import (
	"fmt"
	"strings"

	"github.com/slipway-ci/slipway/pkg/advisory"
)

// constraint is a parsed version range: alternatives (||) of conjunctions
// (,) of comparisons. The zero value matches every version.
type constraint [][]comparison

type comparison struct {
	op      string
	version string
}

var ops = []string{"<=", ">=", "!=", "<", ">", "="} // longest first

// parseConstraint reads ">=1.0.0, <1.4.2 || =2.0.0". The versions are not
// checked here: their syntax depends on the ecosystem of the package they
// are compared with.
func parseConstraint(s string) (constraint, error) {
	if strings.TrimSpace(s) == "" || strings.TrimSpace(s) == "*" {
		return nil, nil
	}
	var c constraint
	for _, alt := range strings.Split(s, "||") {
		var and []comparison
		for _, part := range strings.Split(alt, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				return nil, fmt.Errorf("%q: empty comparison", s)
			}
			op := ""
			for _, o := range ops {
				if strings.HasPrefix(part, o) {
					op = o
					break
				}
			}
			if op == "" {
				return nil, fmt.Errorf("%q: %q does not start with <, <=, >, >=, = or !=", s, part)
			}
			v := strings.TrimSpace(part[len(op):])
			if v == "" || strings.ContainsAny(v, " \t<>=!") {
				return nil, fmt.Errorf("%q: %q needs exactly one version after %s", s, part, op)
			}
			and = append(and, comparison{op, v})
		}
		c = append(c, and)
	}
	return c, nil
}

// matches reports whether version (of a package of ecosystem) is in the
// range, using the ecosystem's ordering. Without an ordering only = and !=
// can be decided (by exact text); anything else is an error.
func (c constraint) matches(ecosystem, version string) (bool, error) {
	if len(c) == 0 {
		return true, nil
	}
	ord, ordErr := advisory.OrderingFor(ecosystem)
	for _, and := range c {
		all := true
		for _, cmp := range and {
			var r int
			if ordErr != nil {
				if cmp.op != "=" && cmp.op != "!=" {
					return false, ordErr
				}
				if version != cmp.version {
					r = 1
				}
			} else {
				var err error
				if r, err = ord(version, cmp.version); err != nil {
					return false, err
				}
			}
			ok := false
			switch cmp.op {
			case "<":
				ok = r < 0
			case "<=":
				ok = r <= 0
			case ">":
				ok = r > 0
			case ">=":
				ok = r >= 0
			case "=":
				ok = r == 0
			case "!=":
				ok = r != 0
			}
			if !ok {
				all = false
				break
			}
		}
		if all {
			return true, nil
		}
	}
	return false, nil
}
