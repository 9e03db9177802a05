package server

import (
	"fmt"
	"net/http"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/slipway-ci/slipway/pkg/config"
	"github.com/slipway-ci/slipway/pkg/dispatch"
	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/scm/github"
	"github.com/slipway-ci/slipway/pkg/scm/gitlab"
)

// restConfig: --kubeconfig, else in-cluster, else $KUBECONFIG / ~/.kube/config.
func restConfig(cfg *config.Config, version string) (*rest.Config, error) {
	var rc *rest.Config
	var err error
	switch {
	case cfg.Kubeconfig != "":
		rc, err = clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	default:
		rc, err = rest.InClusterConfig()
		if err != nil {
			rules := clientcmd.NewDefaultClientConfigLoadingRules()
			rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes client configuration: %w", err)
	}
	// client-go's default 5 QPS would throttle dispatch to a crawl.
	rc.QPS = float32(cfg.KubeQPS)
	rc.Burst = cfg.KubeBurst
	rc.UserAgent = "slipway/" + version
	return rc, nil
}

func scmClients(cfg *config.Config) (map[event.Provider]scm.Client, error) {
	out := map[event.Provider]scm.Client{}
	// http.DefaultTransport keeps 2 idle connections per host: with many
	// dispatch workers reading .slipway.yaml from one HTTP/1.1 API host
	// (GitHub Enterprise or GitLab behind a proxy), every other call dialled
	// a new connection (bench/RESULTS.md, "Dispatch").
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	hc := &http.Client{Transport: tr}
	if cfg.GitHubToken.IsSet() {
		c, err := github.NewClient(cfg.GitHubToken.Reveal(), cfg.GitHubAPIURL, hc)
		if err != nil {
			return nil, fmt.Errorf("github client: %w", err)
		}
		out[event.GitHub] = c
	}
	if cfg.GitLabToken.IsSet() {
		c, err := gitlab.NewClient(cfg.GitLabToken.Reveal(), cfg.GitLabAPIURL, hc)
		if err != nil {
			return nil, fmt.Errorf("gitlab client: %w", err)
		}
		out[event.GitLab] = c
	}
	return out, nil
}

var (
	_ dispatch.ChangedFiles = (*github.Client)(nil)
	_ dispatch.ChangedFiles = (*gitlab.Client)(nil)
)

// changedFiles are the clients that list a merge request's changed files
// (both hosts' do), for the dispatcher's path filters.
func changedFiles(scms map[event.Provider]scm.Client) map[event.Provider]dispatch.ChangedFiles {
	out := map[event.Provider]dispatch.ChangedFiles{}
	for p, c := range scms {
		if cf, ok := c.(dispatch.ChangedFiles); ok {
			out[p] = cf
		}
	}
	return out
}

func providerNames(m map[event.Provider]scm.Client) []string {
	var out []string
	for p := range m {
		out = append(out, string(p))
	}
	return out
}
