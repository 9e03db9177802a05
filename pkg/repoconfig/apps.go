package repoconfig

import (
	"fmt"
	"path"
	"strings"

	"sigs.k8s.io/yaml"
)

// MaxApps caps apps: each app of a push is a PipelineRun, a run record and
// a commit status, all made by whoever can push.
const MaxApps = 20

// maxDirBytes and maxImageBytes bound an app's dir and image.
const (
	maxDirBytes   = 256
	maxImageBytes = 128
)

// AppConfig is one entry of apps: in a monorepo's .slipway.yaml.
type AppConfig struct {
	// Name names the app's PipelineRuns, its run records, its commit
	// status context (slipway/ci/<name>) and, by default, its image:
	// lowercase letters, digits and '-', at most 40.
	Name string `json:"name"`
	// Dir is the app's directory, relative to the repository root ("."
	// for the root): the build context, where the language is detected,
	// where the unit tests run, and what its default paths cover.
	Dir string `json:"dir"`
	// Paths are patterns whose changes build the app; default Dir/**.
	// The file's sharedPaths build every app besides.
	Paths []string `json:"paths,omitempty"`
	// Image is the image repository under the platform's registry prefix;
	// default Name. Read from the default branch for merge requests.
	Image string `json:"image,omitempty"`
	// Build is the app's build: section; paths in it (dockerfile) are
	// relative to Dir, and context is not allowed (Dir is the context).
	Build Build `json:"build,omitempty"`
}

// App is one app to build, with its defaults filled in (Config.AppList).
type App struct {
	Name  string
	Dir   string
	Image string
	// Triggers are the patterns whose changes build it: its paths (default
	// Dir/**) and the repository's sharedPaths.
	Triggers []string
	Build    Build
}

// Multi reports whether the configuration lists apps.
func (c *Config) Multi() bool { return len(c.Apps) > 0 }

// AppList is the apps of a monorepo configuration, defaults filled in, in
// the file's order; nil when the file lists none.
func (c *Config) AppList() []App {
	out := make([]App, 0, len(c.Apps))
	for _, a := range c.Apps {
		app := App{Name: a.Name, Dir: a.Dir, Image: a.Image, Build: a.Build}
		if app.Image == "" {
			app.Image = a.Name
		}
		app.Triggers = append(app.Triggers, a.Paths...)
		if len(a.Paths) == 0 {
			app.Triggers = append(app.Triggers, dirPattern(a.Dir))
		}
		app.Triggers = append(app.Triggers, c.SharedPaths...)
		out = append(out, app)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// dirPattern is the pattern of everything under dir.
func dirPattern(dir string) string {
	if dir == "." {
		return "**"
	}
	return dir + "/**"
}

// mergeRequestApps is the apps a merge request builds: the default
// branch's list, names and images (an MR can neither add an app nor move
// one's image), each with the head's dir, paths and build for the app of
// the same name, or the default branch's when the head has none.
func mergeRequestApps(base []AppConfig, head *Config) []AppConfig {
	if len(base) == 0 {
		return nil
	}
	out := make([]AppConfig, len(base))
	for i, b := range base {
		out[i] = b
		if head == nil {
			continue
		}
		for _, h := range head.Apps {
			if h.Name == b.Name {
				out[i].Dir, out[i].Paths, out[i].Build = h.Dir, h.Paths, h.Build
				break
			}
		}
	}
	return out
}

// validateApps checks apps: and what may not go with it.
func (c *Config) validateApps() error {
	if len(c.Apps) == 0 {
		if len(c.SharedPaths) > 0 {
			return fmt.Errorf("sharedPaths: allowed only with apps")
		}
		return nil
	}
	switch {
	case c.App != "":
		return fmt.Errorf("app: and apps: are exclusive: name each app in its apps entry")
	case len(c.Apps) > MaxApps:
		return fmt.Errorf("apps: %d apps, more than the %d allowed", len(c.Apps), MaxApps)
	case len(c.Paths) > 0:
		return fmt.Errorf("paths: with apps:, give each app its paths (and sharedPaths for every app)")
	case !c.Build.empty():
		return fmt.Errorf("build: with apps:, give each app its own build section")
	case c.Manifests != nil:
		return fmt.Errorf("manifests: is for a single app; it cannot be combined with an apps list")
	}
	names := map[string]int{}
	images := map[string]int{}
	for i, a := range c.Apps {
		f := fmt.Sprintf("apps[%d]", i)
		if !validName(a.Name) {
			return fmt.Errorf("%s.name %q: use lowercase letters, digits and '-' (max 40)", f, a.Name)
		}
		if j, dup := names[a.Name]; dup {
			return fmt.Errorf("%s.name %q: apps[%d] has the same name", f, a.Name, j)
		}
		names[a.Name] = i
		if err := checkDir(a.Dir); err != nil {
			return fmt.Errorf("%s.dir: %w", f, err)
		}
		if err := checkPatterns(f+".paths", a.Paths); err != nil {
			return err
		}
		img := a.Image
		if img == "" {
			img = a.Name
		} else if err := checkImage(img); err != nil {
			return fmt.Errorf("%s.image: %w", f, err)
		}
		if j, dup := images[img]; dup {
			return fmt.Errorf("%s.image %q: apps[%d] pushes to the same image", f, img, j)
		}
		images[img] = i
		if a.Build.Context != "" {
			return fmt.Errorf("%s.build.context: an app's context is its dir", f)
		}
		if err := a.Build.validate(f + ".build"); err != nil {
			return err
		}
	}
	return nil
}

// checkDir accepts a clean relative directory inside the repository.
func checkDir(dir string) error {
	switch {
	case dir == "":
		return fmt.Errorf("required (\".\" for the repository root)")
	case len(dir) > maxDirBytes:
		return fmt.Errorf("%d bytes, more than the %d allowed", len(dir), maxDirBytes)
	case strings.HasPrefix(dir, "/") || path.Clean(dir) != dir || dir == ".." || strings.HasPrefix(dir, "../"):
		return fmt.Errorf("%q must be a clean relative directory inside the repository (like services/api)", dir)
	}
	for _, r := range dir {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return fmt.Errorf("%q: control characters and '\\' are not allowed", dir)
		}
	}
	return nil
}

// checkImage accepts a repository path under the registry prefix: lowercase
// components of letters and digits, separated inside by '.', '_' or '-',
// joined by '/' (no tag, no digest, no host).
func checkImage(img string) error {
	if len(img) > maxImageBytes {
		return fmt.Errorf("%q is %d bytes, more than the %d allowed", img, len(img), maxImageBytes)
	}
	for _, comp := range strings.Split(img, "/") {
		ok := comp != ""
		for i, r := range comp {
			alnum := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
			sep := r == '.' || r == '_' || r == '-'
			if !alnum && (!sep || i == 0 || i == len(comp)-1) {
				ok = false
			}
		}
		if !ok {
			return fmt.Errorf("%q: want a lowercase repository name under the registry (like shop/web), without host, tag or digest", img)
		}
	}
	return nil
}

// empty reports whether a build: section sets nothing.
func (b *Build) empty() bool {
	return b.Language == "" && b.Version == "" && b.Port == 0 && len(b.BuildArgs) == 0 &&
		b.TestCommand == "" && b.Dockerfile == "" && b.Context == ""
}

// Validate checks an app built from outside a parsed file (the dispatcher
// hands AppList's apps to the PipelineRun builder).
func (a App) Validate() error {
	if !validName(a.Name) {
		return fmt.Errorf("app %q: use lowercase letters, digits and '-' (max 40)", a.Name)
	}
	if err := checkDir(a.Dir); err != nil {
		return fmt.Errorf("app %s: dir: %w", a.Name, err)
	}
	if err := checkImage(a.Image); err != nil {
		return fmt.Errorf("app %s: image: %w", a.Name, err)
	}
	if a.Build.Context != "" {
		return fmt.Errorf("app %s: build.context: an app's context is its dir", a.Name)
	}
	return a.Build.validate("app " + a.Name + " build")
}

// ParseBuild reads one app's build: section as the dispatcher hands it to
// the pipeline (JSON, from AppList), for `slipway render --build-config`.
func ParseBuild(data []byte) (*Build, error) {
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("build settings are %d bytes, more than the %d allowed", len(data), MaxFileBytes)
	}
	var b Build
	if err := yaml.UnmarshalStrict(data, &b); err != nil {
		return nil, fmt.Errorf("parsing build settings: %w", err)
	}
	if b.Context != "" {
		return nil, fmt.Errorf("build settings: context is not allowed: an app's context is its dir")
	}
	if err := b.validate("build"); err != nil {
		return nil, err
	}
	return &b, nil
}
