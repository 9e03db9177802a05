// Package repoconfig reads a repository's .slipway.yaml: which pushes build
// (filters), how superseded runs are cancelled, how the image is built, and
// the steps and services the unit tests get.
package repoconfig

import (
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// FileName is where Slipway looks in the repository root.
const FileName = ".slipway.yaml"

// MaxFileBytes caps the .slipway.yaml read: it is written by whoever can
// push, and parsed on the dispatcher's time.
const MaxFileBytes = 64 << 10

// Config is the parsed .slipway.yaml. The zero value is the default: build
// every branch, tag and merge request.
type Config struct {
	// App names the image and the PipelineRuns; default: the repo's last
	// path element. Exclusive with Apps.
	App string `json:"app,omitempty"`
	// Apps, when set, make the repository a monorepo: each app builds on
	// its own from its directory, only when its paths changed (apps.go).
	Apps []AppConfig `json:"apps,omitempty"`
	// SharedPaths are patterns whose changes build every app of Apps
	// (a shared library, the lockfile at the root). Only with Apps.
	SharedPaths []string `json:"sharedPaths,omitempty"`
	// Branches are glob patterns of branches whose pushes build; empty = all.
	Branches []string `json:"branches,omitempty"`
	// Tags are glob patterns of tags that build; empty = all.
	Tags []string `json:"tags,omitempty"`
	// Paths: build only when a changed file matches one ("**" spans
	// directories). Empty = any change.
	Paths []string `json:"paths,omitempty"`
	// IgnorePaths: changes only to files matching these never build.
	IgnorePaths []string `json:"ignorePaths,omitempty"`
	// CancelInProgress decides whether a newer push supersedes a running one.
	CancelInProgress *CancelPolicy `json:"cancelInProgress,omitempty"`
	// Build tunes the generated Dockerfile and the unit tests.
	Build Build `json:"build,omitempty"`
	// Trusted names who may build merge requests without a maintainer's
	// /ok-to-test besides those with write access. Read from the default
	// branch only (see ForMergeRequest).
	Trusted Trusted `json:"trusted,omitempty"`
	// Manifests, when set, make the app's Kubernetes objects come from
	// its repository: the deploy task reads them at the promoted commit.
	Manifests *Manifests `json:"manifests,omitempty"`
	// Steps run in the unit-test task before or after the tests.
	Steps []Step `json:"steps,omitempty"`
	// Services run beside the unit tests (Tekton sidecars).
	Services []Service `json:"services,omitempty"`
}

// Trusted is the trusted: section of .slipway.yaml.
type Trusted struct {
	// Users are git host logins (GitHub) or usernames (GitLab), bots
	// included: a bot is trusted only when named here.
	Users []string `json:"users,omitempty"`
	// Groups trust their members (people, not bots): GitHub organisation
	// teams as "org/team-slug" (active members; a pending invitation does
	// not count), GitLab groups by full path "group/subgroup" (members,
	// inherited ones included, with Developer access or more).
	Groups []string `json:"groups,omitempty"`
	// KeepApprovals keeps a merge request's /ok-to-test across new pushes.
	// Default false: each new head SHA waits for its own approval.
	KeepApprovals bool `json:"keepApprovals,omitempty"`
}

// MaxTrustedUsers caps trusted.users.
const MaxTrustedUsers = 1000

// MaxTrustedGroups caps trusted.groups: each group costs the host one
// lookup per untrusted author (per cache TTL), so a merge request by an
// outsider asks about every group before it waits.
const MaxTrustedGroups = 20

// maxGroupDepth is GitLab's limit on nested subgroups (20 levels below
// the top-level group).
const maxGroupDepth = 21

// TrustsUser reports whether user is listed in trusted.users (host logins
// compare case-insensitively, as both hosts treat them).
func (c *Config) TrustsUser(user string) bool {
	if user == "" {
		return false
	}
	for _, u := range c.Trusted.Users {
		if strings.EqualFold(u, user) {
			return true
		}
	}
	return false
}

// ForMergeRequest is the configuration a merge request builds with: what
// decides where the image goes (app; the list of apps, their names and
// images), who is trusted, which branches and tags build and how runs
// cancel comes from base, the default branch's .slipway.yaml; only what
// shapes the build itself (paths, ignorePaths and build: test command,
// Dockerfile, context, language; steps and services) comes from head, the
// merge request's own (an app's dir, paths and build: the head's entry of
// the same name; sharedPaths, when the head lists apps). Either may be nil
// (no file): the defaults. A step or service of head that reads a Secret
// must be base's, unchanged: an error says which is not.
func ForMergeRequest(base, head *Config) (*Config, error) {
	out := Config{}
	if base != nil {
		out = *base
	}
	out.Paths, out.IgnorePaths, out.Build, out.Steps, out.Services = nil, nil, Build{}, nil, nil
	if !out.Multi() {
		out.SharedPaths = nil
	}
	if head != nil {
		if err := checkMergeRequestSecrets(base, head); err != nil {
			return nil, err
		}
		out.Steps, out.Services = head.Steps, head.Services
	}
	switch {
	case head == nil:
	case out.Multi():
		// A monorepo's build settings are per app; a head still in the
		// single-app layout (or without a file) has none that apply and
		// keeps the default branch's sharedPaths.
		out.IgnorePaths = head.IgnorePaths
		if head.Multi() {
			out.SharedPaths = head.SharedPaths
		}
	default:
		out.Paths, out.IgnorePaths, out.Build = head.Paths, head.IgnorePaths, head.Build
	}
	out.Apps = mergeRequestApps(out.Apps, head)
	return &out, nil
}

// Manifests locate an app's Kustomize manifests in its repository.
type Manifests struct {
	// Path is the directory, relative to the repository root: a
	// kustomization (the base), or one with base/ and overlays/ENV/ (one
	// overlay per environment; an environment without one gets the base).
	Path string `json:"path"`
	// Image is the image name the manifests give the app's container
	// (`image: NAME`), replaced by the promoted digest; default the app.
	Image string `json:"image,omitempty"`
}

// CancelPolicy: nil fields take the defaults (branches no, merge requests yes).
type CancelPolicy struct {
	Branches      *bool `json:"branches,omitempty"`
	MergeRequests *bool `json:"mergeRequests,omitempty"`
}

// Build settings override what detection would choose.
type Build struct {
	// Language forces a template: go, java-maven, java-gradle, node, python, static.
	Language string `json:"language,omitempty"`
	// Version of the language toolchain (Go "1.22", JDK "17", Node "20", ...).
	Version     string            `json:"version,omitempty"`
	Port        int               `json:"port,omitempty"`
	BuildArgs   map[string]string `json:"buildArgs,omitempty"`
	TestCommand string            `json:"testCommand,omitempty"`
	// Dockerfile, when set, is the repo's own Dockerfile path; no template.
	Dockerfile string `json:"dockerfile,omitempty"`
	// Context is the build context directory relative to the repo root.
	Context string `json:"context,omitempty"`
}

// Parse reads and validates a .slipway.yaml. Unknown fields are errors, so a
// typo is reported instead of silently ignored.
func Parse(data []byte) (*Config, error) {
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d allowed", FileName, len(data), MaxFileBytes)
	}
	var c Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", FileName, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("invalid %s: %w", FileName, err)
	}
	return &c, nil
}

// Validate checks patterns and values.
func (c *Config) Validate() error {
	for _, set := range []struct {
		field    string
		patterns []string
	}{{"branches", c.Branches}, {"tags", c.Tags}, {"paths", c.Paths}, {"ignorePaths", c.IgnorePaths}, {"sharedPaths", c.SharedPaths}} {
		if err := checkPatterns(set.field, set.patterns); err != nil {
			return err
		}
	}
	if len(c.Trusted.Users) > MaxTrustedUsers {
		return fmt.Errorf("trusted.users: %d names, more than the %d allowed", len(c.Trusted.Users), MaxTrustedUsers)
	}
	for i, u := range c.Trusted.Users {
		if u == "" || len(u) > 255 || strings.ContainsAny(u, " \t\r\n/") {
			return fmt.Errorf("trusted.users[%d]: %q is not a user name", i, u)
		}
	}
	if len(c.Trusted.Groups) > MaxTrustedGroups {
		return fmt.Errorf("trusted.groups: %d groups, more than the %d allowed", len(c.Trusted.Groups), MaxTrustedGroups)
	}
	for i, g := range c.Trusted.Groups {
		if !validGroup(g) {
			return fmt.Errorf("trusted.groups[%d]: %q is not a group: want org/team-slug (GitHub) or a group's full path (GitLab) of letters, digits, '.', '_' and '-'", i, g)
		}
	}
	if err := c.Build.validate("build"); err != nil {
		return err
	}
	if err := c.validateApps(); err != nil {
		return err
	}
	if err := c.validateSteps(); err != nil {
		return err
	}
	if err := c.validateServices(); err != nil {
		return err
	}
	if c.App != "" && !validName(c.App) {
		return fmt.Errorf("app %q: use lowercase letters, digits and '-' (max 40)", c.App)
	}
	if m := c.Manifests; m != nil {
		if m.Path == "" || strings.HasPrefix(m.Path, "/") || slices.Contains(strings.Split(m.Path, "/"), "..") {
			return fmt.Errorf("manifests.path %q must be a directory inside the repository", m.Path)
		}
		if last := m.Image[strings.LastIndex(m.Image, "/")+1:]; strings.ContainsAny(m.Image, "@ \t") || strings.Contains(last, ":") {
			return fmt.Errorf("manifests.image %q: give the image name alone, without tag or digest", m.Image)
		}
	}
	return nil
}

// validate checks one build: section; field names it in errors.
func (b *Build) validate(field string) error {
	if b.Port < 0 || b.Port > 65535 {
		return fmt.Errorf("%s.port %d out of range", field, b.Port)
	}
	if strings.HasPrefix(b.Dockerfile, "/") || strings.Contains(b.Dockerfile, "..") {
		return fmt.Errorf("%s.dockerfile %q must be a path inside the repository", field, b.Dockerfile)
	}
	return nil
}

// validGroup accepts a team or group path: "/"-separated segments of
// letters, digits, '.', '_' and '-', none starting with '.' or '-' (so no
// "." or ".."), as the hosts allow in org, team-slug and group paths. The
// name ends up in an API URL path, so nothing else gets through.
func validGroup(g string) bool {
	segs := strings.Split(g, "/")
	if len(g) > 255 || len(segs) > maxGroupDepth {
		return false
	}
	for _, s := range segs {
		if s == "" || s[0] == '.' || s[0] == '-' {
			return false
		}
		for _, r := range s {
			if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '.' && r != '_' && r != '-' {
				return false
			}
		}
	}
	return true
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 40 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

// CancelBranches reports whether a newer push to a branch cancels the older run.
func (c *Config) CancelBranches() bool {
	if c.CancelInProgress == nil || c.CancelInProgress.Branches == nil {
		return false
	}
	return *c.CancelInProgress.Branches
}

// CancelMergeRequests reports whether a newer push to an MR cancels the older run.
func (c *Config) CancelMergeRequests() bool {
	if c.CancelInProgress == nil || c.CancelInProgress.MergeRequests == nil {
		return true
	}
	return *c.CancelInProgress.MergeRequests
}
