package faults

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-ci/slipway/pkg/scm/github"
	"github.com/slipway-ci/slipway/pkg/scm/gitlab"
)

// Kind is one of the four webhook events the bench sends.
type Kind string

// The kinds, in the order the plan cycles through them.
const (
	GitHubPush Kind = "GitHub push"
	GitHubPR   Kind = "GitHub pull request"
	GitLabPush Kind = "GitLab push"
	GitLabMR   Kind = "GitLab merge request"
)

// Kinds lists every kind once, in plan order.
var Kinds = []Kind{GitHubPush, GitHubPR, GitLabPush, GitLabMR}

// Provider is "github" or "gitlab", as the fakescm names them.
func (k Kind) Provider() string {
	if k == GitHubPush || k == GitHubPR {
		return "github"
	}
	return "gitlab"
}

// MR reports whether the kind is a pull or merge request.
func (k Kind) MR() bool { return k == GitHubPR || k == GitLabMR }

// Author is who pushes and opens every request; the bench gives it write
// access to every repository, so the trust gate lets its requests build.
const Author = "faultbench"

// AuthorEmail is the commit author's address (mailed about failed runs).
const AuthorEmail = "faultbench@slipway.local"

// Repos are the bench's repositories on the fakescm: GitHub ones by
// name, GitLab ones by name and numeric project id. None exists as a git
// repository: .slipway.yaml reads answer 404 and the defaults apply.
type Repos struct {
	GitHub []string
	GitLab []Project
}

// Project is a GitLab project the fakescm maps from its numeric id.
type Project struct {
	ID   int64
	Path string
}

// NewRepos names n repositories per host under e2e/ (the stack's
// allowed repositories), all carrying run (hex) so that runs do not mix.
// GitLab project ids are made from run too, far above the e2e suite's.
func NewRepos(run string, n int) (Repos, error) {
	v, err := strconv.ParseUint(run, 16, 32)
	if err != nil || len(run) > 6 {
		return Repos{}, fmt.Errorf("run id %q: want up to 6 hex digits", run)
	}
	if n <= 0 || n > 64 {
		return Repos{}, fmt.Errorf("repositories per host: want 1 to 64, got %d", n)
	}
	var r Repos
	base := int64(10_000_000) + int64(v)*64
	for i := range n {
		r.GitHub = append(r.GitHub, fmt.Sprintf("e2e/faults-%s-gh%d", run, i))
		r.GitLab = append(r.GitLab, Project{ID: base + int64(i), Path: fmt.Sprintf("e2e/faults-%s-gl%d", run, i)})
	}
	return r, nil
}

// NewRun is a fresh run id: 6 hex digits.
func NewRun() (string, error) {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("run id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Prefix is what every repository name of run starts with.
func Prefix(run string) string { return "e2e/faults-" + run + "-" }

// Event is one distinct webhook delivery: its own delivery id and head SHA.
type Event struct {
	Index    int
	Kind     Kind
	Repo     string
	SHA      string
	MR       int // pull/merge request number; 0 for pushes
	Delivery string
	Path     string // /hooks/github or /hooks/gitlab
	Body     []byte
	Headers  map[string]string
}

// Send is one POST of the plan: an event, or a redelivery of an earlier
// event (the same delivery id and body, as a host's "redeliver").
type Send struct {
	Event      *Event
	Redelivery bool
}

// PlanConfig says what to send.
type PlanConfig struct {
	Run          string // distinguishes this run's names and SHAs
	Sends        int    // POSTs in all, redeliveries included
	Redeliveries int    // how many of them repeat an earlier delivery
	// RedeliverAfter is how many sends after its original a redelivery
	// goes (at least 1): late enough that the original was answered.
	RedeliverAfter int
	Repos          Repos
	FakeSCM        string // clone URLs point at its git server, as Slipway pins them
	GitHubSecret   []byte
	GitLabToken    string
}

// Plan builds the sends: Sends-Redeliveries distinct events cycling
// through Kinds and the repositories, and Redeliveries repeats spread
// evenly, each RedeliverAfter sends after its original.
func Plan(cfg PlanConfig) ([]Send, error) {
	switch {
	case cfg.Sends <= 0:
		return nil, fmt.Errorf("plan: sends must be positive, got %d", cfg.Sends)
	case cfg.Redeliveries < 0 || cfg.Redeliveries >= cfg.Sends:
		return nil, fmt.Errorf("plan: redeliveries must be between 0 and sends-1, got %d of %d", cfg.Redeliveries, cfg.Sends)
	case cfg.RedeliverAfter < 1:
		return nil, fmt.Errorf("plan: redeliver-after must be at least 1, got %d", cfg.RedeliverAfter)
	case len(cfg.Repos.GitHub) == 0 || len(cfg.Repos.GitLab) == 0:
		return nil, fmt.Errorf("plan: a repository per host at least")
	case cfg.Run == "" || cfg.FakeSCM == "" || len(cfg.GitHubSecret) == 0 || cfg.GitLabToken == "":
		return nil, fmt.Errorf("plan: run, fakescm URL, GitHub secret and GitLab token are all required")
	}
	distinct := cfg.Sends - cfg.Redeliveries
	events := make([]*Event, distinct)
	for i := range events {
		ev, err := newEvent(cfg, i)
		if err != nil {
			return nil, err
		}
		events[i] = ev
	}
	// Redelivery j repeats event origin(j) and is due at position
	// origin(j)+RedeliverAfter among the events (or at the end).
	due := map[int][]*Event{}
	step := 1
	if cfg.Redeliveries > 0 {
		step = max(distinct/cfg.Redeliveries, 1)
	}
	for j := range cfg.Redeliveries {
		origin := (j * step) % distinct
		at := min(origin+cfg.RedeliverAfter, distinct)
		due[at] = append(due[at], events[origin])
	}
	out := make([]Send, 0, cfg.Sends)
	for i := 0; i <= distinct; i++ {
		for _, ev := range due[i] {
			out = append(out, Send{Event: ev, Redelivery: true})
		}
		if i < distinct {
			out = append(out, Send{Event: events[i]})
		}
	}
	return out, nil
}

func newEvent(cfg PlanConfig, i int) (*Event, error) {
	kind := Kinds[i%len(Kinds)]
	n := i / len(Kinds) // index among the events of its kind
	sum := sha1.Sum(fmt.Appendf(nil, "faultbench %s %d", cfg.Run, i))
	ev := &Event{Index: i, Kind: kind, SHA: hex.EncodeToString(sum[:])}
	id, err := uuid()
	if err != nil {
		return nil, err
	}
	ev.Delivery = id
	branch := fmt.Sprintf("fb-%d", i)
	msg := fmt.Sprintf("faultbench %s event %d", cfg.Run, i)
	now := time.Now().UTC().Format(time.RFC3339)
	var body map[string]any
	switch kind {
	case GitHubPush, GitHubPR:
		ev.Repo = cfg.Repos.GitHub[n%len(cfg.Repos.GitHub)]
		ev.Path = "/hooks/github"
		owner, name, _ := strings.Cut(ev.Repo, "/")
		repo := map[string]any{"name": name, "full_name": ev.Repo, "owner": map[string]string{"login": owner, "name": owner},
			"html_url": cfg.FakeSCM + "/" + ev.Repo, "clone_url": cloneURL(cfg.FakeSCM, ev.Repo), "default_branch": "main"}
		eventType := "push"
		if kind == GitHubPush {
			commit := map[string]any{"id": ev.SHA, "message": msg, "timestamp": now,
				"author": map[string]string{"name": Author, "email": AuthorEmail},
				"added":  []string{}, "removed": []string{}, "modified": []string{"main.go"}}
			body = map[string]any{"ref": "refs/heads/" + branch, "before": zeroSHA, "after": ev.SHA, "created": true, "deleted": false,
				"repository": repo, "pusher": map[string]string{"name": Author, "email": AuthorEmail},
				"sender": map[string]string{"login": Author}, "head_commit": commit, "commits": []any{commit}}
		} else {
			eventType = "pull_request"
			ev.MR = i + 1
			body = map[string]any{"action": "opened", "number": ev.MR, "repository": repo, "sender": map[string]string{"login": Author},
				"pull_request": map[string]any{"number": ev.MR, "state": "open", "title": msg,
					"user": map[string]string{"login": Author, "type": "User"},
					"head": map[string]any{"ref": branch, "sha": ev.SHA, "repo": repo},
					"base": map[string]any{"ref": "main", "sha": zeroSHA, "repo": repo}}}
		}
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encoding event %d: %w", i, err)
		}
		ev.Body = raw
		ev.Headers = map[string]string{github.EventHeader: eventType, github.DeliveryHeader: ev.Delivery,
			github.SignatureHeader: github.Sign(cfg.GitHubSecret, raw)}
	case GitLabPush, GitLabMR:
		p := cfg.Repos.GitLab[n%len(cfg.Repos.GitLab)]
		ev.Repo = p.Path
		ev.Path = "/hooks/gitlab"
		project := map[string]any{"id": p.ID, "path_with_namespace": p.Path, "git_http_url": cloneURL(cfg.FakeSCM, p.Path),
			"web_url": cfg.FakeSCM + "/" + p.Path, "default_branch": "main"}
		eventType := "Push Hook"
		if kind == GitLabPush {
			body = map[string]any{"object_kind": "push", "event_name": "push", "ref": "refs/heads/" + branch,
				"before": zeroSHA, "after": ev.SHA, "checkout_sha": ev.SHA, "user_username": Author, "user_email": AuthorEmail,
				"project_id": p.ID, "project": project, "total_commits_count": 1,
				"commits": []any{map[string]any{"id": ev.SHA, "message": msg, "timestamp": now,
					"author": map[string]string{"name": Author, "email": AuthorEmail},
					"added":  []string{}, "modified": []string{"main.go"}, "removed": []string{}}}}
		} else {
			eventType = "Merge Request Hook"
			ev.MR = i + 1
			body = map[string]any{"object_kind": "merge_request", "event_type": "merge_request",
				"user": map[string]string{"username": Author, "email": AuthorEmail}, "project": project,
				"object_attributes": map[string]any{"iid": ev.MR, "action": "open", "state": "opened", "title": msg,
					"source_branch": branch, "target_branch": "main",
					"last_commit": map[string]any{"id": ev.SHA, "message": msg, "timestamp": now}}}
		}
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encoding event %d: %w", i, err)
		}
		ev.Body = raw
		ev.Headers = map[string]string{gitlab.EventHeader: eventType, gitlab.DeliveryHeader: ev.Delivery, "X-Gitlab-Token": cfg.GitLabToken}
	}
	return ev, nil
}

const zeroSHA = "0000000000000000000000000000000000000000"

// cloneURL is where the fakescm serves repo, the URL Slipway pins clone
// URLs to on the stack (SLIPWAY_GITHUB_URL, SLIPWAY_GITLAB_URL).
func cloneURL(fakeSCM, repo string) string { return fakeSCM + "/git/" + repo + ".git" }

// uuid returns a random (version 4) UUID, the form both hosts' delivery
// ids take.
func uuid() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("delivery id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
