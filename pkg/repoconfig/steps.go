package repoconfig

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Caps on steps: and services:, so what a .slipway.yaml adds to a pod
// stays small.
const (
	MaxSteps       = 10
	MaxServices    = 5
	MaxEnv         = 50 // per step or service
	MaxArgs        = 64 // per command
	MaxArgBytes    = 4 << 10
	MaxScriptBytes = 16 << 10
	MaxPorts       = 10
	// DefaultReadinessSeconds is how long a service may take to become
	// ready when readiness.timeoutSeconds is not set.
	DefaultReadinessSeconds = 120
	MaxReadinessSeconds     = 600
)

// BuildImage is the image keyword of the app's own build image: the
// language toolchain the unit tests run in. It is always allowed.
const BuildImage = "build"

// When a step runs.
const (
	BeforeTests = "before-tests"
	AfterTests  = "after-tests"
)

// ReservedStepNames are the unit-test task's own steps; a repository's
// steps take other names (pkg/tekton checks the task has no others).
var ReservedStepNames = []string{"tools", "cache-restore", "test", "cache-save", "report"}

// Step is one extra step of the unit-test task.
type Step struct {
	// Name is the step's name in the run's logs, a DNS label.
	Name string `json:"name"`
	// When is BeforeTests (the default) or AfterTests. An after-tests
	// step runs only when the tests passed.
	When string `json:"when,omitempty"`
	// Image is BuildImage (the default) or an image the platform allows
	// (slipway serve's step-images).
	Image string `json:"image,omitempty"`
	// Command is the argv to run; Script a shell script (run by /bin/sh
	// unless it starts with #!). Exactly one is set.
	Command []string `json:"command,omitempty"`
	Script  string   `json:"script,omitempty"`
	Env     []EnvVar `json:"env,omitempty"`
}

// Service is a container beside the unit tests (a Tekton sidecar), reached
// at localhost: the tests start once it is ready.
type Service struct {
	Name  string `json:"name"`
	Image string `json:"image"`
	// Command, when set, replaces the image's entrypoint and arguments.
	Command []string `json:"command,omitempty"`
	Env     []EnvVar `json:"env,omitempty"`
	Ports   []int    `json:"ports,omitempty"`
	// Readiness decides when the tests may start; default: a TCP connect
	// to the first port.
	Readiness *Readiness `json:"readiness,omitempty"`
}

// Readiness is a service's readiness check: a command run in the service's
// container, or a TCP port that accepts connections.
type Readiness struct {
	Command []string `json:"command,omitempty"`
	TCPPort int      `json:"tcpPort,omitempty"`
	// TimeoutSeconds bounds the wait; a service not ready by then is
	// stopped and the tests run without it (and fail with their own
	// error). Default DefaultReadinessSeconds.
	TimeoutSeconds int `json:"timeoutSeconds,omitempty"`
}

// EnvVar is a plain value or a key of a Secret the platform allows.
type EnvVar struct {
	Name      string     `json:"name"`
	Value     string     `json:"value,omitempty"`
	SecretRef *SecretRef `json:"secretRef,omitempty"`
}

// SecretRef names a key of a Secret in the builds namespace.
type SecretRef struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// ReadinessTCPPort is the port a service's readiness connects to, 0 when
// it runs a command.
func (s *Service) ReadinessTCPPort() int {
	switch {
	case s.Readiness != nil && len(s.Readiness.Command) > 0:
		return 0
	case s.Readiness != nil && s.Readiness.TCPPort != 0:
		return s.Readiness.TCPPort
	case len(s.Ports) > 0:
		return s.Ports[0]
	}
	return 0
}

// ReadinessSeconds is how long the service may take to become ready.
func (s *Service) ReadinessSeconds() int {
	if s.Readiness == nil || s.Readiness.TimeoutSeconds == 0 {
		return DefaultReadinessSeconds
	}
	return s.Readiness.TimeoutSeconds
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// tektonVariable matches Tekton's $(params.…) and friends, which Tekton
// would replace in a step's text; Slipway passes none of them on.
var tektonVariable = regexp.MustCompile(`\$\((params|context|workspaces|steps|step|results|tasks|inputs|outputs|resources|credentials|artifacts|sidecars)[.\[]`)

func checkText(field, s string) error {
	if m := tektonVariable.FindString(s); m != "" {
		return fmt.Errorf("%s: %q would be replaced by Tekton; Slipway passes no Tekton variables to steps", field, m+"…)")
	}
	return nil
}

func checkArgv(field string, argv []string) error {
	if len(argv) > MaxArgs {
		return fmt.Errorf("%s: %d arguments, more than the %d allowed", field, len(argv), MaxArgs)
	}
	if len(argv) > 0 && argv[0] == "" {
		return fmt.Errorf("%s: the program name is empty", field)
	}
	for i, a := range argv {
		if len(a) > MaxArgBytes {
			return fmt.Errorf("%s[%d]: %d bytes, more than the %d allowed", field, i, len(a), MaxArgBytes)
		}
		if err := checkText(fmt.Sprintf("%s[%d]", field, i), a); err != nil {
			return err
		}
	}
	return nil
}

func checkStepImage(field, image string) error {
	if image == "" || len(image) > 255 || strings.ContainsAny(image, " \t\r\n\"'$") {
		return fmt.Errorf("%s %q is not an image reference", field, image)
	}
	return nil
}

func checkEnv(field string, env []EnvVar) error {
	if len(env) > MaxEnv {
		return fmt.Errorf("%s: %d variables, more than the %d allowed", field, len(env), MaxEnv)
	}
	seen := map[string]bool{}
	for i, e := range env {
		f := fmt.Sprintf("%s[%d]", field, i)
		if len(e.Name) > 128 || !envName.MatchString(e.Name) {
			return fmt.Errorf("%s: %q is not an environment variable name (letters, digits and _, not first a digit)", f, e.Name)
		}
		if seen[e.Name] {
			return fmt.Errorf("%s: %s is set twice", f, e.Name)
		}
		seen[e.Name] = true
		if e.SecretRef == nil {
			if len(e.Value) > MaxArgBytes {
				return fmt.Errorf("%s (%s): value is %d bytes, more than the %d allowed", f, e.Name, len(e.Value), MaxArgBytes)
			}
			if err := checkText(f+" ("+e.Name+")", e.Value); err != nil {
				return err
			}
			continue
		}
		if e.Value != "" {
			return fmt.Errorf("%s (%s): give value or secretRef, not both", f, e.Name)
		}
		if errs := validation.IsDNS1123Subdomain(e.SecretRef.Name); len(errs) > 0 {
			return fmt.Errorf("%s (%s): secretRef.name %q is not a Secret name", f, e.Name, e.SecretRef.Name)
		}
		if errs := validation.IsConfigMapKey(e.SecretRef.Key); len(errs) > 0 {
			return fmt.Errorf("%s (%s): secretRef.key %q is not a Secret key", f, e.Name, e.SecretRef.Key)
		}
	}
	return nil
}

// stepName: a DNS label short enough for Tekton's "step-" and "sidecar-"
// container name prefixes.
func stepName(s string) bool { return validName(s) }

func (c *Config) validateSteps() error {
	if len(c.Steps) > MaxSteps {
		return fmt.Errorf("steps: %d steps, more than the %d allowed", len(c.Steps), MaxSteps)
	}
	seen := map[string]bool{}
	for i, s := range c.Steps {
		f := fmt.Sprintf("steps[%d]", i)
		if !stepName(s.Name) {
			return fmt.Errorf("%s: name %q: use lowercase letters, digits and '-' (max 40)", f, s.Name)
		}
		f += " (" + s.Name + ")"
		if slices.Contains(ReservedStepNames, s.Name) {
			return fmt.Errorf("%s: %q is the name of one of Slipway's own steps (%s)", f, s.Name, strings.Join(ReservedStepNames, ", "))
		}
		if seen[s.Name] {
			return fmt.Errorf("%s: a step named %q comes earlier", f, s.Name)
		}
		seen[s.Name] = true
		switch s.When {
		case "", BeforeTests, AfterTests:
		default:
			return fmt.Errorf("%s: when %q: want %s or %s", f, s.When, BeforeTests, AfterTests)
		}
		if s.Image != "" {
			if err := checkStepImage(f+": image", s.Image); err != nil {
				return err
			}
		}
		switch {
		case len(s.Command) == 0 && s.Script == "":
			return fmt.Errorf("%s: give command or script", f)
		case len(s.Command) > 0 && s.Script != "":
			return fmt.Errorf("%s: give command or script, not both", f)
		case len(s.Script) > MaxScriptBytes:
			return fmt.Errorf("%s: script is %d bytes, more than the %d allowed", f, len(s.Script), MaxScriptBytes)
		}
		if err := checkArgv(f+": command", s.Command); err != nil {
			return err
		}
		if err := checkText(f+": script", s.Script); err != nil {
			return err
		}
		if err := checkEnv(f+": env", s.Env); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) validateServices() error {
	if len(c.Services) > MaxServices {
		return fmt.Errorf("services: %d services, more than the %d allowed", len(c.Services), MaxServices)
	}
	seen := map[string]bool{}
	for i, s := range c.Services {
		f := fmt.Sprintf("services[%d]", i)
		if !stepName(s.Name) {
			return fmt.Errorf("%s: name %q: use lowercase letters, digits and '-' (max 40)", f, s.Name)
		}
		f += " (" + s.Name + ")"
		if seen[s.Name] {
			return fmt.Errorf("%s: a service named %q comes earlier", f, s.Name)
		}
		seen[s.Name] = true
		if s.Image == BuildImage {
			return fmt.Errorf("%s: a service needs an image of its own, not %q", f, BuildImage)
		}
		if err := checkStepImage(f+": image", s.Image); err != nil {
			return err
		}
		if err := checkArgv(f+": command", s.Command); err != nil {
			return err
		}
		if err := checkEnv(f+": env", s.Env); err != nil {
			return err
		}
		if len(s.Ports) > MaxPorts {
			return fmt.Errorf("%s: %d ports, more than the %d allowed", f, len(s.Ports), MaxPorts)
		}
		for j, p := range s.Ports {
			if p < 1 || p > 65535 {
				return fmt.Errorf("%s: ports[%d] %d out of range", f, j, p)
			}
			if slices.Contains(s.Ports[:j], p) {
				return fmt.Errorf("%s: port %d listed twice", f, p)
			}
		}
		if r := s.Readiness; r != nil {
			switch {
			case len(r.Command) > 0 && r.TCPPort != 0:
				return fmt.Errorf("%s: readiness: give command or tcpPort, not both", f)
			case r.TCPPort < 0 || r.TCPPort > 65535:
				return fmt.Errorf("%s: readiness.tcpPort %d out of range", f, r.TCPPort)
			case r.TimeoutSeconds < 0 || r.TimeoutSeconds > MaxReadinessSeconds:
				return fmt.Errorf("%s: readiness.timeoutSeconds %d: want 1 to %d", f, r.TimeoutSeconds, MaxReadinessSeconds)
			}
			if err := checkArgv(f+": readiness.command", r.Command); err != nil {
				return err
			}
		}
		if s.ReadinessTCPPort() == 0 && (s.Readiness == nil || len(s.Readiness.Command) == 0) {
			return fmt.Errorf("%s: give ports or a readiness check (command or tcpPort), so the tests start once it is ready", f)
		}
	}
	return nil
}

// StepPolicy is the platform's word on steps and services (slipway serve's
// step-images and step-secrets): which images they may run and which
// Secrets each repository's may read. The zero value allows only the
// app's build image and no Secret.
type StepPolicy struct {
	// Images are glob patterns of image references ("*" within a path
	// element, "**" across), e.g. "registry.corp/ci/postgres:*".
	Images []string
	// Secrets are the Secrets of the builds namespace a repository's
	// steps and services may read.
	Secrets []SecretGrant
}

// SecretGrant lets the repositories matching Repos read Secret Name.
type SecretGrant struct {
	Name  string
	Repos []string
}

// Validate checks the patterns and names.
func (p StepPolicy) Validate() error {
	if err := checkPatterns("step-images", p.Images); err != nil {
		return err
	}
	for i, g := range p.Secrets {
		if errs := validation.IsDNS1123Subdomain(g.Name); len(errs) > 0 {
			return fmt.Errorf("step-secrets[%d]: %q is not a Secret name", i, g.Name)
		}
		if len(g.Repos) == 0 {
			return fmt.Errorf("step-secrets[%d]: Secret %s names no repositories", i, g.Name)
		}
		if err := checkPatterns(fmt.Sprintf("step-secrets[%d] (%s) repositories", i, g.Name), g.Repos); err != nil {
			return err
		}
	}
	return nil
}

func (p StepPolicy) imageAllowed(image string) bool {
	return image == "" || image == BuildImage || MatchAny(p.Images, image)
}

func (p StepPolicy) secretAllowed(repo, name string) bool {
	for _, g := range p.Secrets {
		if g.Name == name && MatchAny(g.Repos, repo) {
			return true
		}
	}
	return false
}

// CheckAllowed reports the first step or service of c whose image p does
// not allow, or that reads a Secret p does not grant repo.
func (c *Config) CheckAllowed(repo string, p StepPolicy) error {
	check := func(field, image string, env []EnvVar) error {
		if !p.imageAllowed(image) {
			return fmt.Errorf("%s: image %q is not one the platform allows (slipway serve's step-images); use %q, the app's build image, or ask the platform team", field, image, BuildImage)
		}
		for _, e := range env {
			if e.SecretRef != nil && !p.secretAllowed(repo, e.SecretRef.Name) {
				return fmt.Errorf("%s: env %s: Secret %q is not one %s may read (slipway serve's step-secrets)", field, e.Name, e.SecretRef.Name, repo)
			}
		}
		return nil
	}
	for i, s := range c.Steps {
		if err := check(fmt.Sprintf("steps[%d] (%s)", i, s.Name), s.Image, s.Env); err != nil {
			return err
		}
	}
	for i, s := range c.Services {
		if err := check(fmt.Sprintf("services[%d] (%s)", i, s.Name), s.Image, s.Env); err != nil {
			return err
		}
	}
	return nil
}

func readsSecret(env []EnvVar) string {
	for _, e := range env {
		if e.SecretRef != nil {
			return e.SecretRef.Name
		}
	}
	return ""
}

// checkMergeRequestSecrets: a merge request's own .slipway.yaml may add
// and change steps and services, but one that reads a Secret must be the
// default branch's, unchanged, so an MR cannot point a Secret at a command
// of its choosing.
func checkMergeRequestSecrets(base, head *Config) error {
	var baseSteps []Step
	var baseServices []Service
	if base != nil {
		baseSteps, baseServices = base.Steps, base.Services
	}
	for i, s := range head.Steps {
		secret := readsSecret(s.Env)
		if secret == "" {
			continue
		}
		j := slices.IndexFunc(baseSteps, func(b Step) bool { return b.Name == s.Name })
		if j < 0 || !reflect.DeepEqual(baseSteps[j], s) {
			return fmt.Errorf("steps[%d] (%s) reads Secret %q: in a merge request a step may read a Secret only as the default branch's %s defines it, unchanged", i, s.Name, secret, FileName)
		}
	}
	for i, s := range head.Services {
		secret := readsSecret(s.Env)
		if secret == "" {
			continue
		}
		j := slices.IndexFunc(baseServices, func(b Service) bool { return b.Name == s.Name })
		if j < 0 || !reflect.DeepEqual(baseServices[j], s) {
			return fmt.Errorf("services[%d] (%s) reads Secret %q: in a merge request a service may read a Secret only as the default branch's %s defines it, unchanged", i, s.Name, secret, FileName)
		}
	}
	return nil
}
