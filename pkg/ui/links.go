package ui

import (
	"net/url"
	"strings"

	"github.com/slipway-ci/slipway/pkg/event"
)

// webBase turns a provider's API URL setting into the web URL of its
// host: "" means github.com / gitlab.com, GitHub Enterprise's
// https://HOST/api/v3/ and GitLab's https://HOST/api/v4 become https://HOST.
// Anything under a path prefix (a GitLab served from /gitlab) keeps it.
func webBase(p event.Provider, apiURL string) string {
	if apiURL == "" {
		switch p {
		case event.GitHub:
			return "https://github.com"
		case event.GitLab:
			return "https://gitlab.com"
		}
		return ""
	}
	u, err := url.Parse(apiURL)
	if err != nil || u.Host == "" {
		return ""
	}
	if u.Host == "api.github.com" {
		return "https://github.com"
	}
	path := strings.TrimRight(u.Path, "/")
	for _, suffix := range []string{"/api/v3", "/api/v4"} {
		path = strings.TrimSuffix(path, suffix)
	}
	u.Path, u.RawQuery, u.Fragment = path, "", ""
	return strings.TrimRight(u.String(), "/")
}

// commitURL links a commit on its host, or "" when the host is unknown.
func (u *UI) commitURL(p event.Provider, repo, sha string) string {
	base := u.web[p]
	if base == "" || repo == "" || sha == "" {
		return ""
	}
	switch p {
	case event.GitLab:
		return base + "/" + repo + "/-/commit/" + url.PathEscape(sha)
	default:
		return base + "/" + repo + "/commit/" + url.PathEscape(sha)
	}
}

// mrURL links a merge request or pull request.
func (u *UI) mrURL(p event.Provider, repo string, n int) string {
	base := u.web[p]
	if base == "" || repo == "" || n <= 0 {
		return ""
	}
	if p == event.GitLab {
		return base + "/" + repo + "/-/merge_requests/" + itoa(n)
	}
	return base + "/" + repo + "/pull/" + itoa(n)
}
