package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/utils/lru"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/repoconfig"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/store"
)

// Approvals keeps maintainers' /ok-to-test, each for one head SHA;
// *store.DB has it.
type Approvals interface {
	RecordApproval(ctx context.Context, a store.Approval) error
	// Approver is who approved sha of the merge request ("" for nobody);
	// an empty sha asks for any of its SHAs.
	Approver(ctx context.Context, p event.Provider, repo string, mr int, sha string) (string, error)
}

var _ Approvals = (*store.DB)(nil)

// WaitingStatus is the description of the pending commit status an
// untrusted merge request gets instead of a build.
const WaitingStatus = "waiting for /ok-to-test by a maintainer"

// WithTrustGate makes merge requests build only when their author is
// trusted (write access on the host, or listed in trusted.users or a
// member of one of trusted.groups of the default branch's .slipway.yaml)
// or a trusted user approved the head SHA with "/ok-to-test", kept in a.
// Others end "waiting" with a pending commit status named statusContext. Default: off, every merge request
// builds (Slipway's server always turns it on).
func WithTrustGate(a Approvals, statusContext string) Option {
	return func(d *Dispatcher) { d.approvals, d.statusContext = a, statusContext }
}

// WithTrustCacheTTL sets how long a host's answer about a user's write
// access or group membership is reused. Default 30 s: a comment storm
// costs one lookup, and a revoked maintainer loses the gate within the TTL.
func WithTrustCacheTTL(ttl time.Duration) Option { return func(d *Dispatcher) { d.trustTTL = ttl } }

// trustEntry is a cached CanWrite or MemberOf answer.
type trustEntry struct {
	ok      bool
	expires time.Time
}

// canWrite asks the host whether user may push to ev's repository,
// reusing an answer younger than the TTL.
func (d *Dispatcher) canWrite(ctx context.Context, ev *event.Event, user string) (bool, error) {
	perms, ok := d.scms[ev.Provider].(scm.Permissions)
	if !ok {
		return false, fmt.Errorf("the %s client cannot check permissions", ev.Provider)
	}
	key := string(ev.Provider) + "\x00" + ev.Repo + "\x00" + strings.ToLower(user)
	return d.cachedTrust(key, func() (bool, error) {
		allowed, err := perms.CanWrite(ctx, scm.Repo{FullName: ev.Repo, ProjectID: ev.ProjectID}, user)
		if err != nil {
			return false, fmt.Errorf("checking %s's access to %s: %w", user, ev.Repo, err)
		}
		return allowed, nil
	})
}

// cachedTrust is the host's answer under key, asked only when there is
// none younger than the TTL; errors are not cached.
func (d *Dispatcher) cachedTrust(key string, ask func() (bool, error)) (bool, error) {
	now := d.clock.Now()
	if v, hit := d.trustCache.Get(key); hit {
		if e := v.(trustEntry); now.Before(e.expires) {
			return e.ok, nil
		}
	}
	ok, err := ask()
	if err != nil {
		return false, err
	}
	d.trustCache.Add(key, trustEntry{ok: ok, expires: now.Add(d.trustTTL)})
	return ok, nil
}

// memberOf asks the host whether user belongs to group, reusing an answer
// younger than the TTL. Membership does not depend on the repository, so
// the answer serves every repository that trusts the group.
func (d *Dispatcher) memberOf(ctx context.Context, ev *event.Event, group, user string) (bool, error) {
	perms, ok := d.scms[ev.Provider].(scm.Permissions)
	if !ok {
		return false, fmt.Errorf("the %s client cannot check group membership", ev.Provider)
	}
	key := "member\x00" + string(ev.Provider) + "\x00" + strings.ToLower(group) + "\x00" + strings.ToLower(user)
	return d.cachedTrust(key, func() (bool, error) {
		member, err := perms.MemberOf(ctx, group, user)
		if err != nil {
			return false, fmt.Errorf("checking %s's membership of %s (trusted.groups of %s): %w", user, group, ev.Repo, err)
		}
		return member, nil
	})
}

// trusted reports whether user may build untrusted code: listed in the
// default branch's trusted.users, or (not a bot) with write access or a
// member of one of its trusted.groups.
func (d *Dispatcher) trusted(ctx context.Context, ev *event.Event, base *repoconfig.Config, user string, bot bool) (bool, error) {
	if user == "" {
		return false, nil
	}
	if base.TrustsUser(user) {
		return true, nil
	}
	// A bot is trusted by name only. Its access vouches for nothing it
	// opens, and group membership least of all: GitLab's group and
	// project access tokens act as bot users who are members of their
	// group, so trusting a group would trust every such token.
	if bot {
		return false, nil
	}
	if ok, err := d.canWrite(ctx, ev, user); err != nil || ok {
		return ok, err
	}
	// One group saying yes is enough; a failed lookup of another does
	// not make the user trusted, and when none says yes it is the error.
	var errs []error
	for _, g := range base.Trusted.Groups {
		ok, err := d.memberOf(ctx, ev, g, user)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			return true, nil
		}
	}
	return false, errors.Join(errs...)
}

// defaultBranchConfig is the .slipway.yaml of ev's default branch (the
// target branch when the payload does not name it), read fresh: a branch
// moves, so it is not cached by name.
func (d *Dispatcher) defaultBranchConfig(ctx context.Context, ev *event.Event) (*repoconfig.Config, error) {
	client := d.scms[ev.Provider]
	if client == nil {
		return nil, fmt.Errorf("no SCM client configured for provider %q", ev.Provider)
	}
	branch := ev.DefaultBranch
	if branch == "" {
		branch = ev.TargetBranch
	}
	if mrs, ok := client.(scm.MergeRequests); ok && branch == "" && ev.MRNumber > 0 {
		// A comment's payload may name neither; the MR knows its target.
		head, err := mrs.MergeRequestHead(ctx, scm.Repo{FullName: ev.Repo, ProjectID: ev.ProjectID}, ev.MRNumber)
		if err != nil {
			return nil, fmt.Errorf("looking up %s#%d: %w", ev.Repo, ev.MRNumber, err)
		}
		branch = head.TargetBranch
	}
	if branch == "" {
		return nil, fmt.Errorf("event %d names no default or target branch to read trusted settings from", ev.ID)
	}
	data, err := client.ReadFile(ctx, scm.Repo{FullName: ev.Repo, ProjectID: ev.ProjectID}, branch, repoconfig.FileName)
	if errors.Is(err, scm.ErrNotFound) {
		return &repoconfig.Config{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s on %s: %w", repoconfig.FileName, branch, err)
	}
	cfg, err := repoconfig.Parse(data)
	if err != nil {
		return nil, invalidConfig(fmt.Errorf("%s on the default branch %s: %w", repoconfig.FileName, branch, err))
	}
	return cfg, nil
}

// whoMayApprove says, for the waiting reason, who can start the build.
func whoMayApprove(ev *event.Event, base *repoconfig.Config) string {
	who := "anyone with write access to " + ev.Repo
	if len(base.Trusted.Users) > 0 {
		who += " or " + strings.Join(base.Trusted.Users, ", ")
	}
	if len(base.Trusted.Groups) > 0 {
		who += " or members of " + strings.Join(base.Trusted.Groups, ", ")
	}
	return who
}

// gate decides whether merge request ev may build: "" when it may, else
// the waiting reason, after posting the pending status on each of
// contexts (one per app of a monorepo). approvedBy is the trusted user who
// asked for this build (/ok-to-test, /retest), if any.
func (d *Dispatcher) gate(ctx context.Context, ev *event.Event, base *repoconfig.Config, approvedBy string, contexts []string) (string, error) {
	if d.approvals == nil || ev.Kind != event.MergeRequest || approvedBy != "" {
		return "", nil
	}
	ok, err := d.trusted(ctx, ev, base, ev.Author, ev.AuthorBot)
	if err != nil || ok {
		return "", err
	}
	sha := ev.SHA
	if base.Trusted.KeepApprovals {
		sha = ""
	}
	approver, err := d.approvals.Approver(ctx, ev.Provider, ev.Repo, ev.MRNumber, sha)
	if err != nil {
		return "", err
	}
	if approver != "" {
		return "", nil
	}
	for _, c := range contexts {
		st := scm.Status{SHA: ev.SHA, State: scm.StatePending, Context: c, Description: WaitingStatus, Ref: ev.SourceBranch}
		if err := d.scms[ev.Provider].SetStatus(ctx, scm.Repo{FullName: ev.Repo, ProjectID: ev.ProjectID}, st); err != nil {
			return "", fmt.Errorf("posting the waiting status on %s: %w", ev.ShortSHA(), err)
		}
	}
	author := ev.Author
	if author == "" {
		author = "an unknown author"
	}
	return fmt.Sprintf("%s (%s is not trusted): /ok-to-test from %s starts %s", WaitingStatus, author, whoMayApprove(ev, base), ev.ShortSHA()), nil
}

func newTrustCache() *lru.Cache { return lru.New(4096) }
