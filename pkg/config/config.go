// Package config holds every setting of `slipway serve`. Each setting can be
// given as a flag, as a SLIPWAY_* environment variable, or in a YAML config
// file (--config), in that order of precedence. Secrets can also be read from
// files (mounted Kubernetes Secrets) via the *-file variants.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/slipway-ci/slipway/pkg/dockerfile"
)

// Config is the server configuration.
type Config struct {
	Addr      string
	PublicURL string
	// BuilderID is the provenance builder id CI builds record and the
	// promotion gate requires; empty: BuilderIDFor(PublicURL). Use Builder.
	BuilderID string
	Store     string
	LogLevel  string
	LogFormat string
	DebugAddr string // Go profiler listener; empty: off

	GitHubWebhookSecret Secret
	GitHubToken         Secret
	GitHubAPIURL        string
	GitLabWebhookToken  Secret
	GitLabToken         Secret
	GitLabAPIURL        string

	// Untrusted contributions (issue 14): where repositories are cloned
	// from, which may build, per-repository webhook secrets, and where
	// merge requests' images go.
	GitHubURL              string
	GitLabURL              string
	InsecureGitHosts       []string
	AllowedRepos           []string
	RepoWebhookSecretsFile string
	PRImageSuffix          string
	PRBuildkitAddr         string

	// Missed deliveries recovered (issue 16); recovery.go.
	RecoverInterval       time.Duration
	RecoverWindow         time.Duration
	GitHubRecoverHooks    string
	GitLabRecoverProjects []string

	// Webhook intake bounds, quantities ("25Mi"); see WebhookLimits.
	WebhookMaxBodyBytes     string
	WebhookMaxInflightBytes string

	Kubeconfig string
	// Namespace is the builds namespace: CI PipelineRuns, whose pods run
	// untrusted code. DeployNamespace holds the deploy PipelineRuns and
	// the kubeconfig Secrets they mount; it must differ (namespaces.go).
	Namespace          string
	DeployNamespace    string
	KubeQPS            float64
	KubeBurst          int
	InstallPipelines   bool
	ImageRegistry      string
	RegistryInsecure   bool
	BaseRegistry       string
	BuildkitAddr       string
	BuildkitTLSSecret  string
	TestCache          bool
	PipelineFSGroup    int64
	SlipwayImage       string
	ServiceAccount     string
	GitCredentials     string
	WorkspaceSize      string
	StorageClass       string
	PipelineTimeout    time.Duration
	DeployTimeout      time.Duration
	DispatchWorkers    int
	DispatchWait       time.Duration
	PollInterval       time.Duration
	StatusContext      string
	CancelBranchRuns   bool
	InsecureRegistries []string
	ShutdownTimeout    time.Duration
	// ShutdownDrain: on SIGTERM, /healthz and /readyz answer 503 this
	// long before the listener closes, so the Service stops sending first.
	ShutdownDrain time.Duration

	// Leader election (issue 16): the loops that must run once (reporter,
	// notifications, log collector, pruners, promotions) run on the
	// replica holding a Lease.
	LeaderElect              bool
	LeaderElectNamespace     string
	LeaderElectLeaseName     string
	LeaderElectIdentity      string
	LeaderElectLeaseDuration time.Duration
	LeaderElectRenewDeadline time.Duration
	LeaderElectRetryPeriod   time.Duration

	// SBOMGeneratorImage is the image BuildKit runs to attach an SPDX SBOM
	// to every built image (images/sbom-generator); empty: no SBOM.
	SBOMGeneratorImage string

	// Merge requests, concurrency and notifications.
	MaxRunningPerRepo  int
	PruneKeep          int    // finished PipelineRuns kept per app and pipeline; 0 keeps all
	StepLogCap         string // kept tail of each step's log, a quantity ("1Mi"); see StepLogCapBytes
	LogRetention       time.Duration
	DeployAccount      string // service account of the deploy PipelineRuns
	MRComments         bool
	SMTPAddr           string
	SMTPTLS            string
	SMTPUsername       string
	SMTPPassword       Secret
	SMTPFrom           string
	NotifyEmail        []string
	NotifyCommitAuthor bool
	NotifyOnSuccess    bool
	ChatWebhookURL     Secret
	SlackWebhookURL    Secret

	// APITokensFile lists the API's bearer tokens and their roles (a
	// mounted Secret); see pkg/auth. Empty: every write is refused.
	APITokensFile string

	// The edge (issue 13): who may read, how often anyone may ask, how
	// long records are kept.
	PublicRead            bool
	SessionTTL            time.Duration
	APIRate               float64
	APIBurst              int
	TrustedProxy          bool
	SSEPerClient          int
	SSETotal              int
	RetentionEvents       time.Duration
	RetentionRuns         time.Duration
	RetentionNotification time.Duration
	RetentionAudit        time.Duration

	// ReleaseConfig is the YAML file of environments and apps promotions
	// use (see pkg/environment); empty: no promotions, no auto-deploy.
	ReleaseConfig string

	// SigningKeyFile is the PEM private key (cosign's encrypted format or
	// PKCS#8 ECDSA) the server signs succeeded runs' images with, mounted
	// from a Secret; empty: no signing. SigningKeyPassword decrypts it.
	SigningKeyFile     string
	SigningKeyPassword Secret
	// VerifyKeys are PEM public key files; the promotion gate accepts a
	// signature by any of them (several during a key rotation). Empty:
	// the signing key's public half when signing, else no signature check.
	VerifyKeys []string

	// Package mirrors, each one setting applied alike to the unit-test
	// step and the image build.
	GoProxy       string
	NpmRegistry   string
	PipIndexURL   string
	MavenSettings string
	MavenOffline  bool
	// TestMemoryLimit bounds the unit-test step's memory; empty: none.
	TestMemoryLimit string
	// StepImages and StepSecrets: what .slipway.yaml's steps and services
	// may run and read (StepPolicy); empty: the app's build image only,
	// no Secret.
	StepImages  []string
	StepSecrets []string

	// PolicyFile is the dependency policy (pkg/policy); empty: no policy,
	// the CI policy step passes and records "no policy".
	PolicyFile string
	// AdvisoriesConfigMap names the ConfigMap in Namespace holding the
	// offline advisory feed (OSV JSON records): mounted into the CI policy
	// step and read again at promotion; empty: no advisory check.
	AdvisoriesConfigMap string

	// LanguagesFile holds a languages: section (see Languages).
	LanguagesFile string
	// Languages is what the platform offers per language: the config
	// file's languages: section or LanguagesFile's, over the template
	// metadata. Set by LoadLanguages; nil means the defaults.
	Languages dockerfile.Platform
}

// EnvName is the environment variable of a flag name.
func EnvName(flag string) string {
	return "SLIPWAY_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Bind registers every setting on fs with its default, and returns the
// Config the flags write into.
func Bind(fs *pflag.FlagSet) *Config {
	c := &Config{}
	fs.StringVar(&c.Addr, "addr", ":8080", "listen address of the webhook, API and UI server")
	fs.StringVar(&c.PublicURL, "public-url", "http://localhost:8080", "URL users reach Slipway at; commit status links point here")
	fs.StringVar(&c.BuilderID, "builder-id", "", "provenance builder id of this Slipway's CI builds, required by the promotion gate (empty: PUBLIC-URL/builder); give every instance its own, so no other builder's image passes the gate")
	fs.StringVar(&c.Store, "store", "sqlite://slipway.db", "event and run store: sqlite://PATH or postgres://USER:PASS@HOST/DB")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "json", "json or text")
	bindRecovery(fs, c)
	fs.StringVar(&c.DebugAddr, "debug-addr", "", "listen address of Go's profiler (net/http/pprof), e.g. 127.0.0.1:6060; empty: off. Keep it off public interfaces")

	fs.Var(secretValue{&c.GitHubWebhookSecret}, "github-webhook-secret", "secret GitHub signs webhooks with (X-Hub-Signature-256)")
	fs.Var(secretValue{&c.GitHubToken}, "github-token", "GitHub API token for commit statuses and reading .slipway.yaml")
	fs.StringVar(&c.GitHubAPIURL, "github-api-url", "", "GitHub API base URL; empty for github.com, https://HOST/api/v3/ for GitHub Enterprise")
	fs.Var(secretValue{&c.GitLabWebhookToken}, "gitlab-webhook-token", "secret token GitLab sends in X-Gitlab-Token")
	fs.Var(secretValue{&c.GitLabToken}, "gitlab-token", "GitLab API token for commit statuses and reading .slipway.yaml")
	fs.StringVar(&c.GitLabAPIURL, "gitlab-api-url", "", "GitLab API base URL; empty for gitlab.com, https://HOST/api/v4 for self-hosted")
	fs.StringVar(&c.GitHubURL, "github-url", "https://github.com", "GitHub web base URL: clone URLs are built from it and the repository name, and a webhook naming another host is refused")
	fs.StringVar(&c.GitLabURL, "gitlab-url", "https://gitlab.com", "GitLab web base URL: clone URLs are built from it and the project path, and a webhook naming another host is refused")
	fs.StringSliceVar(&c.InsecureGitHosts, "insecure-git-hosts", nil, "git hosts (host[:port]) whose -url may be plain http (local test hosts only)")
	fs.StringSliceVar(&c.AllowedRepos, "allowed-repos", nil, "repositories Slipway builds, globs like owner/* or group/** (empty: all); events of others are recorded as ignored")
	fs.StringVar(&c.RepoWebhookSecretsFile, "repo-webhook-secrets-file", "", "YAML map github:/gitlab: of repository → its own webhook secret (a mounted Secret); such a repository accepts only its own secret")
	fs.StringVar(&c.PRImageSuffix, "pr-image-suffix", "pr", "merge requests push to <image-registry>/<app>/<suffix>, never to the app's repository")
	fs.StringVar(&c.PRBuildkitAddr, "pr-buildkit-addr", "", "a buildkitd of its own for merge request builds (empty: buildkit-addr)")
	fs.StringVar(&c.WebhookMaxBodyBytes, "webhook-max-body-bytes", "25Mi", "largest webhook body accepted (413 beyond), as a size; GitHub sends at most 25 MB")
	fs.StringVar(&c.WebhookMaxInflightBytes, "webhook-max-inflight-bytes", "64Mi", "webhook body bytes held at once across all deliveries, as a size; a delivery beyond it gets 503 with Retry-After instead of memory (at least twice webhook-max-body-bytes: a body is read, then copied for parsing)")

	fs.StringVar(&c.Kubeconfig, "kubeconfig", "", "kubeconfig path; empty means in-cluster, then $KUBECONFIG")
	fs.StringVar(&c.Namespace, "namespace", "slipway-builds", "builds namespace: the CI PipelineRuns (their pods run the pushed code)")
	fs.StringVar(&c.DeployNamespace, "deploy-namespace", "slipway", "namespace of the deploy PipelineRuns and of the environments' kubeconfig Secrets they mount; Slipway's own, never the builds namespace")
	fs.Float64Var(&c.KubeQPS, "kube-qps", 200, "Kubernetes client queries per second (client-go's default of 5 throttles dispatch)")
	fs.IntVar(&c.KubeBurst, "kube-burst", 400, "Kubernetes client burst")
	fs.BoolVar(&c.InstallPipelines, "install-pipelines", true, "server-side apply the embedded Tasks and Pipelines at start: the CI ones into namespace, the deploy ones into deploy-namespace")
	fs.StringVar(&c.ImageRegistry, "image-registry", "", "registry and path prefix images are pushed to, e.g. registry.corp/team")
	fs.BoolVar(&c.RegistryInsecure, "registry-insecure", false, "the image registry speaks plain HTTP (local development only)")
	fs.StringVar(&c.BuildkitAddr, "buildkit-addr", "tcp://buildkitd.slipway.svc:1234", "address of the shared buildkitd the build step uses")
	fs.BoolVar(&c.TestCache, "test-cache", true, "keep the unit-test step's dependency caches (Go, npm, pip, Maven, Gradle) in the registry at <image-registry>/<app>/depcache, keyed by the dependency manifests; saved by trusted builds only")
	fs.StringVar(&c.BuildkitTLSSecret, "buildkit-tls-secret", "", "Secret in the builds namespace with ca.crt, tls.crt and tls.key: the client certificate of a buildkitd that requires mutual TLS (deploy/buildkitd), mounted into the build step only (empty: plain TCP)")
	fs.Int64Var(&c.PipelineFSGroup, "pipeline-fs-group", 65532, "fsGroup of the pipeline pods, so the non-root Slipway steps can write the workspace volume (0: unset)")
	fs.StringVar(&c.BaseRegistry, "base-registry", "", "registry prefix of the base images the generated Dockerfiles use")
	fs.StringVar(&c.SlipwayImage, "slipway-image", "ghcr.io/slipway-ci/slipway:latest", "image the pipeline's Slipway steps (clone, render, build) run in")
	fs.StringVar(&c.SBOMGeneratorImage, "sbom-generator-image", DefaultSBOMGeneratorImage, "image BuildKit runs to attach an SPDX SBOM attestation to every built image (images/sbom-generator; OS packages, Go, Maven, npm, pip); empty: no SBOM")
	fs.StringVar(&c.ServiceAccount, "service-account", "", "service account of the PipelineRuns (empty: the namespace default)")
	fs.StringVar(&c.GitCredentials, "git-credentials-secret", "", "Secret with .git-credentials and .gitconfig for cloning private repos")
	fs.StringVar(&c.WorkspaceSize, "workspace-size", "1Gi", "size of each run's source workspace volume")
	fs.StringVar(&c.StorageClass, "storage-class", "", "storage class of the workspace volume (empty: the cluster default)")
	fs.DurationVar(&c.PipelineTimeout, "pipeline-timeout", time.Hour, "timeout of a CI PipelineRun")
	fs.DurationVar(&c.DeployTimeout, "deploy-timeout", 24*time.Hour, "timeout of a deploy PipelineRun; it bounds a whole rollout, manual canary pauses included (a canary left by a run that timed out is removed)")
	fs.IntVar(&c.DispatchWorkers, "dispatch-workers", 32, "events dispatched concurrently (each mostly waits on the git host and the API server, so many are cheap)")
	fs.DurationVar(&c.DispatchWait, "dispatch-wait", 2*time.Second, "how long a webhook answer waits for its event's PipelineRun to be created, so the delivery's response names it and a sender is paced by dispatch (git hosts time a delivery out after 10s); 0 answers once the event is recorded")
	fs.DurationVar(&c.PollInterval, "poll-interval", time.Second, "how often the dispatcher looks for due events when not woken")
	fs.StringVar(&c.StatusContext, "status-context", "slipway/ci", "name of the commit status Slipway posts")
	fs.BoolVar(&c.CancelBranchRuns, "cancel-branch-runs", false, "a new push to a branch cancels its older running builds (merge requests always do unless .slipway.yaml says not)")
	fs.StringSliceVar(&c.InsecureRegistries, "insecure-registries", nil, "registries reached over plain HTTP (local development only)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 25*time.Second, "how long SIGTERM waits for in-flight work")
	fs.DurationVar(&c.ShutdownDrain, "shutdown-drain", 0, "on SIGTERM, answer /healthz and /readyz 503 this long before closing the listener, so load balancers stop sending first (0: close at once; set it with several replicas)")
	fs.BoolVar(&c.LeaderElect, "leader-elect", false, "run the reporter, notifications, log collector, pruners and promotions only on the replica holding a Lease (needed with several replicas on PostgreSQL; off: this replica runs them all)")
	fs.StringVar(&c.LeaderElectNamespace, "leader-elect-namespace", "", "namespace of the leader Lease (default: $POD_NAMESPACE, else slipway)")
	fs.StringVar(&c.LeaderElectLeaseName, "leader-elect-lease-name", "slipway-leader", "name of the leader Lease")
	fs.StringVar(&c.LeaderElectIdentity, "leader-elect-identity", "", "this replica's name in the Lease (default: the host name, i.e. the pod name)")
	fs.DurationVar(&c.LeaderElectLeaseDuration, "leader-elect-lease-duration", 15*time.Second, "how long followers wait before taking over a lease its leader stopped renewing")
	fs.DurationVar(&c.LeaderElectRenewDeadline, "leader-elect-renew-deadline", 10*time.Second, "how long the leader tries to renew before it steps down (and restarts)")
	fs.DurationVar(&c.LeaderElectRetryPeriod, "leader-elect-retry-period", 2*time.Second, "how often candidates try to take or renew the lease")
	fs.IntVar(&c.MaxRunningPerRepo, "max-running-per-repo", 0, "CI runs running at once per repository; more wait queued and start oldest first (0: no limit)")
	fs.StringVar(&c.DeployAccount, "deploy-service-account", "slipway-deployer", "service account of the deploy PipelineRuns, in deploy-namespace; it needs deploy/base/deployer-rbac.yaml's ClusterRole bound in every target namespace")
	fs.IntVar(&c.PruneKeep, "prune-keep", 20, "finished PipelineRuns kept per app, CI and deploy runs counted apart; older ones are deleted (0: keep all)")
	fs.StringVar(&c.StepLogCap, "step-log-cap", "1Mi", "bytes of each step's log kept in the store and shown (its tail; the rest is marked as cut), as a quantity: 256Ki, 1Mi, 4Mi; from 1Ki to 64Mi")
	fs.DurationVar(&c.LogRetention, "log-retention", 30*24*time.Hour, "stored step logs of a run are deleted this long after its last step ended (0: keep forever)")
	fs.BoolVar(&c.MRComments, "mr-comments", true, "keep one comment with the last run's result on each merge request")
	fs.StringVar(&c.SMTPAddr, "smtp-addr", "", "SMTP server host:port for email notifications (empty: no email)")
	fs.StringVar(&c.SMTPTLS, "smtp-tls", "starttls", "SMTP security: starttls (port 587), tls (port 465) or none")
	fs.StringVar(&c.SMTPUsername, "smtp-username", "", "SMTP AUTH PLAIN user (empty: no auth)")
	fs.Var(secretValue{&c.SMTPPassword}, "smtp-password", "SMTP AUTH PLAIN password")
	fs.StringVar(&c.SMTPFrom, "smtp-from", "", "sender address of notification emails, e.g. Slipway <ci@example.com>")
	fs.StringSliceVar(&c.NotifyEmail, "notify-email", nil, "addresses mailed about every failed run (besides the commit author)")
	fs.BoolVar(&c.NotifyCommitAuthor, "notify-commit-author", true, "mail the commit author about their failed runs")
	fs.BoolVar(&c.NotifyOnSuccess, "notify-on-success", false, "also send email and chat notifications for succeeded runs")
	fs.Var(secretValue{&c.ChatWebhookURL}, "chat-webhook-url", "comma-separated URLs that get a JSON document about each failed run")
	fs.Var(secretValue{&c.SlackWebhookURL}, "slack-webhook-url", "comma-separated Slack-compatible incoming webhook URLs")
	fs.StringVar(&c.SigningKeyFile, "signing-key-file", "", "PEM private key (cosign.key or PKCS#8 ECDSA P-256, mounted from a Secret) the server signs each succeeded run's image digest with (empty: no signing)")
	fs.Var(secretValue{&c.SigningKeyPassword}, "signing-key-password", "password of --signing-key-file (cosign's COSIGN_PASSWORD)")
	fs.StringSliceVar(&c.VerifyKeys, "verify-keys", nil, "PEM public key files the promotion gate accepts signatures by, comma-separated; list the old and new key during a rotation (empty: the signing key's public half; neither: the gate checks provenance only)")
	fs.StringVar(&c.ReleaseConfig, "release-config", "", "YAML file of the environments (in promotion order) and apps to promote (empty: no promotions or auto-deploy)")
	fs.StringVar(&c.GoProxy, "goproxy", "", "GOPROXY of the unit tests and the image builds (empty: Go's own default)")
	fs.StringVar(&c.NpmRegistry, "npm-registry", "", "npm registry of the unit tests and the image builds (empty: npm's own default)")
	fs.StringVar(&c.PipIndexURL, "pip-index-url", "", "pip index of the unit tests and the image builds (empty: pip's own default)")
	fs.StringVar(&c.MavenSettings, "maven-settings", "", "Maven repository mirror URL (or a settings.xml path inside each repository) for the unit tests and the image builds")
	fs.BoolVar(&c.MavenOffline, "maven-offline", false, "Maven unit tests and image builds run offline against the base image's /usr/share/maven-repo (Debian's maven-repo packages)")
	fs.StringVar(&c.TestMemoryLimit, "test-memory-limit", "", "memory limit of the unit-test step, e.g. 2Gi; a test past it fails as out of memory in the unit-test step (empty: no limit beyond the namespace's LimitRange)")
	fs.StringSliceVar(&c.StepImages, "step-images", nil, "images .slipway.yaml's steps and services may run, globs like registry.corp/ci/* or registry.corp/base/postgres:* (empty: only the app's own build image)")
	fs.StringSliceVar(&c.StepSecrets, "step-secrets", nil, "Secrets of the builds namespace .slipway.yaml's steps and services may read, as SECRET=REPOSITORIES (a glob: sonar-token=acme/*; list a Secret again for more repositories; empty: none)")
	fs.StringVar(&c.PolicyFile, "policy-file", "", "dependency policy file (YAML; see the README): checked by the CI policy step and, for environments with policy.recheck, at promotion (empty: no policy)")
	fs.StringVar(&c.AdvisoriesConfigMap, "advisories-configmap", "", "ConfigMap in the builds namespace holding the offline advisory feed, one OSV JSON record per key (empty: no advisory check)")
	fs.StringVar(&c.LanguagesFile, "languages-file", "", "YAML file with a languages: section, the versions and base images offered per language (default: the config file's languages: section, else the template metadata)")
	fs.StringVar(&c.APITokensFile, "api-tokens-file", "", "YAML/JSON list of API tokens {name, role, token or sha256}; roles: developer, release-manager, admin (empty: the API refuses every write)")
	fs.BoolVar(&c.PublicRead, "public-read", false, "with api-tokens-file set, let anonymous callers read runs, events, notifications, step logs and UI pages (default: every read needs a token or a session)")
	fs.DurationVar(&c.SessionTTL, "session-ttl", 12*time.Hour, "how long a UI sign-in session lasts")
	fs.Float64Var(&c.APIRate, "api-rate", 10, "API and sign-in requests per second per client address; beyond it 429 with Retry-After")
	fs.IntVar(&c.APIBurst, "api-burst", 40, "API and sign-in requests a client may send at once before api-rate applies")
	fs.BoolVar(&c.TrustedProxy, "trusted-proxy", false, "take the client address from X-Forwarded-For set by a proxy on a private address (default: the connection's remote address)")
	fs.IntVar(&c.SSEPerClient, "sse-per-client", 8, "live run streams one client address may hold open")
	fs.IntVar(&c.SSETotal, "sse-total", 512, "live run streams open at once in total")
	fs.DurationVar(&c.RetentionEvents, "retention-events", 90*24*time.Hour, "finished events older than this are deleted (queued ones never; 0: keep)")
	fs.DurationVar(&c.RetentionRuns, "retention-runs", 90*24*time.Hour, "finished runs older than this are deleted (pending or running ones never; 0: keep)")
	fs.DurationVar(&c.RetentionNotification, "retention-notifications", 90*24*time.Hour, "sent or failed notifications older than this are deleted (0: keep)")
	fs.DurationVar(&c.RetentionAudit, "retention-audit", 400*24*time.Hour, "audit entries older than this are deleted (0: keep)")
	for _, name := range secretNames(fs) {
		fs.String(name+"-file", "", "read --"+name+" from this file")
	}
	fs.String("secrets-dir", "", "directory of secret files named after the settings (e.g. a mounted Secret with keys github-webhook-secret, github-token); missing files are skipped")
	return c
}

func secretNames(fs *pflag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Value.Type() == "secret" {
			names = append(names, f.Name)
		}
	})
	return names
}

// Resolve fills every flag not given on the command line from the
// environment, then from the config file (path may be empty), and reads
// secret files. lookupEnv is os.LookupEnv outside tests.
func Resolve(fs *pflag.FlagSet, path string, lookupEnv func(string) (string, bool)) error {
	file := map[string]any{}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("reading config file: %w", err)
		}
		if err := yaml.Unmarshal(data, &file); err != nil {
			return fmt.Errorf("parsing config file %s: %w", path, err)
		}
		var unknown []string
		for k := range file {
			if k == LanguagesKey {
				continue // not a flag: read by LoadLanguages
			}
			if fs.Lookup(k) == nil || k == "config" {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return fmt.Errorf("config file %s: unknown keys %s", path, strings.Join(unknown, ", "))
		}
	}
	var errs []string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "config" {
			return
		}
		if v, ok := lookupEnv(EnvName(f.Name)); ok {
			if err := setFlag(fs, f, v); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", EnvName(f.Name), err))
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			if err := setFlag(fs, f, fileValue(v)); err != nil {
				errs = append(errs, fmt.Sprintf("%s in %s: %v", f.Name, path, err))
			}
		}
	})
	if len(errs) > 0 {
		return fmt.Errorf("invalid configuration: %s", strings.Join(errs, "; "))
	}
	dir := fs.Lookup("secrets-dir").Value.String()
	for _, name := range secretNames(fs) {
		p := fs.Lookup(name + "-file").Value.String()
		if p == "" && dir != "" && fs.Lookup(name).Value.String() == "" {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				p = filepath.Join(dir, name)
			}
		}
		if p == "" {
			continue
		}
		if fs.Lookup(name).Value.String() != "" && fs.Lookup(name).Changed {
			return fmt.Errorf("--%s and --%s-file are both set; use one", name, name)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			// The path is fine to print; the content never is.
			return fmt.Errorf("reading %s-file: %w", name, err)
		}
		if err := fs.Set(name, strings.TrimRight(string(data), "\r\n")); err != nil {
			return fmt.Errorf("%s-file: %w", name, err)
		}
	}
	return nil
}

func setFlag(fs *pflag.FlagSet, f *pflag.Flag, v string) error {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return sv.Replace(splitList(v))
	}
	return fs.Set(f.Name, v)
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// fileValue turns a YAML scalar or list into the string a flag parses.
func fileValue(v any) string {
	switch t := v.(type) {
	case []any:
		parts := make([]string, len(t))
		for i, x := range t {
			parts[i] = fmt.Sprint(x)
		}
		return strings.Join(parts, ",")
	case float64:
		// YAML numbers arrive as float64; print integers without exponent.
		if t == float64(int64(t)) {
			return fmt.Sprintf("%d", int64(t))
		}
		return fmt.Sprint(t)
	default:
		return fmt.Sprint(t)
	}
}

// Validate checks what must hold before serving.
func (c *Config) Validate() error {
	var errs []string
	if !strings.HasPrefix(c.Store, "sqlite://") && !strings.HasPrefix(c.Store, "postgres://") && !strings.HasPrefix(c.Store, "postgresql://") {
		errs = append(errs, fmt.Sprintf("store %q: want sqlite://PATH or postgres://…", redactURL(c.Store)))
	}
	errs = append(errs, c.validateTrust()...)
	errs = append(errs, c.namespaceErrors()...)
	if !c.GitHubWebhookSecret.IsSet() && !c.GitLabWebhookToken.IsSet() && c.RepoWebhookSecretsFile == "" {
		errs = append(errs, "neither github-webhook-secret nor gitlab-webhook-token is set: no webhook could be verified")
	}
	if c.GitHubWebhookSecret.IsSet() && !c.GitHubToken.IsSet() {
		errs = append(errs, "github-webhook-secret is set but github-token is not: Slipway reads .slipway.yaml and posts commit statuses through the API")
	}
	if c.GitLabWebhookToken.IsSet() && !c.GitLabToken.IsSet() {
		errs = append(errs, "gitlab-webhook-token is set but gitlab-token is not: Slipway reads .slipway.yaml and posts commit statuses through the API")
	}
	if c.ImageRegistry == "" {
		errs = append(errs, "image-registry is required (where built images are pushed)")
	}
	if c.KubeQPS <= 0 || c.KubeBurst <= 0 {
		errs = append(errs, "kube-qps and kube-burst must be positive")
	}
	if c.DispatchWait < 0 || c.DispatchWait > 8*time.Second {
		errs = append(errs, "dispatch-wait must be between 0 and 8s (git hosts give up on a delivery after 10s)")
	}
	if c.DispatchWorkers < 1 {
		errs = append(errs, "dispatch-workers must be at least 1")
	}
	if c.MaxRunningPerRepo < 0 {
		errs = append(errs, "max-running-per-repo must not be negative")
	}
	if c.ShutdownDrain < 0 {
		errs = append(errs, "shutdown-drain must not be negative")
	}
	if c.LeaderElect && (c.LeaderElectRetryPeriod <= 0 || c.LeaderElectRenewDeadline <= c.LeaderElectRetryPeriod*6/5 ||
		c.LeaderElectLeaseDuration <= c.LeaderElectRenewDeadline) {
		errs = append(errs, "leader election wants 0 < 1.2 × leader-elect-retry-period < leader-elect-renew-deadline < leader-elect-lease-duration")
	}
	if strings.ContainsAny(c.Builder(), ",\"") {
		errs = append(errs, fmt.Sprintf("builder id %q must not contain ',' or '\"' (BuildKit's attest option)", c.Builder()))
	}
	if strings.ContainsAny(c.SBOMGeneratorImage, ",\" \t\n") {
		errs = append(errs, fmt.Sprintf("sbom-generator-image %q must be an image reference without ',', '\"' or spaces (BuildKit's attest option)", c.SBOMGeneratorImage))
	}
	if c.DeployTimeout <= 0 {
		errs = append(errs, "deploy-timeout must be positive")
	}
	if c.PruneKeep < 0 {
		errs = append(errs, "prune-keep must not be negative")
	}
	if _, err := c.StepLogCapBytes(); err != nil {
		errs = append(errs, err.Error())
	}
	if _, _, err := c.WebhookLimits(); err != nil {
		errs = append(errs, err.Error())
	}
	if c.LogRetention < 0 {
		errs = append(errs, "log-retention must not be negative")
	}
	errs = append(errs, c.edgeErrors()...)
	errs = append(errs, c.recoveryErrors()...)
	switch {
	case c.SMTPAddr == "" && len(c.NotifyEmail) > 0:
		errs = append(errs, "notify-email is set but smtp-addr is not: no server to send through")
	case c.SMTPAddr != "" && c.SMTPFrom == "":
		errs = append(errs, "smtp-addr is set but smtp-from is not")
	}
	switch c.SMTPTLS {
	case "starttls", "tls", "none":
	default:
		errs = append(errs, fmt.Sprintf("smtp-tls %q: want starttls, tls or none", c.SMTPTLS))
	}
	if c.SMTPPassword.IsSet() && c.SMTPUsername == "" {
		errs = append(errs, "smtp-password is set but smtp-username is not")
	}
	errs = append(errs, c.buildkitErrors()...)
	if c.TestMemoryLimit != "" {
		if _, err := resource.ParseQuantity(c.TestMemoryLimit); err != nil {
			errs = append(errs, fmt.Sprintf("test-memory-limit %q: want a size such as 1Gi", c.TestMemoryLimit))
		}
	}
	if err := c.RenderOptions().Validate(); err != nil {
		errs = append(errs, err.Error())
	}
	if _, err := c.StepPolicy(); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid configuration: %s", strings.Join(errs, "; "))
	}
	return nil
}

// buildkitErrors: with mutual TLS both daemons are reached over tcp://
// (TLS has no meaning on a unix socket, and the build step would fail
// on every run rather than here).
func (c *Config) buildkitErrors() []string {
	var errs []string
	for flag, addr := range map[string]string{"buildkit-addr": c.BuildkitAddr, "pr-buildkit-addr": c.PRBuildkitAddr} {
		if addr != "" && !strings.HasPrefix(addr, "tcp://") && !strings.HasPrefix(addr, "unix://") {
			errs = append(errs, fmt.Sprintf("%s %q: want tcp://HOST:PORT or unix://PATH", flag, addr))
		} else if c.BuildkitTLSSecret != "" && addr != "" && !strings.HasPrefix(addr, "tcp://") {
			errs = append(errs, fmt.Sprintf("%s %q: buildkit-tls-secret needs a tcp:// address", flag, addr))
		}
	}
	if c.BuildkitTLSSecret != "" {
		if e := validation.IsDNS1123Subdomain(c.BuildkitTLSSecret); len(e) > 0 {
			errs = append(errs, fmt.Sprintf("buildkit-tls-secret %q: %s", c.BuildkitTLSSecret, strings.Join(e, "; ")))
		}
	}
	slices.Sort(errs)
	return errs
}

// LanguagesKey is the config file's section of languages (dockerfile.Platform).
const LanguagesKey = "languages"

// LoadLanguages reads the languages: section of the config file at
// configPath (may be empty) or of LanguagesFile, completes it from the
// template metadata and validates it. Both at once is an error: one of
// them would be silently ignored.
func (c *Config) LoadLanguages(configPath string) error {
	var fromConfig []byte
	if configPath != "" {
		data, err := os.ReadFile(configPath)
		if err != nil {
			return fmt.Errorf("reading config file: %w", err)
		}
		var top map[string]any
		if err := yaml.Unmarshal(data, &top); err != nil {
			return fmt.Errorf("parsing config file %s: %w", configPath, err)
		}
		if _, ok := top[LanguagesKey]; ok {
			fromConfig = data
		}
	}
	data, from := fromConfig, configPath
	if c.LanguagesFile != "" {
		if fromConfig != nil {
			return fmt.Errorf("languages are set both in %s and in languages-file %s; keep one", configPath, c.LanguagesFile)
		}
		var err error
		if data, err = os.ReadFile(c.LanguagesFile); err != nil {
			return fmt.Errorf("reading languages-file: %w", err)
		}
		from = c.LanguagesFile
	}
	if data == nil {
		c.Languages = nil
		return nil
	}
	p, err := dockerfile.ParsePlatform(data)
	if err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}
	c.Languages = p
	return nil
}

// RenderOptions are the package mirror settings as render options; Languages
// and the base registry ride along, so the pipeline renders with exactly
// what the server checked.
func (c *Config) RenderOptions() dockerfile.Options {
	return dockerfile.Options{
		BaseRegistry: c.BaseRegistry, GoProxy: c.GoProxy, NpmRegistry: c.NpmRegistry, PipIndexURL: c.PipIndexURL,
		MavenSettings: c.MavenSettings, MavenOffline: c.MavenOffline, Languages: c.Languages,
	}
}

// redactURL hides the password of a store URL in messages.
func redactURL(s string) string {
	at := strings.LastIndex(s, "@")
	scheme := strings.Index(s, "://")
	if at < 0 || scheme < 0 {
		return s
	}
	userinfo := s[scheme+3 : at]
	if i := strings.Index(userinfo, ":"); i >= 0 {
		return s[:scheme+3] + userinfo[:i] + ":xxxxx" + s[at:]
	}
	return s
}

// Bounds of step-log-cap: below 1Ki a log says nothing; above 64Mi one
// step's log would be a burden for the store and the page.
const (
	minStepLogCap = 1 << 10
	maxStepLogCap = 64 << 20
)

// StepLogCapBytes is step-log-cap in bytes.
func (c *Config) StepLogCapBytes() (int, error) {
	q, err := resource.ParseQuantity(c.StepLogCap)
	if err != nil {
		return 0, fmt.Errorf("step-log-cap %q: want a size such as 512Ki or 1Mi: %w", c.StepLogCap, err)
	}
	n, ok := q.AsInt64()
	if !ok || n < minStepLogCap || n > maxStepLogCap {
		return 0, fmt.Errorf("step-log-cap %q: want from 1Ki to 64Mi", c.StepLogCap)
	}
	return int(n), nil
}

// DefaultSBOMGeneratorImage is the published image of
// images/sbom-generator, next to the Slipway image; the local stack
// pushes its own build and points sbom-generator-image at it.
const DefaultSBOMGeneratorImage = "ghcr.io/slipway-ci/sbom-generator:v1"

// BuilderIDFor is the default builder id of the Slipway at publicURL: its
// own, unlike a constant any BuildKit build could claim.
func BuilderIDFor(publicURL string) string { return strings.TrimRight(publicURL, "/") + "/builder" }

// Builder is the builder id of this instance: BuilderID, else derived
// from PublicURL.
func (c *Config) Builder() string {
	if c.BuilderID != "" {
		return c.BuilderID
	}
	return BuilderIDFor(c.PublicURL)
}

// ChatWebhooks returns the generic and the Slack webhook URLs.
func (c *Config) ChatWebhooks() (generic, slack []string) {
	return splitList(c.ChatWebhookURL.Reveal()), splitList(c.SlackWebhookURL.Reveal())
}

// RedactedStore is the store URL without its password, for logs.
func (c *Config) RedactedStore() string { return redactURL(c.Store) }

// WebhookLimits are webhook-max-body-bytes and webhook-max-inflight-bytes
// in bytes. The in-flight budget must hold a largest body twice over, or
// such a body could never be taken.
func (c *Config) WebhookLimits() (maxBody, maxInflight int64, err error) {
	size := func(name, v string) (int64, error) {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return 0, fmt.Errorf("%s %q: want a size such as 25Mi: %w", name, v, err)
		}
		n, ok := q.AsInt64()
		if !ok || n < 1<<10 {
			return 0, fmt.Errorf("%s %q: want at least 1Ki", name, v)
		}
		return n, nil
	}
	if maxBody, err = size("webhook-max-body-bytes", c.WebhookMaxBodyBytes); err != nil {
		return 0, 0, err
	}
	if maxInflight, err = size("webhook-max-inflight-bytes", c.WebhookMaxInflightBytes); err != nil {
		return 0, 0, err
	}
	// A body is held twice for a moment: as read, and joined for parsing.
	if maxInflight < 2*maxBody+128<<10 {
		return 0, 0, fmt.Errorf("webhook-max-inflight-bytes %s is less than twice webhook-max-body-bytes %s (a body is read, then copied for parsing)", c.WebhookMaxInflightBytes, c.WebhookMaxBodyBytes)
	}
	return maxBody, maxInflight, nil
}

// edgeErrors checks the settings of sessions, rate limits, streams and
// retention.
func (c *Config) edgeErrors() []string {
	var errs []string
	if c.SessionTTL <= 0 {
		errs = append(errs, "session-ttl must be positive")
	}
	if c.APIRate <= 0 || c.APIBurst < 1 {
		errs = append(errs, "api-rate and api-burst must be positive")
	}
	if c.SSEPerClient < 1 || c.SSETotal < c.SSEPerClient {
		errs = append(errs, "sse-per-client must be at least 1 and sse-total at least sse-per-client")
	}
	for name, d := range map[string]time.Duration{"retention-events": c.RetentionEvents, "retention-runs": c.RetentionRuns,
		"retention-notifications": c.RetentionNotification, "retention-audit": c.RetentionAudit} {
		if d < 0 {
			errs = append(errs, name+" must not be negative")
		}
	}
	sort.Strings(errs)
	return errs
}
