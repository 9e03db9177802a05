package recovery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/logging"
)

// ProjectHeads is what the GitLab loop needs from the host
// (*gitlab.Client).
type ProjectHeads interface {
	// RecentHeads returns the project's branch and open MR heads moved
	// since then, as the events their webhooks give.
	RecentHeads(ctx context.Context, project string, since time.Time) ([]event.Event, error)
	// CompleteCommit fills the head commit fields a listing lacks.
	CompleteCommit(ctx context.Context, ev *event.Event) error
}

// EventLedger is what the GitLab loop needs from the store (*store.DB).
type EventLedger interface {
	HasEvent(ctx context.Context, provider event.Provider, repo, ref, sha string) (bool, error)
}

// Intake takes a recovered event the way it takes a webhook's: recorded
// in the queue and dispatched like any other (the server's intake, behind
// the webhook's allowlist and clone URL pinning).
type Intake interface {
	Accept(ctx context.Context, ev *event.Event) (event.Receipt, error)
}

// GitLab enqueues the recent heads of the configured projects that no
// recorded event names.
type GitLab struct {
	host     ProjectHeads
	ledger   EventLedger
	in       Intake
	projects []string
	o        Options
}

// NewGitLab returns the GitLab loop over projects (paths or numeric ids).
func NewGitLab(host ProjectHeads, ledger EventLedger, in Intake, projects []string, o Options) (*GitLab, error) {
	if host == nil || ledger == nil || in == nil {
		return nil, errors.New("gitlab recovery: a host client, a store and an intake are required")
	}
	if len(projects) == 0 {
		return nil, errors.New("gitlab recovery: no projects to watch")
	}
	if err := o.complete(); err != nil {
		return nil, err
	}
	return &GitLab{host: host, ledger: ledger, in: in, projects: projects, o: o}, nil
}

// Run passes at start and every interval until ctx is done.
func (g *GitLab) Run(ctx context.Context) error {
	return loop(ctx, g.o, string(event.GitLab), func(ctx context.Context) error { _, err := g.Pass(ctx); return err })
}

// Pass compares every project's recent heads with the store once and
// returns how many events it enqueued. A rate limit ends the pass;
// another project's failure does not.
func (g *GitLab) Pass(ctx context.Context) (int, error) {
	since := g.o.Clock.Now().Add(-g.o.Window)
	enqueued := 0
	var errs []error
	for _, p := range g.projects {
		n, err := g.project(ctx, p, since, g.o.MaxPerPass-enqueued)
		enqueued += n
		var rl *errRateLimited
		if errors.As(err, &rl) || ctx.Err() != nil {
			return enqueued, err
		}
		if err != nil {
			errs = append(errs, err)
		}
		if enqueued >= g.o.MaxPerPass {
			break
		}
	}
	return enqueued, errors.Join(errs...)
}

func (g *GitLab) project(ctx context.Context, project string, since time.Time, budget int) (int, error) {
	heads, err := g.host.RecentHeads(ctx, project, since)
	if err != nil {
		return 0, limited(err)
	}
	n := 0
	for i := range heads {
		if n >= budget {
			break
		}
		ev := heads[i]
		have, err := g.ledger.HasEvent(ctx, event.GitLab, ev.Repo, ev.Ref, ev.SHA)
		if err != nil {
			return n, fmt.Errorf("gitlab recovery of %s: %w", project, err)
		}
		if have {
			continue
		}
		if err := g.host.CompleteCommit(ctx, &ev); err != nil {
			return n, limited(err)
		}
		ev.Provider = event.GitLab
		ev.Delivery = recoveredDelivery(ev)
		if ev.Action != event.Ignore {
			ev.Reason = Reason
		}
		rc, err := g.in.Accept(ctx, &ev)
		if err != nil {
			return n, fmt.Errorf("gitlab recovery of %s: recording %s@%s: %w", project, ev.Ref, ev.SHA, err)
		}
		if rc.Duplicate {
			continue // an earlier pass enqueued it under the same name
		}
		n++
		g.o.count(string(event.GitLab), HowEnqueued)
		logging.From(ctx).Info("missed delivery enqueued", "component", "recovery", "provider", event.GitLab,
			"repo", ev.Repo, "ref", ev.Ref, "sha", ev.SHA, "kind", ev.Kind, "event", rc.ID, "delivery", ev.Delivery)
	}
	return n, nil
}

// recoveredDelivery names a recovered head's delivery from what it is, so
// that enqueuing it twice (two passes, a new leader) meets the store's
// unique delivery key. The prefix tells it from the host's UUIDs.
func recoveredDelivery(ev event.Event) string {
	sum := sha256.Sum256([]byte(strconv.FormatInt(ev.ProjectID, 10) + "\x00" + ev.Repo + "\x00" + ev.Ref + "\x00" + ev.SHA))
	return "recovered-" + hex.EncodeToString(sum[:16])
}
