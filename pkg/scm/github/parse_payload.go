package github

import (
	"fmt"
	"sort"
	"strings"

	gh "github.com/google/go-github/v60/github"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/scm"
)

// Header names GitHub sets on every delivery.
const (
	EventHeader    = "X-GitHub-Event"
	DeliveryHeader = "X-GitHub-Delivery"
)

// ParseWebhook normalizes a verified GitHub delivery. eventType is the
// X-GitHub-Event header and delivery the X-GitHub-Delivery header.
//
// It returns scm.ErrPing for a ping, an error wrapping
// scm.ErrUnsupportedEvent for event types Slipway does not act on, and an
// error wrapping scm.ErrMalformed when the body is not a usable payload.
func ParseWebhook(eventType, delivery string, body []byte) (*event.Event, error) {
	switch eventType {
	case "push", "pull_request", "issue_comment":
	case "ping":
		return nil, scm.ErrPing
	default:
		return nil, fmt.Errorf("github event %q: %w", eventType, scm.ErrUnsupportedEvent)
	}
	payload, err := gh.ParseWebHook(eventType, body)
	if err != nil {
		return nil, fmt.Errorf("github %s payload: %w: %w", eventType, scm.ErrMalformed, err)
	}
	var ev *event.Event
	switch p := payload.(type) {
	case *gh.PushEvent:
		ev, err = fromPush(p)
	case *gh.PullRequestEvent:
		ev, err = fromPullRequest(p)
	case *gh.IssueCommentEvent:
		ev, err = fromIssueComment(p)
	default:
		// A JSON null decodes to no payload at all.
		return nil, fmt.Errorf("github %s payload: %w: no JSON object", eventType, scm.ErrMalformed)
	}
	if err != nil {
		return nil, fmt.Errorf("github %s payload: %w", eventType, err)
	}
	ev.Provider = event.GitHub
	ev.Delivery = delivery
	return ev, nil
}

func missing(field string) error {
	return fmt.Errorf("%w: missing %s", scm.ErrMalformed, field)
}

func fromPush(p *gh.PushEvent) (*event.Event, error) {
	repo := p.GetRepo()
	ev := &event.Event{
		Kind:          event.Push,
		Action:        event.Build,
		Repo:          repo.GetFullName(),
		CloneURL:      repo.GetCloneURL(),
		WebURL:        repo.GetHTMLURL(),
		DefaultBranch: repo.GetDefaultBranch(),
		Ref:           p.GetRef(),
		SHA:           p.GetAfter(),
		BeforeSHA:     p.GetBefore(),
		Author:        p.GetSender().GetLogin(),
		AuthorEmail:   p.GetPusher().GetEmail(),
	}
	switch {
	case ev.Repo == "":
		return nil, missing("repository.full_name")
	case ev.Ref == "":
		return nil, missing("ref")
	case p.After == nil:
		return nil, missing("after")
	}
	var ok bool
	name, isTag := strings.CutPrefix(ev.Ref, "refs/tags/")
	if isTag {
		ev.Kind = event.Tag
	} else if name, ok = strings.CutPrefix(ev.Ref, "refs/heads/"); !ok {
		return ev.Ignored(fmt.Sprintf("ref %s is neither a branch nor a tag", ev.Ref)), nil
	}
	if p.GetDeleted() || event.IsDeletion(ev.SHA) {
		what := "branch"
		if isTag {
			what = "tag"
		}
		return ev.Ignored(fmt.Sprintf("%s %s was deleted", what, name)), nil
	}
	if ev.CloneURL == "" {
		return nil, missing("repository.clone_url")
	}
	if hc := p.GetHeadCommit(); hc != nil {
		ev.CommitMessage = hc.GetMessage()
		ev.CommitTime = hc.GetTimestamp().Time
		if ev.AuthorEmail == "" {
			ev.AuthorEmail = hc.GetAuthor().GetEmail()
		}
	}
	ev.ChangedPaths = changedPaths(p.Commits)
	return ev, nil
}

// changedPaths is the sorted union of the files the pushed commits touched.
// A push listing no commit (a new tag, a branch created at an existing
// commit) says nothing about paths, so the answer is nil: unknown.
func changedPaths(commits []*gh.HeadCommit) []string {
	if len(commits) == 0 {
		return nil
	}
	seen := map[string]bool{}
	for _, c := range commits {
		if c == nil {
			continue
		}
		for _, list := range [][]string{c.Added, c.Modified, c.Removed} {
			for _, f := range list {
				seen[f] = true
			}
		}
	}
	paths := make([]string, 0, len(seen))
	for f := range seen {
		paths = append(paths, f)
	}
	sort.Strings(paths)
	return paths
}

func fromPullRequest(p *gh.PullRequestEvent) (*event.Event, error) {
	pr := p.GetPullRequest()
	base, head := pr.GetBase(), pr.GetHead()
	// The base repository is the one Slipway serves; GitHub keeps the head
	// of every PR, forks included, at refs/pull/N/head there.
	repo := base.GetRepo()
	if repo == nil {
		repo = p.GetRepo()
	}
	num := p.GetNumber()
	if num == 0 {
		num = pr.GetNumber()
	}
	ev := &event.Event{
		Kind:          event.MergeRequest,
		Repo:          repo.GetFullName(),
		CloneURL:      repo.GetCloneURL(),
		WebURL:        repo.GetHTMLURL(),
		DefaultBranch: repo.GetDefaultBranch(),
		Ref:           fmt.Sprintf("refs/pull/%d/head", num),
		SHA:           head.GetSHA(),
		BeforeSHA:     p.GetBefore(),
		MRNumber:      num,
		SourceBranch:  head.GetRef(),
		TargetBranch:  base.GetRef(),
		MRTitle:       pr.GetTitle(),
		Author:        pr.GetUser().GetLogin(),
		AuthorBot:     pr.GetUser().GetType() == "Bot",
	}
	switch {
	case ev.Repo == "":
		return nil, missing("repository.full_name")
	case num <= 0:
		return nil, missing("number")
	case ev.SHA == "":
		return nil, missing("pull_request.head.sha")
	}
	switch action := p.GetAction(); action {
	case "opened", "synchronize", "reopened":
		if ev.CloneURL == "" {
			return nil, missing("repository.clone_url")
		}
		ev.Action = event.Build
	case "closed":
		ev.Action = event.Cancel
	default:
		ev.Ignored(fmt.Sprintf("pull request action %q does not build", action))
	}
	return ev, nil
}

// fromIssueComment turns a "/retest" or "/cancel" comment on a pull request
// into an event for the commenter. The payload does not name the PR's head
// commit, so SHA stays empty and the dispatcher asks GitHub for it.
func fromIssueComment(p *gh.IssueCommentEvent) (*event.Event, error) {
	repo := p.GetRepo()
	issue := p.GetIssue()
	ev := &event.Event{
		Kind:          event.MergeRequest,
		Repo:          repo.GetFullName(),
		CloneURL:      repo.GetCloneURL(),
		WebURL:        repo.GetHTMLURL(),
		DefaultBranch: repo.GetDefaultBranch(),
		MRNumber:      issue.GetNumber(),
		MRTitle:       issue.GetTitle(),
		Author:        p.GetComment().GetUser().GetLogin(),
		Commented:     true,
	}
	switch {
	case ev.Repo == "":
		return nil, missing("repository.full_name")
	case ev.MRNumber <= 0:
		return nil, missing("issue.number")
	}
	ev.Ref = fmt.Sprintf("refs/pull/%d/head", ev.MRNumber)
	// Ordinary conversation is not recorded: only commands are events.
	var skip string
	cmd := scm.CommentCommand(p.GetComment().GetBody())
	switch {
	case !issue.IsPullRequest():
		skip = "comment on an issue"
	case p.GetAction() != "created":
		skip = fmt.Sprintf("comment %s", p.GetAction())
	case p.GetComment().GetUser().GetType() == "Bot":
		skip = "comment by a bot"
	case cmd == "":
		skip = "comment without a command"
	}
	if skip != "" {
		return nil, fmt.Errorf("%s: %w", skip, scm.ErrUnsupportedEvent)
	}
	if ev.Author == "" {
		return nil, missing("comment.user.login")
	}
	if ev.CloneURL == "" {
		return nil, missing("repository.clone_url")
	}
	ev.Action = cmd
	return ev, nil
}
