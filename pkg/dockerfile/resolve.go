package dockerfile

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Requirement is what a repository asks for, as it wrote it.
type Requirement struct {
	// Raw is the text as written (">=20", "~=3.11", "17").
	Raw string
	// Where names the file and field ("package.json engines.node").
	Where string
	// Constraint is Raw in Masterminds semver syntax.
	Constraint string
}

// displayName is how messages name a language's toolchain.
var displayName = map[string]string{
	"go": "Go", "java-maven": "Java (JDK)", "java-gradle": "Java (JDK)",
	"node": "Node.js", "static": "Node.js", "python": "Python",
}

// projectFile is where a repository pins its version, for the fix hint.
var projectFile = map[string]string{
	"go": "the go directive in go.mod", "java-maven": "maven.compiler.release in pom.xml",
	"java-gradle": "the Java toolchain in build.gradle", "node": "engines.node in package.json",
	"static": "engines.node in package.json", "python": "requires-python in pyproject.toml or .python-version",
}

// VersionError is a version request nothing offered satisfies. Its
// message names the language, the request and where it is written, what
// is offered and how to pin one.
type VersionError struct {
	Language string
	Req      Requirement
	Offered  []string
	Default  string
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("%s: the repository asks for %s %s (%s), which this platform does not offer; offered: %s (default %s). "+
		"Pin an offered version: build.version in .slipway.yaml (e.g. version: %q), or %s",
		e.Language, displayName[e.Language], e.Req.Raw, e.Req.Where, strings.Join(e.Offered, ", "), e.Default, e.newest(), projectFile[e.Language])
}

func (e *VersionError) newest() string {
	best, bv := e.Default, (*semver.Version)(nil)
	for _, o := range e.Offered {
		if v, err := lineVersion(o); err == nil && (bv == nil || v.GreaterThan(bv)) {
			best, bv = o, v
		}
	}
	return best
}

// resolveVersion picks the newest offered version satisfying req; an
// empty request takes the default.
func resolveVersion(lang string, o Offer, req Requirement) (string, error) {
	if strings.TrimSpace(req.Constraint) == "" {
		return o.Default, nil
	}
	c, err := semver.NewConstraint(req.Constraint)
	if err != nil {
		return "", fmt.Errorf("%s: cannot read the version %q (%s): %w", lang, req.Raw, req.Where, err)
	}
	best, bestV := "", (*semver.Version)(nil)
	for _, offered := range o.Versions {
		lv, err := lineVersion(offered)
		if err != nil {
			continue
		}
		if !lineSatisfies(offered, c) {
			continue
		}
		if bestV == nil || lv.GreaterThan(bestV) {
			best, bestV = offered, lv
		}
	}
	if best == "" {
		return "", &VersionError{Language: lang, Req: req, Offered: o.Versions, Default: o.Default}
	}
	return best, nil
}

// lineVersion reads an offered release line ("20", "3.12", "1.24").
func lineVersion(s string) (*semver.Version, error) {
	if !regexp.MustCompile(`^\d+(\.\d+)?$`).MatchString(s) {
		return nil, fmt.Errorf("not a release line: %q", s)
	}
	return semver.NewVersion(s)
}

// lineSatisfies reports whether some release of an offered line satisfies
// c. A line ("3.11", "20") stands for whichever patch (and minor) its image
// carries, which the configuration does not say; so the line is accepted
// when any release in it could satisfy the request (">=3.11.4" accepts
// 3.11, "<3.12" refuses 3.12). Release numbers are sampled up to 99: no
// supported toolchain has gone further within one line.
func lineSatisfies(line string, c *semver.Constraints) bool {
	parts := strings.Split(line, ".")
	major, _ := strconv.Atoi(parts[0])
	try := func(mi, pa int) bool {
		return c.Check(semver.New(uint64(major), uint64(mi), uint64(pa), "", ""))
	}
	if len(parts) == 2 {
		minor, _ := strconv.Atoi(parts[1])
		for pa := 0; pa < 100; pa++ {
			if try(minor, pa) {
				return true
			}
		}
		return false
	}
	for mi := 0; mi < 100; mi++ {
		for pa := 0; pa < 100; pa++ {
			if try(mi, pa) {
				return true
			}
		}
	}
	return false
}

// atLeast is the constraint of a minimum version ("go 1.22", release 17).
func atLeast(v string) string { return ">=" + v }

// exactLine is the constraint of one release line ("3.12" -> 3.12.x).
func exactLine(v string) string { return v + ".x" }

// NodeConstraint turns a package.json engines.node range (npm's semver
// syntax) into a Masterminds constraint. "" for an empty or "*" range.
func NodeConstraint(engines string) (string, error) {
	engines = strings.TrimSpace(engines)
	if engines == "" || engines == "*" || engines == "x" {
		return "", nil
	}
	// npm accepts "v20" and "=20"; Masterminds reads both once spaced out.
	c := regexp.MustCompile(`(^|[\s|=<>~^])v(\d)`).ReplaceAllString(engines, "$1$2")
	if _, err := semver.NewConstraint(c); err != nil {
		return "", fmt.Errorf("cannot read Node version range %q: %w", engines, err)
	}
	return c, nil
}

var pepClause = regexp.MustCompile(`^(~=|===|==|!=|<=|>=|<|>|\^)?\s*v?(\d+(?:\.\d+)*)(\.\*)?$`)

// PythonConstraint turns a PEP 440 specifier (requires-python) into a
// Masterminds constraint: "~=3.11" is ">=3.11, <4.0" (compatible release:
// drop the last part), "~=3.11.2" is ">=3.11.2, <3.12", "==3.12.*" is
// "3.12.x", "!=3.10.*" excludes the line. Poetry's "^3.10" is read too.
// "" for an empty specifier.
func PythonConstraint(spec string) (string, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return "", nil
	}
	var out []string
	for _, clause := range strings.Split(spec, ",") {
		clause = strings.TrimSpace(clause)
		m := pepClause.FindStringSubmatch(clause)
		if m == nil {
			return "", fmt.Errorf("cannot read the Python version specifier %q (expected e.g. \">=3.11\", \"~=3.12\" or \"==3.12.*\")", spec)
		}
		op, v, wild := m[1], m[2], m[3] != ""
		parts := strings.Split(v, ".")
		switch {
		case op == "~=":
			if len(parts) < 2 {
				return "", fmt.Errorf("python version specifier %q: ~= needs at least two parts (PEP 440)", spec)
			}
			upper := slicesBump(parts[:len(parts)-1])
			out = append(out, ">="+v, "<"+upper)
		case wild && (op == "==" || op == ""):
			out = append(out, v+".x")
		case wild && op == "!=":
			out = append(out, "!="+v+".x")
		case op == "===" || op == "==" || op == "":
			out = append(out, "="+v)
		default:
			out = append(out, op+v)
		}
	}
	c := strings.Join(out, ", ")
	if _, err := semver.NewConstraint(c); err != nil {
		return "", fmt.Errorf("cannot read the Python version specifier %q: %w", spec, err)
	}
	return c, nil
}

// slicesBump increments the last part: [3 11] -> "3.12", [3] -> "4".
func slicesBump(parts []string) string {
	out := append([]string(nil), parts...)
	n, _ := strconv.Atoi(out[len(out)-1])
	out[len(out)-1] = strconv.Itoa(n + 1)
	return strings.Join(out, ".")
}

// configuredRequirement reads .slipway.yaml build.version: a bare version
// pins its release line ("20" -> any 20.x, "3.12.1" -> 3.12), an operator
// makes it a range in the language's own syntax.
func configuredRequirement(lang, v string) (Requirement, error) {
	req := Requirement{Raw: v, Where: ".slipway.yaml build.version"}
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	if regexp.MustCompile(`^\d+(\.\d+)*$`).MatchString(v) {
		req.Constraint = exactLine(normalizeVersion(lang, v))
		return req, nil
	}
	var err error
	switch lang {
	case "python":
		req.Constraint, err = PythonConstraint(v)
	default:
		req.Constraint, err = NodeConstraint(v)
	}
	if err != nil {
		return req, fmt.Errorf("%s: .slipway.yaml build.version: %w", lang, err)
	}
	return req, nil
}
