// Package dockerfile detects a repository's language and renders the
// standard Dockerfile for it from the templates in dockerfile-templates/.
//
// The rendered Dockerfile is meant to be written to .slipway/Dockerfile in
// the build context (OutputPath): it copies itself from there into the image
// at /.slipway/Dockerfile, so every image carries the recipe it was built
// with.
package dockerfile

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/slipway-ci/slipway/pkg/repoconfig"
)

// OutputPath is where the rendered Dockerfile must be written, relative to
// the build context; the templates COPY it from there into the image.
const OutputPath = ".slipway/Dockerfile"

// Options tune rendering for the environment the image is built in. The
// mirror settings become ARG defaults, so one build can still override them
// with --build-arg.
type Options struct {
	// BaseRegistry prefixes every base image, e.g. "registry.corp/mirror"
	// or "127.0.0.1:5000/base". Default: none (Docker Hub names).
	BaseRegistry string
	// GoProxy is the GOPROXY ARG default. Default: none (Go's own).
	GoProxy string
	// NpmRegistry is the NPM_CONFIG_REGISTRY ARG default. Default: none (npm's own).
	NpmRegistry string
	// PipIndexURL is the PIP_INDEX_URL ARG default. Default: none (pip's own).
	// An app without requirement lines never runs pip, so it builds offline.
	PipIndexURL string
	// MavenSettings is either the path of a settings.xml inside the build
	// context, or a mirror URL (anything with "://") that a generated
	// settings.xml points every repository at. Default: none.
	MavenSettings string
	// MavenOffline is the MAVEN_OFFLINE ARG default: build with -o against
	// the local repository /usr/share/maven-repo. Default: false.
	MavenOffline bool
	// Languages is what the platform offers per language (versions and
	// base images). Default: the template metadata (DefaultPlatform).
	Languages Platform
	// CacheScope goes into the ids of the BuildKit cache mounts
	// (slipway-<scope>-go-build…), so merge requests' builds ("untrusted")
	// never share a compiler or package cache with trusted ones. Default:
	// "trusted".
	CacheScope string
}

// Cache scopes of the generated Dockerfiles' cache mounts.
const (
	CacheTrusted   = "trusted"
	CacheUntrusted = "untrusted"
)

// Result is a rendered Dockerfile and what the pipeline needs around it.
type Result struct {
	// Dockerfile is the rendered Dockerfile, or the repository's own one
	// when Own is set.
	Dockerfile []byte `json:"-"`
	// Own reports that .slipway.yaml names the repository's own Dockerfile
	// (at DockerfilePath, relative to the repository root), returned unchanged.
	Own            bool   `json:"own"`
	DockerfilePath string `json:"dockerfilePath,omitempty"`
	// Language is the template used (go, java-maven, java-gradle, node,
	// python, static). With Own, the detected language if any.
	Language string `json:"language,omitempty"`
	// Evidence are the files that decided the language.
	Evidence []string `json:"evidence,omitempty"`
	Version  string   `json:"version,omitempty"`
	Port     int      `json:"port,omitempty"`
	// TestCommand runs the unit tests, in BuildImage, from the source root.
	TestCommand  string `json:"testCommand,omitempty"`
	BuildImage   string `json:"buildImage,omitempty"`
	RuntimeImage string `json:"runtimeImage,omitempty"`
}

// BuildArg is a .slipway.yaml build argument, rendered as an ARG default.
type BuildArg struct{ Key, Value string }

// data is what the templates see.
type data struct {
	Language     string
	Version      string
	Port         int
	BuildImage   string
	RuntimeImage string
	BuildCommand string
	BuildArgs    []BuildArg

	GoProxy, NpmRegistry, PipIndexURL string
	MavenOffline                      bool
	MavenSettingsPath, MavenMirrorURL string
	// MavenSettingsXML is the settings file a mirror URL makes; the
	// Dockerfile writes the same one.
	MavenSettingsXML string

	// DepFiles are copied before the source so dependencies get their own
	// layer; DepCopies groups them by directory, one COPY each.
	DepFiles  []string
	DepCopies []depCopy

	GoMain   string
	Vendored bool
	// CacheScope names the cache mounts (Options.CacheScope).
	CacheScope string

	PackageManager, InstallCommand, InstallRun, PruneCommand string
	HasBuildScript, HasTestScript                            bool
	OutputDirs                                               []string
	SiteDir                                                  string

	Cmd []string

	DepSource string
	// ReqFile is the requirements file pip reads in the build stage.
	ReqFile     string
	TestInstall string
	// PipRequirements is set when requirements.txt has requirement lines.
	PipRequirements string
	UsesPytest      bool
}

// Render detects the language of the project in dir (or takes it from
// .slipway.yaml) and renders its standard Dockerfile. rc may be nil. When rc
// names the repository's own Dockerfile, that file is returned unchanged.
func Render(dir string, rc *repoconfig.Config, o Options) (*Result, error) {
	if rc == nil {
		rc = &repoconfig.Config{}
	}
	if err := rc.Validate(); err != nil {
		return nil, fmt.Errorf("invalid %s: %w", repoconfig.FileName, err)
	}
	o, err := o.complete()
	if err != nil {
		return nil, err
	}
	lib, err := defaultLibrary()
	if err != nil {
		return nil, err
	}
	b := rc.Build
	if b.Context != "" {
		if filepath.IsAbs(b.Context) || strings.Contains(b.Context, "..") {
			return nil, fmt.Errorf("build.context %q must be a directory inside the repository", b.Context)
		}
		dir = filepath.Join(dir, filepath.FromSlash(b.Context))
	}
	if b.Dockerfile != "" {
		return renderOwn(dir, rc, o, lib)
	}
	return render(dir, rc, o, lib)
}

func renderOwn(dir string, rc *repoconfig.Config, o Options, lib *library) (*Result, error) {
	p := filepath.Join(dir, filepath.FromSlash(rc.Build.Dockerfile))
	content, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("reading the repository's own Dockerfile (build.dockerfile): %w", err)
	}
	res := &Result{Dockerfile: content, Own: true, DockerfilePath: rc.Build.Dockerfile, TestCommand: rc.Build.TestCommand, Port: rc.Build.Port}
	// The unit tests still need a command and an image: take them from the
	// template the repository would get, when one fits.
	if t, err := render(dir, rc, o, lib); err == nil {
		res.Language, res.Evidence, res.Version = t.Language, t.Evidence, t.Version
		res.TestCommand, res.BuildImage = t.TestCommand, t.BuildImage
		if res.Port == 0 {
			res.Port = t.Port
		}
	}
	return res, nil
}

func render(dir string, rc *repoconfig.Config, o Options, lib *library) (*Result, error) {
	b := rc.Build
	m := Match{Language: b.Language}
	if m.Language == "" {
		var err error
		if m, err = Detect(dir); err != nil {
			return nil, err
		}
	}
	meta, ok := lib.meta[m.Language]
	if !ok {
		return nil, fmt.Errorf("build.language %q is not supported; use one of: %s", m.Language, strings.Join(Languages, ", "))
	}
	offer := o.Languages[m.Language]
	scope := o.CacheScope
	switch scope {
	case "":
		scope = CacheTrusted
	case CacheTrusted, CacheUntrusted:
	default:
		return nil, fmt.Errorf("cache scope %q: want %s or %s", o.CacheScope, CacheTrusted, CacheUntrusted)
	}
	d := &data{
		CacheScope:   scope,
		Language:     m.Language,
		Port:         meta.Port,
		GoProxy:      o.GoProxy,
		NpmRegistry:  o.NpmRegistry,
		PipIndexURL:  o.PipIndexURL,
		MavenOffline: o.MavenOffline,
	}
	if b.Port != 0 {
		d.Port = b.Port
	}
	var err error
	if d.BuildArgs, err = buildArgs(b.BuildArgs); err != nil {
		return nil, err
	}
	var req Requirement
	switch m.Language {
	case "go":
		req, err = prepareGo(dir, rc, d)
	case "java-maven":
		req, err = prepareMaven(dir, o, d)
	case "java-gradle":
		req, err = prepareGradle(dir, d)
	case "node":
		req, err = prepareNode(dir, d, true)
	case "static":
		req, err = prepareStatic(dir, d)
	case "python":
		req, err = preparePython(dir, d)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.Language, err)
	}
	if m.Evidence == nil {
		m.Evidence = present(dir, meta.Detect)
	}
	if d.Version, err = chooseVersion(m.Language, offer, b.Version, req, d.Language == "static" && !d.HasBuildScript); err != nil {
		return nil, err
	}
	if m.Language == "python" && d.DepSource == "pyproject.toml" && slices.Contains([]string{"3.9", "3.10"}, d.Version) {
		return nil, fmt.Errorf("python: reading dependencies from pyproject.toml needs Python >= 3.11 (tomllib), got %s; add a requirements.txt or raise requires-python", d.Version)
	}
	if d.Language != "static" || d.HasBuildScript {
		bi, err := small("buildImage", offer.BuildImage, d)
		if err != nil {
			return nil, err
		}
		d.BuildImage = image(o.BaseRegistry, bi)
	}
	ri, err := small("runtimeImage", offer.RuntimeImage, d)
	if err != nil {
		return nil, err
	}
	d.RuntimeImage = image(o.BaseRegistry, ri)
	if d.BuildCommand, err = small("buildCommand", meta.BuildCommand, d); err != nil {
		return nil, err
	}
	test := b.TestCommand
	if test == "" {
		if test, err = small("testCommand", meta.TestCommand, d); err != nil {
			return nil, err
		}
	}
	d.DepCopies = groupByDir(d.DepFiles)
	var out bytes.Buffer
	if err := lib.tmpl.ExecuteTemplate(&out, m.Language+".Dockerfile.tmpl", d); err != nil {
		return nil, fmt.Errorf("rendering the %s template: %w", m.Language, err)
	}
	return &Result{
		Dockerfile:   out.Bytes(),
		Language:     m.Language,
		Evidence:     m.Evidence,
		Version:      d.Version,
		Port:         d.Port,
		TestCommand:  test,
		BuildImage:   d.BuildImage,
		RuntimeImage: d.RuntimeImage,
	}, nil
}

// chooseVersion applies, in order: .slipway.yaml, the project's own
// request, the platform default; a range gets the newest offered version
// that satisfies it.
func chooseVersion(lang string, offer Offer, configured string, found Requirement, unused bool) (string, error) {
	if unused {
		return "", nil
	}
	req := found
	if configured != "" {
		var err error
		if req, err = configuredRequirement(lang, configured); err != nil {
			return "", err
		}
	}
	return resolveVersion(lang, offer, req)
}

// minimum is the requirement of a version that newer ones also satisfy.
func minimum(v, where string) Requirement {
	if v == "" {
		return Requirement{}
	}
	return Requirement{Raw: v, Where: where, Constraint: atLeast(v)}
}

func normalizeVersion(lang, v string) string {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	switch lang {
	case "java-maven", "java-gradle":
		if j, err := javaMajor(v); err == nil {
			return j
		}
	case "go", "python":
		if p := strings.SplitN(v, ".", 3); len(p) == 3 {
			return p[0] + "." + p[1]
		}
	case "node", "static":
		major, _, _ := strings.Cut(v, ".")
		return major
	}
	return v
}

// depCopy is one COPY of dependency manifests into their directory.
type depCopy struct {
	Files []string
	Dir   string
}

func groupByDir(files []string) []depCopy {
	var out []depCopy
	for _, f := range files {
		dir := path.Dir(f) + "/"
		if n := len(out); n > 0 && out[n-1].Dir == dir {
			out[n-1].Files = append(out[n-1].Files, f)
			continue
		}
		out = append(out, depCopy{Files: []string{f}, Dir: dir})
	}
	return out
}

var argName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func buildArgs(m map[string]string) ([]BuildArg, error) {
	var out []BuildArg
	for k, v := range m {
		if !argName.MatchString(k) {
			return nil, fmt.Errorf("build.buildArgs: %q is not a valid ARG name (letters, digits, _)", k)
		}
		if err := plainValue("build.buildArgs."+k, v); err != nil {
			return nil, err
		}
		out = append(out, BuildArg{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// plainValue rejects what would need quoting in a Dockerfile ARG default
// or a shell word, rather than guess an escaping.
func plainValue(what, v string) error {
	if strings.ContainsAny(v, " \t\r\n\"'\\$`;&|<>(){}") {
		return fmt.Errorf("%s %q: spaces, quotes, '$', '\\' and shell operators are not allowed", what, v)
	}
	return nil
}

// Validate checks the options as Render would.
func (o Options) Validate() error {
	_, err := o.complete()
	return err
}

func (o Options) complete() (Options, error) {
	o.BaseRegistry = strings.TrimRight(strings.TrimSpace(o.BaseRegistry), "/")
	if strings.Contains(o.BaseRegistry, "://") {
		return o, fmt.Errorf("base registry %q: give a registry prefix like registry.corp/mirror, without a scheme", o.BaseRegistry)
	}
	p, err := CompletePlatform(o.Languages)
	if err != nil {
		return o, err
	}
	o.Languages = p
	for _, f := range []struct{ what, v string }{
		{"base registry", o.BaseRegistry}, {"GOPROXY", o.GoProxy}, {"npm registry", o.NpmRegistry},
		{"pip index URL", o.PipIndexURL}, {"Maven settings", o.MavenSettings},
	} {
		if err := plainValue(f.what, f.v); err != nil {
			return o, err
		}
	}
	return o, nil
}

// ----- go -----

func prepareGo(dir string, rc *repoconfig.Config, d *data) (Requirement, error) {
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return Requirement{}, fmt.Errorf("reading go.mod: %w", err)
	}
	v, err := GoVersion(gomod)
	if err != nil {
		return Requirement{}, err
	}
	d.DepFiles = append([]string{"go.mod"}, present(dir, []string{"go.sum"})...)
	d.Vendored = exists(filepath.Join(dir, "vendor", "modules.txt"))
	if d.GoMain, err = goMain(dir, rc.App); err != nil {
		return Requirement{}, err
	}
	d.Cmd = []string{"/app"}
	// The go directive is a minimum: a newer toolchain builds the module.
	return minimum(v, "go.mod go directive"), nil
}

var packageMain = regexp.MustCompile(`(?m)^package main\s*(//.*)?$`)

func hasMainPackage(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		if src, err := os.ReadFile(filepath.Join(dir, n)); err == nil && packageMain.Match(src) {
			return true
		}
	}
	return false
}

// goMain finds the main package: the module root, else the only one under
// cmd/, else cmd/<app>.
func goMain(dir, app string) (string, error) {
	if hasMainPackage(dir) {
		return ".", nil
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "cmd"))
	var mains []string
	for _, e := range ents {
		if e.IsDir() && hasMainPackage(filepath.Join(dir, "cmd", e.Name())) {
			mains = append(mains, e.Name())
		}
	}
	switch {
	case len(mains) == 1:
		return "./cmd/" + mains[0], nil
	case len(mains) > 1 && slices.Contains(mains, app):
		return "./cmd/" + app, nil
	case len(mains) > 1:
		return "", fmt.Errorf("several main packages under cmd/ (%s); set app in .slipway.yaml to the one to build", strings.Join(mains, ", "))
	}
	return "", fmt.Errorf("no main package: looked in the module root and in cmd/*/")
}

// ----- java -----

// findFiles lists, relative and slash-separated, the files under dir whose
// base name is in names, skipping build outputs and hidden directories.
func findFiles(dir string, names ...string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if e.IsDir() {
			n := e.Name()
			if rel != "." && (strings.HasPrefix(n, ".") || n == "target" || n == "build" || n == "node_modules" || n == "src") {
				return filepath.SkipDir
			}
			return nil
		}
		if slices.Contains(names, e.Name()) {
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing build files: %w", err)
	}
	// Root files first, then by path: stable output for golden files.
	sort.SliceStable(out, func(i, j int) bool {
		di, dj := strings.Count(out[i], "/"), strings.Count(out[j], "/")
		if di != dj {
			return di < dj
		}
		return out[i] < out[j]
	})
	return out, nil
}

func prepareMaven(dir string, o Options, d *data) (Requirement, error) {
	pomXML, err := os.ReadFile(filepath.Join(dir, "pom.xml"))
	if err != nil {
		return Requirement{}, fmt.Errorf("reading pom.xml: %w", err)
	}
	v, where, err := mavenJavaVersion(pomXML)
	if err != nil {
		return Requirement{}, err
	}
	if d.DepFiles, err = findFiles(dir, "pom.xml"); err != nil {
		return Requirement{}, err
	}
	switch s := o.MavenSettings; {
	case strings.Contains(s, "://"):
		d.MavenMirrorURL = s
		d.MavenSettingsXML = "<settings><mirrors><mirror><id>slipway-mirror</id><mirrorOf>*</mirrorOf><url>" + s + "</url></mirror></mirrors></settings>"
	case s != "":
		clean := path.Clean(filepath.ToSlash(s))
		if path.IsAbs(clean) || strings.HasPrefix(clean, "..") {
			return Requirement{}, fmt.Errorf("maven settings %q must be a path inside the build context or a mirror URL", s)
		}
		if !exists(filepath.Join(dir, filepath.FromSlash(clean))) {
			return Requirement{}, fmt.Errorf("maven settings %s not found in the build context", clean)
		}
		d.MavenSettingsPath = clean
	}
	// A release is a minimum: a newer JDK compiles for it.
	return minimum(v, where), nil
}

func prepareGradle(dir string, d *data) (Requirement, error) {
	files, err := findFiles(dir, "build.gradle", "build.gradle.kts", "settings.gradle", "settings.gradle.kts", "gradle.properties", "libs.versions.toml")
	if err != nil {
		return Requirement{}, err
	}
	d.DepFiles = files
	for _, f := range files {
		if !strings.HasPrefix(path.Base(f), "build.gradle") {
			continue
		}
		script, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f)))
		if err != nil {
			return Requirement{}, fmt.Errorf("reading %s: %w", f, err)
		}
		v, toolchain, err := gradleJavaVersion(script)
		if err != nil {
			return Requirement{}, fmt.Errorf("%s: %w", f, err)
		}
		if v != "" && toolchain {
			// A toolchain needs exactly that JDK: auto-download is off.
			return Requirement{Raw: v, Where: f + " Java toolchain", Constraint: exactLine(v)}, nil
		}
		if v != "" {
			return minimum(v, f+" sourceCompatibility"), nil
		}
	}
	if len(present(dir, []string{"build.gradle", "build.gradle.kts"})) == 0 {
		return Requirement{}, fmt.Errorf("no build.gradle or build.gradle.kts at the root")
	}
	return Requirement{}, nil
}

// ----- node and static -----

// prepareNode fills the package manager fields; server says whether a start
// command is needed.
func prepareNode(dir string, d *data, server bool) (Requirement, error) {
	data, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return Requirement{}, fmt.Errorf("reading package.json: %w", err)
	}
	pkg, err := parsePackageJSON(data)
	if err != nil {
		return Requirement{}, err
	}
	c, err := NodeConstraint(pkg.Engines.Node)
	if err != nil {
		return Requirement{}, fmt.Errorf("package.json engines.node: %w", err)
	}
	if err := choosePackageManager(dir, pkg, d); err != nil {
		return Requirement{}, err
	}
	d.HasBuildScript = pkg.Scripts["build"] != ""
	d.HasTestScript = pkg.Scripts["test"] != ""
	if server {
		if d.Cmd, err = nodeCmd(dir, pkg); err != nil {
			return Requirement{}, err
		}
	}
	return Requirement{Raw: pkg.Engines.Node, Where: "package.json engines.node", Constraint: c}, nil
}

var lockfiles = []struct{ file, pm string }{
	{"package-lock.json", "npm"}, {"npm-shrinkwrap.json", "npm"}, {"yarn.lock", "yarn"}, {"pnpm-lock.yaml", "pnpm"},
}

func choosePackageManager(dir string, pkg *packageJSON, d *data) error {
	var found []string
	pms := map[string]string{}
	for _, l := range lockfiles {
		if exists(filepath.Join(dir, l.file)) {
			found = append(found, l.file)
			pms[l.pm] = l.file
		}
	}
	// The packageManager field (corepack) settles a repo with several lockfiles.
	declared, _, _ := strings.Cut(pkg.PackageManager, "@")
	switch {
	case declared != "" && pms[declared] != "":
		d.PackageManager = declared
	case len(pms) > 1:
		return fmt.Errorf("several lockfiles (%s): remove the stale ones or set packageManager in package.json", strings.Join(found, ", "))
	case len(pms) == 1:
		for pm := range pms {
			d.PackageManager = pm
		}
	default:
		d.PackageManager = "npm"
	}
	lock := pms[d.PackageManager]
	d.DepFiles = []string{"package.json"}
	if lock != "" {
		d.DepFiles = append(d.DepFiles, lock)
	}
	d.DepFiles = append(d.DepFiles, present(dir, []string{".npmrc", ".yarnrc", ".yarnrc.yml"})...)
	registry := ` --registry="$NPM_CONFIG_REGISTRY"`
	switch d.PackageManager {
	case "npm":
		d.InstallCommand = "npm ci"
		if lock == "" {
			// No lockfile: npm ci refuses; reproducibility is the repo's choice.
			d.InstallCommand = "npm install --no-audit --no-fund"
		}
		d.PruneCommand = "npm prune --omit=dev"
	case "yarn":
		if berry(dir) {
			d.InstallCommand = "yarn install --immutable"
			d.InstallRun = `YARN_NPM_REGISTRY_SERVER="$NPM_CONFIG_REGISTRY" ` + d.InstallCommand
		} else {
			d.InstallCommand = "yarn install --frozen-lockfile"
			d.PruneCommand = "yarn install --frozen-lockfile --production --ignore-scripts --prefer-offline"
		}
	case "pnpm":
		d.InstallCommand = "pnpm install --frozen-lockfile"
		d.PruneCommand = "pnpm prune --prod"
	}
	if d.InstallRun == "" {
		d.InstallRun = d.InstallCommand + registry
	}
	return nil
}

// berry tells Yarn 2+ (different flags, no production-only install) from
// Yarn 1.
func berry(dir string) bool {
	if exists(filepath.Join(dir, ".yarnrc.yml")) {
		return true
	}
	lock, err := os.ReadFile(filepath.Join(dir, "yarn.lock"))
	return err == nil && bytes.Contains(lock, []byte("__metadata:"))
}

var simpleNodeStart = regexp.MustCompile(`^node ([A-Za-z0-9_./-]+)$`)

// nodeCmd is the runtime command: node itself when the start script is
// just `node FILE` (so node is PID 1 and gets SIGTERM), else npm start.
func nodeCmd(dir string, pkg *packageJSON) ([]string, error) {
	if start := strings.TrimSpace(pkg.Scripts["start"]); start != "" {
		if m := simpleNodeStart.FindStringSubmatch(start); m != nil {
			return []string{"node", m[1]}, nil
		}
		return []string{"npm", "start"}, nil
	}
	if pkg.Main != "" && exists(filepath.Join(dir, pkg.Main)) {
		return []string{"node", path.Clean(pkg.Main)}, nil
	}
	if f := present(dir, nodeEntryFiles); len(f) > 0 {
		return []string{"node", f[0]}, nil
	}
	return nil, fmt.Errorf("no way to start the server: package.json has no start script or main, and there is no %s", strings.Join(nodeEntryFiles, ", "))
}

func prepareStatic(dir string, d *data) (Requirement, error) {
	if data, err := os.ReadFile(filepath.Join(dir, "package.json")); err == nil {
		pkg, err := parsePackageJSON(data)
		if err != nil {
			return Requirement{}, err
		}
		if pkg.Scripts["build"] != "" {
			d.OutputDirs = []string{"dist", "build", "out", "public"}
			return prepareNode(dir, d, false)
		}
	}
	for _, c := range []struct{ file, dir string }{{"index.html", "."}, {"public/index.html", "public"}, {"dist/index.html", "dist"}} {
		if exists(filepath.Join(dir, filepath.FromSlash(c.file))) {
			d.SiteDir = c.dir
			return Requirement{}, nil
		}
	}
	return Requirement{}, fmt.Errorf("no index.html at the root, in public/ or in dist/, and no package.json build script")
}

// ----- python -----

var requirementLine = regexp.MustCompile(`(?m)^[ \t]*[^#\s]`)

func preparePython(dir string, d *data) (Requirement, error) {
	var req Requirement
	pyproject, pyErr := os.ReadFile(filepath.Join(dir, "pyproject.toml"))
	if pv, err := os.ReadFile(filepath.Join(dir, ".python-version")); err == nil {
		v, err := PythonVersionFile(pv)
		if err != nil {
			return Requirement{}, err
		}
		req = Requirement{Raw: v, Where: ".python-version", Constraint: exactLine(v)}
	} else if pyErr == nil {
		spec := requiresPython(pyproject)
		c, err := PythonConstraint(spec)
		if err != nil {
			return Requirement{}, fmt.Errorf("pyproject.toml requires-python: %w", err)
		}
		req = Requirement{Raw: spec, Where: "pyproject.toml requires-python", Constraint: c}
	}
	reqTxt, reqErr := os.ReadFile(filepath.Join(dir, "requirements.txt"))
	switch {
	case reqErr == nil:
		d.DepSource = "requirements.txt"
		if requirementLine.Match(reqTxt) {
			d.PipRequirements = "requirements.txt"
			d.TestInstall = "python3 -m pip install -r requirements.txt"
		}
	case pyErr == nil:
		d.DepSource = "pyproject.toml"
		if regexp.MustCompile(`(?m)^dependencies\s*=\s*\[\s*[^\]\s]`).Match(pyproject) {
			d.TestInstall = "python3 -m pip install ."
		}
	default:
		return Requirement{}, fmt.Errorf("no requirements.txt or pyproject.toml")
	}
	d.DepFiles = []string{d.DepSource}
	d.ReqFile = "requirements.txt"
	if d.DepSource == "pyproject.toml" {
		d.ReqFile = "/tmp/requirements.txt"
	}
	d.UsesPytest = bytes.Contains(reqTxt, []byte("pytest")) || bytes.Contains(pyproject, []byte("pytest")) ||
		len(present(dir, []string{"pytest.ini", "conftest.py"})) > 0
	var err error
	if d.Cmd, err = pythonCmd(dir); err != nil {
		return Requirement{}, err
	}
	return req, nil
}

var pythonEntryFiles = []string{"main.py", "app.py", "server.py", "__main__.py"}

func pythonCmd(dir string) ([]string, error) {
	if f := present(dir, pythonEntryFiles); len(f) > 0 {
		return []string{"python3", f[0]}, nil
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() && exists(filepath.Join(dir, e.Name(), "__main__.py")) {
			return []string{"python3", "-m", e.Name()}, nil
		}
	}
	return nil, fmt.Errorf("no entry point: looked for %s and a package with __main__.py", strings.Join(pythonEntryFiles, ", "))
}
