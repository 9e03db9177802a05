package github

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	gh "github.com/google/go-github/v60/github"
)

// The hook deliveries API: GitHub keeps every delivery of a hook (about
// three days) with the answer it got, and redelivers one on request. A
// delivery that failed while Slipway was down is never retried by GitHub
// itself, so recovery asks for it.

// HookKind is where a hook is configured.
type HookKind string

const (
	RepoHook HookKind = "repo"
	OrgHook  HookKind = "org"
	// AppHook is the hook of the GitHub App whose JWT the client holds.
	AppHook HookKind = "app"
)

// Hook names one webhook whose deliveries are watched.
type Hook struct {
	Kind HookKind
	// Owner is the repository owner or the organisation; empty for AppHook.
	Owner string
	// Repo is the repository name (RepoHook only).
	Repo string
	// ID is the hook's id (the number in its settings URL); 0 for AppHook.
	ID int64
}

// String is the hook as ParseHooks reads it.
func (h Hook) String() string {
	switch h.Kind {
	case RepoHook:
		return fmt.Sprintf("repo:%s/%s:%d", h.Owner, h.Repo, h.ID)
	case OrgHook:
		return fmt.Sprintf("org:%s:%d", h.Owner, h.ID)
	default:
		return string(h.Kind)
	}
}

// ParseHooks reads a comma-separated list of hooks:
// repo:OWNER/NAME:ID, org:NAME:ID or app. Empty means none.
func ParseHooks(s string) ([]Hook, error) {
	var out []Hook
	seen := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		h, err := parseHook(item)
		if err != nil {
			return nil, err
		}
		if seen[h.String()] {
			return nil, fmt.Errorf("github hook %q is listed twice", item)
		}
		seen[h.String()] = true
		out = append(out, h)
	}
	return out, nil
}

func parseHook(item string) (Hook, error) {
	if item == string(AppHook) {
		return Hook{Kind: AppHook}, nil
	}
	kind, rest, _ := strings.Cut(item, ":")
	target, idText, ok := cutLast(rest, ":")
	if !ok {
		return Hook{}, fmt.Errorf("github hook %q: want repo:OWNER/NAME:ID, org:NAME:ID or app", item)
	}
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 {
		return Hook{}, fmt.Errorf("github hook %q: the hook id %q is not a positive number", item, idText)
	}
	switch HookKind(kind) {
	case RepoHook:
		owner, name, err := splitRepo(target)
		if err != nil || !validName(owner) || !validName(name) {
			return Hook{}, fmt.Errorf("github hook %q: want repo:OWNER/NAME:ID", item)
		}
		return Hook{Kind: RepoHook, Owner: owner, Repo: name, ID: id}, nil
	case OrgHook:
		if !validName(target) {
			return Hook{}, fmt.Errorf("github hook %q: want org:NAME:ID", item)
		}
		return Hook{Kind: OrgHook, Owner: target, ID: id}, nil
	default:
		return Hook{}, fmt.Errorf("github hook %q: unknown kind %q (want repo, org or app)", item, kind)
	}
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// validName: GitHub's owner and repository names are letters, digits,
// '-', '_' and '.'; anything else would end up in an API path.
func validName(s string) bool {
	if s == "" || len(s) > 100 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// Delivery is one attempt GitHub made to deliver an event to a hook.
type Delivery struct {
	// ID names this attempt; a redelivery is a new attempt with a new ID.
	ID int64
	// GUID is the X-GitHub-Delivery header, the same for every attempt
	// of one event: what the store records.
	GUID        string
	DeliveredAt time.Time
	// StatusCode is what the hook's receiver answered; 0 when it did not
	// answer (refused connection, timeout).
	StatusCode int
	Event      string
	Redelivery bool
}

// hook deliveries services: the parts of go-github's Repositories,
// Organizations and Apps services recovery calls, signatures copied.
type repoHooksService interface {
	ListHookDeliveries(ctx context.Context, owner, repo string, id int64, opts *gh.ListCursorOptions) ([]*gh.HookDelivery, *gh.Response, error)
	RedeliverHookDelivery(ctx context.Context, owner, repo string, hookID, deliveryID int64) (*gh.HookDelivery, *gh.Response, error)
}

type orgHooksService interface {
	ListHookDeliveries(ctx context.Context, org string, id int64, opts *gh.ListCursorOptions) ([]*gh.HookDelivery, *gh.Response, error)
	RedeliverHookDelivery(ctx context.Context, owner string, hookID, deliveryID int64) (*gh.HookDelivery, *gh.Response, error)
}

type appHooksService interface {
	ListHookDeliveries(ctx context.Context, opts *gh.ListCursorOptions) ([]*gh.HookDelivery, *gh.Response, error)
	RedeliverHookDelivery(ctx context.Context, deliveryID int64) (*gh.HookDelivery, *gh.Response, error)
}

// deliveriesPerPage is the API's maximum page.
const deliveriesPerPage = 100

// HookDeliveries returns one page of hook's deliveries, newest first, and
// the cursor of the next page ("" after the last). Errors are classified
// like every other call: a rate limit is a TransientError with the wait.
func (c *Client) HookDeliveries(ctx context.Context, hook Hook, cursor string) ([]Delivery, string, error) {
	opts := &gh.ListCursorOptions{PerPage: deliveriesPerPage, Cursor: cursor}
	var (
		ds   []*gh.HookDelivery
		resp *gh.Response
		err  error
	)
	switch hook.Kind {
	case RepoHook:
		ds, resp, err = c.repoHooks.ListHookDeliveries(ctx, hook.Owner, hook.Repo, hook.ID, opts)
	case OrgHook:
		ds, resp, err = c.orgHooks.ListHookDeliveries(ctx, hook.Owner, hook.ID, opts)
	case AppHook:
		ds, resp, err = c.appHooks.ListHookDeliveries(ctx, opts)
	default:
		return nil, "", fmt.Errorf("github hook deliveries: unknown hook kind %q", hook.Kind)
	}
	if err != nil {
		return nil, "", classify("github list deliveries of "+hook.String(), resp, err)
	}
	out := make([]Delivery, 0, len(ds))
	for _, d := range ds {
		if d == nil || d.ID == nil || d.GetGUID() == "" {
			continue // nothing to look up or redeliver
		}
		out = append(out, Delivery{
			ID: d.GetID(), GUID: d.GetGUID(), DeliveredAt: d.GetDeliveredAt().Time,
			StatusCode: d.GetStatusCode(), Event: d.GetEvent(), Redelivery: d.GetRedelivery(),
		})
	}
	next := ""
	if resp != nil {
		next = resp.Cursor
	}
	return out, next, nil
}

// Redeliver asks GitHub to deliver attempt id of hook again: the event
// comes back through the webhook, signed, and is verified like any other.
func (c *Client) Redeliver(ctx context.Context, hook Hook, id int64) error {
	if id <= 0 {
		return errors.New("github redeliver: a delivery id is required")
	}
	var (
		resp *gh.Response
		err  error
	)
	switch hook.Kind {
	case RepoHook:
		_, resp, err = c.repoHooks.RedeliverHookDelivery(ctx, hook.Owner, hook.Repo, hook.ID, id)
	case OrgHook:
		_, resp, err = c.orgHooks.RedeliverHookDelivery(ctx, hook.Owner, hook.ID, id)
	case AppHook:
		_, resp, err = c.appHooks.RedeliverHookDelivery(ctx, id)
	default:
		return fmt.Errorf("github redeliver: unknown hook kind %q", hook.Kind)
	}
	// GitHub answers 202 Accepted, which go-github reports as an
	// *AcceptedError: the redelivery is queued, which is all we asked.
	var accepted *gh.AcceptedError
	if err != nil && !errors.As(err, &accepted) {
		return classify(fmt.Sprintf("github redeliver %d of %s", id, hook), resp, err)
	}
	return nil
}
