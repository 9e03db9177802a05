package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/slipway-ci/slipway/pkg/repoconfig"
)

// StepPolicy is step-images and step-secrets as the policy dispatch and
// the CI runs apply to .slipway.yaml's steps: and services:. A
// step-secrets entry is SECRET=REPOS, REPOS a glob of repositories; one
// Secret may be listed several times.
func (c *Config) StepPolicy() (repoconfig.StepPolicy, error) {
	p := repoconfig.StepPolicy{Images: c.StepImages}
	for i, entry := range c.StepSecrets {
		name, repos, ok := strings.Cut(entry, "=")
		if !ok || name == "" || repos == "" {
			return repoconfig.StepPolicy{}, fmt.Errorf("step-secrets[%d] %q: want SECRET=REPOSITORIES, e.g. sonar-token=acme/*", i, entry)
		}
		j := slices.IndexFunc(p.Secrets, func(g repoconfig.SecretGrant) bool { return g.Name == name })
		if j < 0 {
			p.Secrets = append(p.Secrets, repoconfig.SecretGrant{Name: name})
			j = len(p.Secrets) - 1
		}
		p.Secrets[j].Repos = append(p.Secrets[j].Repos, repos)
	}
	if err := p.Validate(); err != nil {
		return repoconfig.StepPolicy{}, err
	}
	return p, nil
}
