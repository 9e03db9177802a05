// Package environment reads the release configuration: the environments
// an image moves through, in order, and the apps that move through them.
package environment

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/slipway-ci/slipway/pkg/rollout"
)

// PauseManual is the canary pause that waits for `slipway promote --continue`.
const PauseManual = "manual"

// Config is the whole release configuration.
type Config struct {
	// Environments in promotion order; the first one is where a successful
	// CI run on an app's branch deploys automatically.
	Environments []Environment `json:"environments"`
	Apps         []App         `json:"apps"`
	// RetireRemovedApps: at start, an app with deployments recorded but
	// no longer listed here is deleted from every cluster. Off by
	// default, so a typo in this file cannot delete production: such
	// apps are only reported (GET /api/v1/apps/retired) until an admin
	// runs `slipway app delete`.
	RetireRemovedApps bool `json:"retireRemovedApps,omitempty"`
}

// Environment is one stage (qa, prod) with its clusters and rollout.
type Environment struct {
	Name string `json:"name"`
	// Namespace is the default namespace of the apps in every cluster.
	Namespace string `json:"namespace"`
	// Registry is the repository prefix images are copied to:
	// <registry>/<app image>@sha256:….
	Registry string `json:"registry"`
	// Insecure: the registry speaks plain HTTP (local development only).
	Insecure bool `json:"insecure,omitempty"`
	// Approval: promoting into this environment needs a release manager
	// (a developer's request waits for `slipway approve`).
	Approval bool `json:"approval,omitempty"`
	// Clusters are rolled out one after the other (waves), in this order;
	// the first failure stops the promotion.
	Clusters []Cluster `json:"clusters"`
	Rollout  Rollout   `json:"rollout"`
	// Policy is how the dependency policy applies to promotions into
	// this environment.
	Policy EnvPolicy `json:"policy,omitempty"`
}

// EnvPolicy is an environment's dependency policy setting.
type EnvPolicy struct {
	// Recheck: before promoting into this environment, evaluate the
	// image's SBOM against the policy and the advisory feed as they are
	// now, and refuse on a violation (an admin may override, with a
	// reason, audited). Needs the server's advisory feed.
	Recheck bool `json:"recheck,omitempty"`
}

// Cluster is one Kubernetes cluster of an environment.
type Cluster struct {
	Name string `json:"name"`
	// KubeconfigSecret is a Secret in the deploy namespace (serve's
	// deploy-namespace, Slipway's own; never the builds namespace, where
	// CI pods could mount it) whose key "kubeconfig" reaches the cluster;
	// empty = the cluster Slipway runs in.
	KubeconfigSecret string `json:"kubeconfigSecret,omitempty"`
}

// InCluster reports whether c is the cluster Slipway runs in.
func (c Cluster) InCluster() bool { return c.KubeconfigSecret == "" }

// Rollout is how an image goes live. Empty fields take the defaults of
// `slipway deploy`; an app's override replaces only the fields it sets.
type Rollout struct {
	// Strategy is rolling (default), bluegreen or canary.
	Strategy string `json:"strategy,omitempty"`
	// Steps (canary) in percent of the stable replicas, ascending, ≤ 100.
	Steps []int `json:"steps,omitempty"`
	// Pause (canary) per step: a duration ("30s") or "manual".
	Pause string `json:"pause,omitempty"`
	// SmokeURL (bluegreen) must answer 2xx before the switch. It should
	// reach the new colour through the preview Service: "{preview}" stands
	// for its host (DEPLOYMENT-preview.NAMESPACE.svc) and a bare path
	// ("/healthz") means http://{preview}/healthz.
	SmokeURL string `json:"smokeURL,omitempty"`
	// ScaleDownDelay (bluegreen) keeps the old colour for an instant rollback.
	ScaleDownDelay string `json:"scaleDownDelay,omitempty"`
	// ProgressDeadline bounds each wait for readiness.
	ProgressDeadline string `json:"progressDeadline,omitempty"`
	// MaxRestarts of the new pods tolerated; nil = 0.
	MaxRestarts *int32 `json:"maxRestarts,omitempty"`
	// PrometheusURL and Analysis ("NAME=PROMQL<=MAX" / ">=MIN") are the
	// canary's metric thresholds.
	PrometheusURL string   `json:"prometheusURL,omitempty"`
	Analysis      []string `json:"analysis,omitempty"`
	// HTTPRoute ("NAMESPACE/NAME" or "NAME") or NginxIngress (the Ingress
	// name) carry the canary's traffic weight; without them weight follows
	// the replica ratio behind the Service.
	HTTPRoute    string `json:"httpRoute,omitempty"`
	NginxIngress string `json:"nginxIngress,omitempty"`
}

// App is one application Slipway builds and promotes.
type App struct {
	Name string `json:"name"`
	// Repo is "owner/name" (GitLab: "group/sub/name"), as runs record it.
	Repo string `json:"repo"`
	// CloneURL is the URL builds clone from, exactly as the provenance
	// records it (the webhook's clone URL); the gate compares it.
	CloneURL string `json:"cloneURL"`
	// Image is the repository name under each environment's registry and
	// under image-registry for CI; default Name.
	Image string `json:"image,omitempty"`
	// Branch whose successful CI runs deploy to the first environment;
	// empty: the repository's default branch, as the webhook payload of
	// the run's event says (main when it does not). See DeploysFrom.
	Branch string `json:"branch,omitempty"`
	// Environments holds per-environment overrides, by environment name.
	Environments map[string]AppEnv `json:"environments,omitempty"`
	// Manifests: the app's Kubernetes objects come from the Kustomize
	// manifests its .slipway.yaml names (`manifests.path`), which the
	// deploy task clones from CloneURL at the promoted commit, renders for
	// the environment and applies; the first promotion creates the app.
	// False: the image of an existing Deployment is swapped.
	Manifests bool `json:"manifests,omitempty"`
}

// AppEnv overrides an app's placement and rollout in one environment.
type AppEnv struct {
	// Deployment is the Deployment/Service name; default the app's name.
	Deployment string `json:"deployment,omitempty"`
	// Namespace; default the environment's.
	Namespace string  `json:"namespace,omitempty"`
	Rollout   Rollout `json:"rollout,omitempty"`
}

// Target is everything needed to roll an app out into one environment.
type Target struct {
	App        string
	Env        string
	Namespace  string
	Deployment string
	// Repository is <registry>/<image>, without digest.
	Repository string
	Insecure   bool
	Approval   bool
	Clusters   []Cluster
	Rollout    Rollout
	// Source is the clone URL the deploy task reads the app's manifests
	// from at the promoted commit; empty: the image-swap mode.
	Source string
}

// Load reads and validates the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading release config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("release config %s: %w", path, err)
	}
	return c, nil
}

// FallbackBranch is the branch that auto-deploys when neither the app nor
// the run's webhook payload names one.
const FallbackBranch = "main"

// DeploysFrom is the branch whose successful CI runs deploy a to the
// first environment: its Branch when set (an explicit setting wins),
// else the repository's default branch (defaultBranch, from the webhook
// payload; "" when unknown), else FallbackBranch.
func (a App) DeploysFrom(defaultBranch string) string {
	switch {
	case a.Branch != "":
		return a.Branch
	case defaultBranch != "":
		return defaultBranch
	}
	return FallbackBranch
}

// Parse decodes strictly (unknown keys are errors), applies defaults and
// validates.
func Parse(data []byte) (*Config, error) {
	var c Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	for i := range c.Apps {
		a := &c.Apps[i]
		if a.Image == "" {
			a.Image = a.Name
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// dns1123 is a Kubernetes object name (environment, cluster, app names end
// up in PipelineRun names and labels).
var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// Validate reports every problem, each naming its path in the file.
func (c *Config) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if len(c.Environments) == 0 {
		add("environments", "at least one environment is required")
	}
	envs := map[string]bool{}
	for i, e := range c.Environments {
		p := fmt.Sprintf("environments[%d]", i)
		if !dns1123.MatchString(e.Name) {
			add(p+".name", "%q must be a lowercase DNS label", e.Name)
		} else if envs[e.Name] {
			add(p+".name", "duplicate environment %q", e.Name)
		}
		envs[e.Name] = true
		p = fmt.Sprintf("environments[%d] (%s)", i, e.Name)
		if e.Namespace == "" {
			add(p+".namespace", "required")
		}
		if e.Registry == "" || strings.Contains(e.Registry, "@") {
			add(p+".registry", "%q: want a repository prefix like registry.example.com/prod", e.Registry)
		}
		if len(e.Clusters) == 0 {
			add(p+".clusters", "at least one cluster is required")
		}
		clusters := map[string]bool{}
		for j, cl := range e.Clusters {
			cp := fmt.Sprintf("%s.clusters[%d]", p, j)
			if !dns1123.MatchString(cl.Name) {
				add(cp+".name", "%q must be a lowercase DNS label", cl.Name)
			} else if clusters[cl.Name] {
				add(cp+".name", "duplicate cluster %q", cl.Name)
			}
			clusters[cl.Name] = true
		}
		for _, err := range e.Rollout.validate() {
			add(p+".rollout", "%v", err)
		}
	}
	apps, repos := map[string]bool{}, map[string]string{}
	for i, a := range c.Apps {
		p := fmt.Sprintf("apps[%d]", i)
		if !dns1123.MatchString(a.Name) {
			add(p+".name", "%q must be a lowercase DNS label", a.Name)
		} else if apps[a.Name] {
			add(p+".name", "duplicate app %q", a.Name)
		}
		apps[a.Name] = true
		p = fmt.Sprintf("apps[%d] (%s)", i, a.Name)
		if strings.Count(a.Repo, "/") < 1 || strings.HasPrefix(a.Repo, "/") || strings.HasSuffix(a.Repo, "/") || strings.Contains(a.Repo, "://") {
			add(p+".repo", "%q: want owner/name as the git host names it", a.Repo)
		} else if other, ok := repos[a.Repo]; ok {
			// Auto-deploy maps a run's repo to one app.
			add(p+".repo", "%q is already the repo of app %q", a.Repo, other)
		} else {
			repos[a.Repo] = a.Name
		}
		if !strings.Contains(a.CloneURL, "://") {
			add(p+".cloneURL", "%q: want the URL builds clone, e.g. https://github.com/%s.git", a.CloneURL, a.Repo)
		}
		if a.Image == "" || strings.ContainsAny(a.Image, ":@ ") || a.Image != strings.ToLower(a.Image) {
			add(p+".image", "%q: want a lowercase repository name without tag or digest", a.Image)
		}
		names := make([]string, 0, len(a.Environments))
		for n := range a.Environments {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			ep := fmt.Sprintf("%s.environments.%s", p, n)
			if !envs[n] {
				add(ep, "unknown environment %q", n)
				continue
			}
			o := a.Environments[n]
			if o.Deployment != "" && !dns1123.MatchString(o.Deployment) {
				add(ep+".deployment", "%q must be a lowercase DNS label", o.Deployment)
			}
			merged := c.env(n).Rollout.merge(o.Rollout)
			for _, err := range merged.validate() {
				add(ep+".rollout", "%v", err)
			}
		}
	}
	return errors.Join(errs...)
}

func (r Rollout) validate() []error {
	var errs []error
	switch r.Strategy {
	case "", "rolling", "bluegreen", "canary":
	default:
		errs = append(errs, fmt.Errorf("strategy %q: want rolling, bluegreen or canary", r.Strategy))
	}
	prev := 0
	for _, s := range r.Steps {
		if s <= prev || s > 100 {
			errs = append(errs, fmt.Errorf("steps %v: each must be in 1..100 and greater than the one before", r.Steps))
			break
		}
		prev = s
	}
	if r.Pause != "" && r.Pause != PauseManual {
		if err := positiveDuration(r.Pause); err != nil {
			errs = append(errs, fmt.Errorf("pause %q: want a duration like 30s or %q: %w", r.Pause, PauseManual, err))
		}
	}
	for _, d := range []struct{ name, v string }{{"scaleDownDelay", r.ScaleDownDelay}, {"progressDeadline", r.ProgressDeadline}} {
		if d.v == "" {
			continue
		}
		if err := positiveDuration(d.v); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", d.name, d.v, err))
		}
	}
	if r.MaxRestarts != nil && *r.MaxRestarts < 0 {
		errs = append(errs, fmt.Errorf("maxRestarts %d must not be negative", *r.MaxRestarts))
	}
	for _, a := range r.Analysis {
		if _, err := rollout.ParseQuery(a); err != nil {
			errs = append(errs, err)
		}
	}
	if len(r.Analysis) > 0 && r.PrometheusURL == "" {
		errs = append(errs, errors.New("analysis needs prometheusURL"))
	}
	if r.HTTPRoute != "" && r.NginxIngress != "" {
		errs = append(errs, errors.New("httpRoute and nginxIngress are exclusive: one carries the canary's weight"))
	}
	return errs
}

func positiveDuration(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if d < 0 {
		return errors.New("must not be negative")
	}
	return nil
}

// merge returns r with the fields o sets replacing r's.
func (r Rollout) merge(o Rollout) Rollout {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&r.Strategy, o.Strategy)
	set(&r.Pause, o.Pause)
	set(&r.SmokeURL, o.SmokeURL)
	set(&r.ScaleDownDelay, o.ScaleDownDelay)
	set(&r.ProgressDeadline, o.ProgressDeadline)
	set(&r.PrometheusURL, o.PrometheusURL)
	set(&r.HTTPRoute, o.HTTPRoute)
	set(&r.NginxIngress, o.NginxIngress)
	if o.Steps != nil {
		r.Steps = o.Steps
	}
	if o.Analysis != nil {
		r.Analysis = o.Analysis
	}
	if o.MaxRestarts != nil {
		r.MaxRestarts = o.MaxRestarts
	}
	if r.Strategy == "" {
		r.Strategy = "rolling"
	}
	return r
}

func (c *Config) env(name string) *Environment {
	for i := range c.Environments {
		if c.Environments[i].Name == name {
			return &c.Environments[i]
		}
	}
	return nil
}

// Env returns the environment called name.
func (c *Config) Env(name string) (*Environment, bool) {
	e := c.env(name)
	return e, e != nil
}

// Index is name's position in the promotion order, -1 when unknown.
func (c *Config) Index(name string) int {
	return slices.IndexFunc(c.Environments, func(e Environment) bool { return e.Name == name })
}

// First is the auto-deploy environment.
func (c *Config) First() *Environment { return &c.Environments[0] }

// App returns the app called name.
func (c *Config) App(name string) (*App, bool) {
	i := slices.IndexFunc(c.Apps, func(a App) bool { return a.Name == name })
	if i < 0 {
		return nil, false
	}
	return &c.Apps[i], true
}

// AppForRepo returns the app built from repo.
func (c *Config) AppForRepo(repo string) (*App, bool) {
	i := slices.IndexFunc(c.Apps, func(a App) bool { return a.Repo == repo })
	if i < 0 {
		return nil, false
	}
	return &c.Apps[i], true
}

// Target resolves app in env with the app's overrides applied.
func (c *Config) Target(app, env string) (Target, error) {
	a, ok := c.App(app)
	if !ok {
		return Target{}, fmt.Errorf("unknown app %q", app)
	}
	e, ok := c.Env(env)
	if !ok {
		return Target{}, fmt.Errorf("unknown environment %q", env)
	}
	o := a.Environments[env]
	t := Target{
		App: a.Name, Env: e.Name, Namespace: e.Namespace, Deployment: a.Name,
		Repository: strings.TrimSuffix(e.Registry, "/") + "/" + a.Image,
		Insecure:   e.Insecure, Approval: e.Approval, Clusters: e.Clusters,
		Rollout: e.Rollout.merge(o.Rollout),
	}
	if o.Namespace != "" {
		t.Namespace = o.Namespace
	}
	if o.Deployment != "" {
		t.Deployment = o.Deployment
	}
	if a.Manifests {
		t.Source = a.CloneURL
	}
	return t, nil
}
