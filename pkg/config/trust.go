package config

import (
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/repoconfig"
	"github.com/slipway-ci/slipway/pkg/scm"
)

// GitHosts are the base URLs clone URLs are pinned to, per provider: a
// webhook naming another host or scheme is refused. http is allowed only
// for a host listed in InsecureGitHosts (host or host:port).
func (c *Config) GitHosts() (map[event.Provider]scm.GitHost, error) {
	out := map[event.Provider]scm.GitHost{}
	for p, base := range map[event.Provider]string{event.GitHub: c.GitHubURL, event.GitLab: c.GitLabURL} {
		u, err := url.Parse(base)
		if err != nil {
			return nil, fmt.Errorf("%s-url %q: %w", p, base, err)
		}
		h, err := scm.ParseGitHost(base, slices.Contains(c.InsecureGitHosts, u.Host))
		if err != nil {
			return nil, fmt.Errorf("%s-url: %w", p, err)
		}
		out[p] = h
	}
	return out, nil
}

// RepoSecrets reads RepoWebhookSecretsFile (a mounted Secret): per
// provider, repository full name → webhook secret (GitHub) or token
// (GitLab). Empty path: none.
//
//	github:
//	  acme/web: s3cret
//	gitlab:
//	  group/sub/api: t0ken
func (c *Config) RepoSecrets() (map[event.Provider]map[string]string, error) {
	if c.RepoWebhookSecretsFile == "" {
		return nil, nil
	}
	data, err := os.ReadFile(c.RepoWebhookSecretsFile)
	if err != nil {
		return nil, fmt.Errorf("repo-webhook-secrets-file: %w", err)
	}
	var f struct {
		GitHub map[string]string `json:"github"`
		GitLab map[string]string `json:"gitlab"`
	}
	// The file's content is secret: the error names the file only.
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("repo-webhook-secrets-file %s: not a YAML map of github:/gitlab: repository → secret", c.RepoWebhookSecretsFile)
	}
	out := map[event.Provider]map[string]string{event.GitHub: f.GitHub, event.GitLab: f.GitLab}
	for p, m := range out {
		for repo, s := range m {
			if repo == "" || strings.TrimSpace(s) == "" {
				return nil, fmt.Errorf("repo-webhook-secrets-file %s: %s repository %q has an empty name or secret", c.RepoWebhookSecretsFile, p, repo)
			}
		}
	}
	return out, nil
}

func (c *Config) validateTrust() []string {
	var errs []string
	if _, err := c.GitHosts(); err != nil {
		errs = append(errs, err.Error())
	}
	if err := repoconfig.CheckPatterns("allowed-repos", c.AllowedRepos); err != nil {
		errs = append(errs, err.Error())
	}
	if _, err := c.RepoSecrets(); err != nil {
		errs = append(errs, err.Error())
	}
	return errs
}
