package dockerfile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// GoVersion returns the major.minor Go version a go.mod asks for: the
// toolchain directive when present (it is what `go` would switch to), else
// the go directive. "" when go.mod has neither.
func GoVersion(gomod []byte) (string, error) {
	var goDir, toolchain string
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		f := strings.Fields(strings.SplitN(sc.Text(), "//", 2)[0])
		if len(f) != 2 {
			continue
		}
		switch f[0] {
		case "go":
			goDir = f[1]
		case "toolchain":
			toolchain = strings.TrimPrefix(f[1], "go")
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("reading go.mod: %w", err)
	}
	v := goDir
	if toolchain != "" && toolchain != "default" {
		v = toolchain
	}
	if v == "" {
		return "", nil
	}
	mm := regexp.MustCompile(`^(1\.\d+)(\.\d+)?((rc|beta)\d+)?$`).FindStringSubmatch(v)
	if mm == nil {
		return "", fmt.Errorf("go.mod: cannot read Go version %q", v)
	}
	return mm[1], nil
}

// pom is the part of a pom.xml that pins the JDK.
type pom struct {
	Properties struct {
		Entries []struct {
			XMLName xml.Name
			Value   string `xml:",chardata"`
		} `xml:",any"`
	} `xml:"properties"`
	Plugins []struct {
		ArtifactID    string `xml:"artifactId"`
		Configuration struct {
			Release string `xml:"release"`
			Source  string `xml:"source"`
		} `xml:"configuration"`
	} `xml:"build>plugins>plugin"`
}

// MavenJavaVersion returns the JDK major version a pom.xml compiles for,
// from (first found) maven.compiler.release, the compiler plugin's
// <release>, maven.compiler.source, the compiler plugin's <source>, or
// java.version. "1.8" is reported as "8". "" when none is set.
func MavenJavaVersion(pomXML []byte) (string, error) {
	v, _, err := mavenJavaVersion(pomXML)
	return v, err
}

// mavenJavaVersion is MavenJavaVersion with where the version was found.
func mavenJavaVersion(pomXML []byte) (string, string, error) {
	var p pom
	if err := xml.Unmarshal(pomXML, &p); err != nil {
		return "", "", fmt.Errorf("parsing pom.xml: %w", err)
	}
	props := map[string]string{}
	for _, e := range p.Properties.Entries {
		props[e.XMLName.Local] = strings.TrimSpace(e.Value)
	}
	var pluginRelease, pluginSource string
	for _, pl := range p.Plugins {
		if strings.TrimSpace(pl.ArtifactID) == "maven-compiler-plugin" {
			pluginRelease = strings.TrimSpace(pl.Configuration.Release)
			pluginSource = strings.TrimSpace(pl.Configuration.Source)
		}
	}
	for _, c := range []struct{ where, v string }{
		{"maven.compiler.release", props["maven.compiler.release"]},
		{"maven-compiler-plugin <release>", pluginRelease},
		{"maven.compiler.source", props["maven.compiler.source"]},
		{"maven-compiler-plugin <source>", pluginSource},
		{"java.version", props["java.version"]},
	} {
		if c.v == "" {
			continue
		}
		v := c.v
		// One level of ${property} indirection, as in <release>${java.version}</release>.
		if m := regexp.MustCompile(`^\$\{([^}]+)\}$`).FindStringSubmatch(v); m != nil {
			r, ok := props[m[1]]
			if !ok {
				return "", "", fmt.Errorf("pom.xml: %s refers to undefined property %q", c.where, m[1])
			}
			v = r
		}
		j, err := javaMajor(v)
		if err != nil {
			return "", "", fmt.Errorf("pom.xml %s: %w", c.where, err)
		}
		return j, "pom.xml " + c.where, nil
	}
	return "", "", nil
}

var gradlePatterns = []*regexp.Regexp{
	regexp.MustCompile(`JavaLanguageVersion\.of\(\s*["']?(\d+)["']?\s*\)`),
	regexp.MustCompile(`jvmToolchain\(\s*(\d+)\s*\)`),
	regexp.MustCompile(`(?m)^\s*(?:java\.)?sourceCompatibility\s*=\s*(?:JavaVersion\.VERSION_([\d_]+)|["']?([\d.]+)["']?)`),
	regexp.MustCompile(`(?m)^\s*(?:java\.)?targetCompatibility\s*=\s*(?:JavaVersion\.VERSION_([\d_]+)|["']?([\d.]+)["']?)`),
}

// GradleJavaVersion returns the JDK major version of a Gradle build script
// (Groovy or Kotlin DSL): the Java toolchain's languageVersion, Kotlin's
// jvmToolchain, then sourceCompatibility / targetCompatibility. "" when none.
func GradleJavaVersion(script []byte) (string, error) {
	v, _, err := gradleJavaVersion(script)
	return v, err
}

// gradleJavaVersion also says whether the version is a toolchain, which
// needs exactly that JDK (auto-download is off), rather than a minimum.
func gradleJavaVersion(script []byte) (string, bool, error) {
	// Comments must not pin anything.
	src := regexp.MustCompile(`(?m)//.*$`).ReplaceAll(script, nil)
	src = regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAll(src, nil)
	for i, re := range gradlePatterns {
		m := re.FindSubmatch(src)
		if m == nil {
			continue
		}
		var v string
		for _, g := range m[1:] {
			if len(g) > 0 {
				v = strings.ReplaceAll(string(g), "_", ".")
				break
			}
		}
		j, err := javaMajor(v)
		return j, i < 2, err
	}
	return "", false, nil
}

// javaMajor turns "17", "1.8", "11.0.2" into the major version.
func javaMajor(v string) (string, error) {
	v = strings.TrimSpace(v)
	v = strings.TrimPrefix(v, "1.")
	major, _, _ := strings.Cut(v, ".")
	if _, err := strconv.Atoi(major); err != nil || major == "" {
		return "", fmt.Errorf("cannot read Java version %q", v)
	}
	return major, nil
}

// PythonVersionFile reads a .python-version file ("3.12.1" -> "3.12").
func PythonVersionFile(data []byte) (string, error) {
	line, _, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
	m := regexp.MustCompile(`^(?:python-?)?(\d+\.\d+)`).FindStringSubmatch(strings.TrimSpace(line))
	if m == nil {
		return "", fmt.Errorf(".python-version: cannot read %q", line)
	}
	return m[1], nil
}

// requiresPython finds project.requires-python in a pyproject.toml without a
// full TOML parser: the key is a plain string in the [project] table.
func requiresPython(pyproject []byte) string {
	inProject := false
	sc := bufio.NewScanner(bytes.NewReader(pyproject))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			inProject = line == "[project]"
			continue
		}
		if !inProject {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) != "requires-python" {
			continue
		}
		v = strings.TrimSpace(v)
		if i := strings.Index(v, "#"); i > 0 && (v[0] != '"' && v[0] != '\'') {
			v = strings.TrimSpace(v[:i])
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') {
			if end := strings.IndexByte(v[1:], v[0]); end >= 0 {
				return v[1 : 1+end]
			}
		}
		return v
	}
	return ""
}

// packageJSON is the part of package.json Slipway reads.
type packageJSON struct {
	Main           string            `json:"main"`
	PackageManager string            `json:"packageManager"`
	Scripts        map[string]string `json:"scripts"`
	Engines        struct {
		Node string `json:"node"`
	} `json:"engines"`
	Dependencies    map[string]string `json:"dependencies"`
	DevDependencies map[string]string `json:"devDependencies"`
}

func parsePackageJSON(data []byte) (*packageJSON, error) {
	var p packageJSON
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("parsing package.json: %w", err)
	}
	return &p, nil
}
