package dockerfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Match is what Detect found: the template to use and the files that
// decided it.
type Match struct {
	Language string
	// Evidence are the files (relative to the directory) that matched.
	Evidence []string
}

// ErrNoMatch is wrapped by Detect's error when no supported project is found.
var ErrNoMatch = errors.New("no supported project found")

// ErrAmbiguous is wrapped by Detect's error when several languages are
// equally primary.
var ErrAmbiguous = errors.New("several languages found")

// lookedFor is what Detect checks, in its error message.
const lookedFor = "looked for go.mod (go), pom.xml (java-maven), build.gradle or build.gradle.kts (java-gradle), " +
	"requirements.txt or pyproject.toml (python), package.json (node, or static when it only has a build script), " +
	"index.html, public/index.html or dist/index.html (static)"

// Detect chooses the template for the project in dir.
//
// Priority: a back-end language (go, java-maven, java-gradle, python) is
// primary over package.json and index.html, which in such repositories
// serve front-end tooling or assets. Two back-end languages are ambiguous:
// the error names them and how to choose in .slipway.yaml. Without a
// back-end language, a package.json with a server (a start script, main or
// server.js/index.js/app.js) is node; one with only a build script is a
// static site built with node; an index.html at the root, in public/ or in
// dist/ is a static site.
func Detect(dir string) (Match, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return Match{}, fmt.Errorf("detecting the language: %w", err)
	}
	if !st.IsDir() {
		return Match{}, fmt.Errorf("detecting the language: %s is not a directory", dir)
	}
	lib, err := defaultLibrary()
	if err != nil {
		return Match{}, err
	}
	var backends []Match
	for _, lang := range []string{"go", "java-maven", "java-gradle", "python"} {
		if ev := present(dir, lib.meta[lang].Detect); len(ev) > 0 {
			backends = append(backends, Match{Language: lang, Evidence: ev})
		}
	}
	switch len(backends) {
	case 0:
	case 1:
		return backends[0], nil
	default:
		var names []string
		for _, b := range backends {
			names = append(names, fmt.Sprintf("%s (%s)", b.Language, strings.Join(b.Evidence, ", ")))
		}
		return Match{}, fmt.Errorf("%w in %s: %s; choose one in .slipway.yaml, e.g. `build: {language: %s}`",
			ErrAmbiguous, dir, strings.Join(names, ", "), backends[0].Language)
	}
	site := present(dir, lib.meta["static"].Detect)
	if data, err := os.ReadFile(filepath.Join(dir, "package.json")); err == nil {
		pkg, err := parsePackageJSON(data)
		if err != nil {
			return Match{}, err
		}
		switch {
		case isNodeServer(dir, pkg):
			return Match{Language: "node", Evidence: []string{"package.json"}}, nil
		case pkg.Scripts["build"] != "" || len(site) > 0:
			return Match{Language: "static", Evidence: append([]string{"package.json"}, site...)}, nil
		default:
			return Match{}, fmt.Errorf("%w in %s: package.json has no start script, main, server.js/index.js/app.js or build script, and there is no index.html", ErrNoMatch, dir)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return Match{}, fmt.Errorf("reading package.json: %w", err)
	}
	if len(site) > 0 {
		return Match{Language: "static", Evidence: site}, nil
	}
	return Match{}, fmt.Errorf("%w in %s: %s", ErrNoMatch, dir, lookedFor)
}

// devServers start a development server, not a production one: a package
// whose start script runs one of them is a static site once built.
var devServers = []string{"react-scripts start", "vite", "ng serve", "webpack serve", "webpack-dev-server", "parcel", "vue-cli-service serve"}

func isNodeServer(dir string, pkg *packageJSON) bool {
	if start := pkg.Scripts["start"]; start != "" {
		for _, d := range devServers {
			if strings.HasPrefix(start, d) {
				return false
			}
		}
		return true
	}
	if pkg.Main != "" && exists(filepath.Join(dir, pkg.Main)) {
		return true
	}
	return len(present(dir, nodeEntryFiles)) > 0
}

var nodeEntryFiles = []string{"server.js", "index.js", "app.js", "server.mjs", "index.mjs"}

// present returns the names in list that exist as regular files under dir.
func present(dir string, list []string) []string {
	var out []string
	for _, name := range list {
		if exists(filepath.Join(dir, filepath.FromSlash(name))) {
			out = append(out, name)
		}
	}
	return out
}

func exists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
