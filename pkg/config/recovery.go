package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/slipway-ci/slipway/pkg/scm/github"
)

func bindRecovery(fs *pflag.FlagSet, c *Config) {
	fs.DurationVar(&c.RecoverInterval, "recover-interval", 0, "how often the leader looks for webhook deliveries Slipway missed (at start, then at this interval) in the hooks of github-recover-hooks and the projects of gitlab-recover-projects; 0: off")
	fs.DurationVar(&c.RecoverWindow, "recover-window", 3*time.Hour, "how far back delivery recovery looks (GitHub keeps a hook's deliveries about three days)")
	fs.StringVar(&c.GitHubRecoverHooks, "github-recover-hooks", "", "GitHub hooks whose failed deliveries are redelivered: comma-separated repo:OWNER/NAME:HOOK_ID, org:NAME:HOOK_ID, or app (the github-token must then be the App's JWT)")
	fs.StringSliceVar(&c.GitLabRecoverProjects, "gitlab-recover-projects", nil, "GitLab projects (path or numeric id) whose recent branch and open merge request heads are compared with recorded events; the missing ones are enqueued with reason recovered")
}

// RecoverHooks returns the parsed github-recover-hooks.
func (c *Config) RecoverHooks() ([]github.Hook, error) {
	hooks, err := github.ParseHooks(c.GitHubRecoverHooks)
	if err != nil {
		return nil, fmt.Errorf("github-recover-hooks: %w", err)
	}
	return hooks, nil
}

// RecoverProjects returns gitlab-recover-projects without blanks.
func (c *Config) RecoverProjects() []string {
	var out []string
	for _, p := range c.GitLabRecoverProjects {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (c *Config) recoveryErrors() []string {
	var errs []string
	if c.RecoverInterval < 0 {
		errs = append(errs, "recover-interval must not be negative (0 turns recovery off)")
	}
	if c.RecoverWindow <= 0 {
		errs = append(errs, "recover-window must be positive")
	}
	hooks, err := c.RecoverHooks()
	if err != nil {
		errs = append(errs, err.Error())
	}
	if len(hooks) > 0 && !c.GitHubToken.IsSet() {
		errs = append(errs, "github-recover-hooks is set but github-token is not: the hook deliveries are read through the API")
	}
	projects := c.RecoverProjects()
	for _, p := range projects {
		if strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.Contains(p, "//") || strings.ContainsAny(p, " \t?#%") {
			errs = append(errs, fmt.Sprintf("gitlab-recover-projects: %q is not a project path or id", p))
		}
	}
	if len(projects) > 0 && !c.GitLabToken.IsSet() {
		errs = append(errs, "gitlab-recover-projects is set but gitlab-token is not: the heads are read through the API")
	}
	if c.RecoverInterval > 0 && len(hooks) == 0 && len(projects) == 0 && err == nil {
		errs = append(errs, "recover-interval is set but neither github-recover-hooks nor gitlab-recover-projects names anything to watch")
	}
	return errs
}
