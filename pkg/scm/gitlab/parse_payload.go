package gitlab

import (
	"fmt"
	"sort"
	"strings"
	"time"

	gl "github.com/xanzy/go-gitlab"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/scm"
)

// Header names GitLab sets on every delivery.
const (
	EventHeader    = "X-Gitlab-Event"
	DeliveryHeader = "X-Gitlab-Event-UUID"
)

// ParseWebhook normalizes a verified GitLab delivery. eventType is the
// X-Gitlab-Event header and delivery the X-Gitlab-Event-UUID header.
//
// It returns an error wrapping scm.ErrUnsupportedEvent for event types
// Slipway does not act on and one wrapping scm.ErrMalformed when the body is
// not a usable payload.
func ParseWebhook(eventType, delivery string, body []byte) (*event.Event, error) {
	switch gl.EventType(eventType) {
	case gl.EventTypePush, gl.EventTypeTagPush, gl.EventTypeMergeRequest, gl.EventTypeNote:
	default:
		return nil, fmt.Errorf("gitlab event %q: %w", eventType, scm.ErrUnsupportedEvent)
	}
	payload, err := gl.ParseWebhook(gl.EventType(eventType), body)
	if err != nil {
		return nil, fmt.Errorf("gitlab %s payload: %w: %w", eventType, scm.ErrMalformed, err)
	}
	var ev *event.Event
	switch p := payload.(type) {
	case *gl.PushEvent:
		ev, err = fromPush(p)
	case *gl.TagEvent:
		ev, err = fromTag(p)
	case *gl.MergeEvent:
		ev, err = fromMerge(p)
	case *gl.MergeCommentEvent:
		ev, err = fromMergeComment(p)
	default:
		// go-gitlab also maps service hooks and resource access token
		// payloads onto these event types; none of them is a build trigger.
		return nil, fmt.Errorf("gitlab event %q carrying %T: %w", eventType, payload, scm.ErrUnsupportedEvent)
	}
	if err != nil {
		return nil, fmt.Errorf("gitlab %s payload: %w", eventType, err)
	}
	ev.Provider = event.GitLab
	ev.Delivery = delivery
	return ev, nil
}

func missing(field string) error {
	return fmt.Errorf("%w: missing %s", scm.ErrMalformed, field)
}

// commit is the part of a pushed commit Slipway reads; go-gitlab declares
// the push and tag commit lists as distinct anonymous structs.
type commit struct {
	id, message, email string
	at                 *time.Time
	paths              [][]string
}

// ref is what push and tag hooks share.
type ref struct {
	kind                          event.Kind
	ref, before, after, checkout  string
	username, email               string
	projectID                     int
	path, cloneURL, webURL, defBr string
	commits                       []commit
	total                         int
}

func fromPush(p *gl.PushEvent) (*event.Event, error) {
	r := ref{
		kind: event.Push, ref: p.Ref, before: p.Before, after: p.After, checkout: p.CheckoutSHA,
		username: p.UserUsername, email: p.UserEmail, projectID: p.Project.ID,
		path: p.Project.PathWithNamespace, cloneURL: p.Project.GitHTTPURL, webURL: p.Project.WebURL,
		defBr: p.Project.DefaultBranch, total: p.TotalCommitsCount,
	}
	if r.projectID == 0 {
		r.projectID = p.ProjectID
	}
	for _, c := range p.Commits {
		if c != nil {
			r.commits = append(r.commits, commit{c.ID, c.Message, c.Author.Email, c.Timestamp, [][]string{c.Added, c.Modified, c.Removed}})
		}
	}
	return fromRef(r)
}

func fromTag(p *gl.TagEvent) (*event.Event, error) {
	r := ref{
		kind: event.Tag, ref: p.Ref, before: p.Before, after: p.After, checkout: p.CheckoutSHA,
		username: p.UserUsername, email: p.UserEmail, projectID: p.Project.ID,
		path: p.Project.PathWithNamespace, cloneURL: p.Project.GitHTTPURL, webURL: p.Project.WebURL,
		defBr: p.Project.DefaultBranch, total: p.TotalCommitsCount,
	}
	if r.projectID == 0 {
		r.projectID = p.ProjectID
	}
	for _, c := range p.Commits {
		if c != nil {
			r.commits = append(r.commits, commit{c.ID, c.Message, c.Author.Email, c.Timestamp, [][]string{c.Added, c.Modified, c.Removed}})
		}
	}
	return fromRef(r)
}

func fromRef(r ref) (*event.Event, error) {
	ev := &event.Event{
		Kind:          r.kind,
		Action:        event.Build,
		Repo:          r.path,
		ProjectID:     int64(r.projectID),
		CloneURL:      r.cloneURL,
		WebURL:        r.webURL,
		DefaultBranch: r.defBr,
		Ref:           r.ref,
		SHA:           r.after,
		BeforeSHA:     r.before,
		Author:        r.username,
		AuthorEmail:   r.email,
	}
	switch {
	case ev.Repo == "":
		return nil, missing("project.path_with_namespace")
	case ev.Ref == "":
		return nil, missing("ref")
	case ev.SHA == "":
		return nil, missing("after")
	}
	prefix := "refs/heads/"
	if r.kind == event.Tag {
		prefix = "refs/tags/"
	}
	if !strings.HasPrefix(ev.Ref, prefix) {
		return ev.Ignored(fmt.Sprintf("ref %s is not under %s", ev.Ref, prefix)), nil
	}
	if event.IsDeletion(ev.SHA) {
		if r.kind == event.Tag {
			return ev.Ignored("tag " + strings.TrimPrefix(ev.Ref, "refs/tags/") + " deleted"), nil
		}
		return ev.Ignored("branch " + strings.TrimPrefix(ev.Ref, "refs/heads/") + " deleted"), nil
	}
	if ev.CloneURL == "" {
		return nil, missing("project.git_http_url")
	}
	// The head commit is the one the ref now points at.
	for _, c := range r.commits {
		if c.id == ev.SHA {
			ev.CommitMessage = c.message
			if c.at != nil {
				ev.CommitTime = *c.at
			}
		}
	}
	// GitLab lists at most 20 commits; when it left some out the changed
	// paths are unknown rather than a misleading subset.
	if len(r.commits) > 0 && r.total <= len(r.commits) {
		ev.ChangedPaths = changedPaths(r.commits)
	}
	return ev, nil
}

func changedPaths(commits []commit) []string {
	seen := map[string]bool{}
	for _, c := range commits {
		for _, list := range c.paths {
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

func fromMerge(p *gl.MergeEvent) (*event.Event, error) {
	a := p.ObjectAttributes
	ev := &event.Event{
		Kind:          event.MergeRequest,
		Repo:          p.Project.PathWithNamespace,
		ProjectID:     int64(p.Project.ID),
		CloneURL:      p.Project.GitHTTPURL,
		WebURL:        p.Project.WebURL,
		DefaultBranch: p.Project.DefaultBranch,
		// GitLab keeps every MR head, forks included, in the target project.
		Ref:           fmt.Sprintf("refs/merge-requests/%d/head", a.IID),
		SHA:           a.LastCommit.ID,
		BeforeSHA:     a.OldRev,
		MRNumber:      a.IID,
		SourceBranch:  a.SourceBranch,
		TargetBranch:  a.TargetBranch,
		MRTitle:       a.Title,
		CommitMessage: a.LastCommit.Message,
	}
	if a.LastCommit.Timestamp != nil {
		ev.CommitTime = *a.LastCommit.Timestamp
	}
	if p.User != nil {
		ev.Author = p.User.Username
		ev.AuthorEmail = p.User.Email
	}
	switch {
	case ev.Repo == "":
		return nil, missing("project.path_with_namespace")
	case a.IID <= 0:
		return nil, missing("object_attributes.iid")
	case ev.SHA == "":
		return nil, missing("object_attributes.last_commit.id")
	}
	switch a.Action {
	case "open", "reopen":
		ev.Action = event.Build
	case "update":
		if a.OldRev == "" {
			return ev.Ignored("merge request updated without new commits"), nil
		}
		ev.Action = event.Build
	case "close", "merge":
		ev.Action = event.Cancel
	default:
		return ev.Ignored(fmt.Sprintf("merge request action %q does not build", a.Action)), nil
	}
	if ev.Action == event.Build && ev.CloneURL == "" {
		return nil, missing("project.git_http_url")
	}
	return ev, nil
}

// fromMergeComment turns a "/retest" or "/cancel" note on a merge request
// into an event for the commenter. Ordinary notes are not recorded.
func fromMergeComment(p *gl.MergeCommentEvent) (*event.Event, error) {
	a, mr := p.ObjectAttributes, p.MergeRequest
	ev := &event.Event{
		Kind:          event.MergeRequest,
		Repo:          p.Project.PathWithNamespace,
		ProjectID:     int64(p.Project.ID),
		CloneURL:      p.Project.GitHTTPURL,
		WebURL:        p.Project.WebURL,
		DefaultBranch: p.Project.DefaultBranch,
		Ref:           fmt.Sprintf("refs/merge-requests/%d/head", mr.IID),
		SHA:           mr.LastCommit.ID,
		MRNumber:      mr.IID,
		SourceBranch:  mr.SourceBranch,
		TargetBranch:  mr.TargetBranch,
		MRTitle:       mr.Title,
		CommitMessage: mr.LastCommit.Message,
		Commented:     true,
	}
	if ev.ProjectID == 0 {
		ev.ProjectID = int64(p.ProjectID)
	}
	if mr.LastCommit.Timestamp != nil {
		ev.CommitTime = *mr.LastCommit.Timestamp
	}
	if p.User != nil {
		ev.Author = p.User.Username
	}
	cmd := scm.CommentCommand(a.Note)
	switch {
	case a.System:
		return nil, fmt.Errorf("system note: %w", scm.ErrUnsupportedEvent)
	case cmd == "":
		return nil, fmt.Errorf("note without a command: %w", scm.ErrUnsupportedEvent)
	case ev.Repo == "":
		return nil, missing("project.path_with_namespace")
	case mr.IID <= 0:
		return nil, missing("merge_request.iid")
	case ev.Author == "":
		return nil, missing("user.username")
	case ev.CloneURL == "":
		return nil, missing("project.git_http_url")
	}
	ev.Action = cmd
	if (cmd == event.Retest || cmd == event.OkToTest) && mr.State != "" && mr.State != "opened" {
		return ev.Ignored(fmt.Sprintf("retest on a %s merge request", mr.State)), nil
	}
	return ev, nil
}
