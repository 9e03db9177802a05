package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/repoconfig"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/scm/github"
	"github.com/slipway-ci/slipway/pkg/scm/gitlab"
)

// MaxRepoSecrets caps the per-repository secrets of one host: a GitHub
// delivery is checked against each of them in one pass over the body.
const MaxRepoSecrets = 256

// Reasons of the trust checks made once the event is parsed.
const (
	// ReasonWrongRepoSecret: the delivery verified with a secret that is
	// not the one of the repository it names (401).
	ReasonWrongRepoSecret = "wrong-repo-secret" //nolint:gosec // a reason code, not a credential
)

// WithRepoSecrets sets per-repository webhook secrets of provider p
// (GitHub: the HMAC key; GitLab: the token), keyed by the repository's
// full name. A repository with one accepts only deliveries made with it,
// never the global secret; a repository without one only the global
// secret. Default: none, the global secret serves every repository.
func WithRepoSecrets(p event.Provider, secrets map[string]string) Option {
	return func(h *Handler) {
		m := make(map[string]string, len(secrets))
		for repo, s := range secrets {
			m[strings.ToLower(repo)] = s
		}
		if h.repoSecrets == nil {
			h.repoSecrets = map[event.Provider]map[string]string{}
		}
		h.repoSecrets[p] = m
	}
}

// WithAllowedRepos limits the repositories Slipway builds: a verified
// event for a repository matching none of patterns ("owner/*", "group/**",
// repoconfig's glob) is recorded as ignored, with the reason. Default: no
// list, every repository.
func WithAllowedRepos(patterns []string) Option {
	return func(h *Handler) { h.allowedRepos = append([]string(nil), patterns...) }
}

// WithGitHost pins provider p's clone URLs to host: every event's clone
// URL is rebuilt from the host's base URL and the repository's name, and an
// event whose payload names another host or scheme is recorded as ignored.
// Default: the payload's URL is kept (tests and tools only; the server
// always pins).
func WithGitHost(p event.Provider, host scm.GitHost) Option {
	return func(h *Handler) {
		if h.gitHosts == nil {
			h.gitHosts = map[event.Provider]scm.GitHost{}
		}
		h.gitHosts[p] = host
	}
}

func (h *Handler) checkTrustOptions() error {
	for p, m := range h.repoSecrets {
		if len(m) > MaxRepoSecrets {
			return fmt.Errorf("%s: %d per-repository secrets, more than the %d allowed", p, len(m), MaxRepoSecrets)
		}
		for repo, s := range m {
			if s == "" {
				return fmt.Errorf("%s: the secret of %s is empty", p, repo)
			}
		}
	}
	for i, pat := range h.allowedRepos {
		if pat == "" {
			return fmt.Errorf("allowed repository pattern %d is empty", i)
		}
		if err := repoconfig.CheckPatterns("allowed repositories", []string{pat}); err != nil {
			return fmt.Errorf("allowed repository pattern %d %q: %w", i, pat, err)
		}
	}
	return nil
}

// globalSigner names the global secret as the one a delivery verified with.
const globalSigner = "\x00global"

// githubSigner returns whose secret signed the body: globalSigner or a
// repository's (lowercased) name. Every configured secret's HMAC is
// computed in the one pass over the body.
func (h *Handler) githubSigner(r *http.Request, b *body) (string, error) {
	want, err := hex.DecodeString(strings.TrimPrefix(r.Header.Get(github.SignatureHeader), "sha256="))
	if err != nil {
		return "", errors.New("malformed signature")
	}
	var names []string
	var macs []hash.Hash
	if len(h.githubSecret) > 0 {
		names, macs = append(names, globalSigner), append(macs, hmac.New(sha256.New, h.githubSecret))
	}
	for repo, s := range h.repoSecrets[event.GitHub] {
		names, macs = append(names, repo), append(macs, hmac.New(sha256.New, []byte(s)))
	}
	if len(macs) == 0 {
		return "", errors.New("no secret configured")
	}
	ws := make([]io.Writer, len(macs))
	for i, m := range macs {
		ws[i] = m
	}
	if _, err := b.WriteTo(io.MultiWriter(ws...)); err != nil {
		return "", err
	}
	for i, m := range macs {
		if hmac.Equal(want, m.Sum(nil)) {
			return names[i], nil
		}
	}
	return "", errors.New("signature does not match the payload")
}

// gitlabSigner returns whose token the delivery carries, comparing each in
// constant time.
func (h *Handler) gitlabSigner(tok string) (string, error) {
	if tok == "" {
		return "", fmt.Errorf("missing %s header", gitlab.TokenHeader)
	}
	if h.gitlabToken != "" && gitlab.VerifyToken(h.gitlabToken, tok) == nil {
		return globalSigner, nil
	}
	for repo, s := range h.repoSecrets[event.GitLab] {
		if subtle.ConstantTimeCompare([]byte(s), []byte(tok)) == 1 {
			return repo, nil
		}
	}
	return "", errors.New("webhook token does not match")
}

// configured reports whether p has any secret at all.
func (h *Handler) configured(p event.Provider) bool {
	if p == event.GitHub && len(h.githubSecret) > 0 || p == event.GitLab && h.gitlabToken != "" {
		return true
	}
	return len(h.repoSecrets[p]) > 0
}

// checkSigner refuses (401) an event signed with a secret that is not
// its repository's: a repository with its own secret takes only that one,
// the others only the global secret.
func (h *Handler) checkSigner(p event.Provider, repo, signer string) *refusal {
	want := globalSigner
	if _, own := h.repoSecrets[p][strings.ToLower(repo)]; own {
		want = strings.ToLower(repo)
	}
	if signer != want {
		return refuse(http.StatusUnauthorized, ReasonWrongRepoSecret, "unauthorized", "the webhook secret is not this repository's")
	}
	return nil
}

// admit applies the repository allowlist and pins the clone URL; what it
// refuses is recorded as ignored, with the reason.
func (h *Handler) admit(p event.Provider, ev *event.Event) {
	if len(h.allowedRepos) > 0 && !repoconfig.MatchAny(h.allowedRepos, ev.Repo) {
		ev.Ignored(fmt.Sprintf("repository %s is not in the allowed repositories", ev.Repo))
		return
	}
	host, ok := h.gitHosts[p]
	if !ok {
		return
	}
	pinned, err := host.CloneURL(ev.Repo, ev.CloneURL)
	if err != nil {
		ev.Ignored("clone URL refused: " + err.Error())
		return
	}
	ev.CloneURL = pinned
}

// Admit applies to ev what a delivery of p gets after its verification:
// the repository allowlist and the pinned clone URL. Delivery recovery
// hands the events it rebuilds from a host's API through it, so they are
// held to the same rules as the webhooks they replace.
func (h *Handler) Admit(p event.Provider, ev *event.Event) { h.admit(p, ev) }
