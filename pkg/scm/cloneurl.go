package scm

import (
	"fmt"
	"net/url"
	"strings"
)

// GitHost is where a provider's repositories are cloned from: the clone
// URL of repository "o/r" is always BaseURL + "/o/r.git", whatever a
// webhook payload says.
type GitHost struct {
	// BaseURL is the host's web root, e.g. https://github.com or
	// https://gitlab.example.com/gitlab (a path prefix is kept).
	BaseURL *url.URL
	// Insecure allows BaseURL to be http:// (a local test host only).
	Insecure bool
}

// ParseGitHost checks a configured base URL: https, or http when
// insecure is set; a host and no query, fragment or credentials.
func ParseGitHost(base string, insecure bool) (GitHost, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil {
		return GitHost{}, fmt.Errorf("git host %q: %w", base, err)
	}
	switch {
	case u.Scheme == "http" && !insecure:
		return GitHost{}, fmt.Errorf("git host %q: http needs the explicit insecure setting", base)
	case u.Scheme != "https" && u.Scheme != "http":
		return GitHost{}, fmt.Errorf("git host %q: scheme must be https", base)
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return GitHost{}, fmt.Errorf("git host %q: want scheme://host[/path], no credentials, query or fragment", base)
	}
	return GitHost{BaseURL: u, Insecure: insecure}, nil
}

// CloneURL returns the pinned clone URL of repo (its full name). The
// payload's own URL, when not empty, must name the same host and scheme:
// a forged event cannot point the clone at another server, a file:// path
// or an internal address. Only the pinned URL is used, never the payload's.
func (h GitHost) CloneURL(repo, payloadURL string) (string, error) {
	if h.BaseURL == nil {
		return "", fmt.Errorf("no git host configured")
	}
	if !validRepoPath(repo) {
		return "", fmt.Errorf("repository name %q cannot form a clone URL", repo)
	}
	if payloadURL != "" {
		p, err := url.Parse(payloadURL)
		if err != nil {
			return "", fmt.Errorf("clone URL in the payload: %w", err)
		}
		if p.Scheme != h.BaseURL.Scheme || !strings.EqualFold(p.Host, h.BaseURL.Host) {
			return "", fmt.Errorf("clone URL %s://%s is not the configured git host %s://%s",
				p.Scheme, p.Host, h.BaseURL.Scheme, h.BaseURL.Host)
		}
	}
	u := *h.BaseURL
	u.Path = strings.TrimRight(u.Path, "/") + "/" + repo + ".git"
	u.RawPath = ""
	return u.String(), nil
}

// validRepoPath: "/"-separated elements of the characters both hosts allow
// in names (letters, digits, '.', '_', '-'), none empty, "." or "..".
func validRepoPath(repo string) bool {
	if repo == "" || len(repo) > 1024 {
		return false
	}
	for _, el := range strings.Split(repo, "/") {
		if el == "" || el == "." || el == ".." {
			return false
		}
		for _, r := range el {
			if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '.' && r != '_' && r != '-' {
				return false
			}
		}
	}
	return true
}
