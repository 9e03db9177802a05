package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/slipway-ci/slipway/pkg/event"
)

// Approval is a trusted user's /ok-to-test for one head SHA of one
// merge request.
type Approval struct {
	Provider   event.Provider
	Repo       string
	MRNumber   int
	SHA        string
	Approver   string
	EventID    int64
	ApprovedAt time.Time
}

// RecordApproval stores a; a second approval of the same SHA keeps the first.
func (s *DB) RecordApproval(ctx context.Context, a Approval) error {
	if a.Provider == "" || a.Repo == "" || a.MRNumber <= 0 || a.SHA == "" || a.Approver == "" {
		return errors.New("record approval: provider, repo, merge request, SHA and approver are required")
	}
	q := s.d.rebind(`INSERT INTO approvals (provider, repo, mr_number, sha, approver, event_id, approved_at)
VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (provider, repo, mr_number, sha) DO NOTHING`)
	if _, err := s.w.ExecContext(ctx, q, string(a.Provider), a.Repo, a.MRNumber, a.SHA, a.Approver, a.EventID, s.d.timeArg(s.ts())); err != nil {
		return fmt.Errorf("record approval of %s#%d at %s: %w", a.Repo, a.MRNumber, event.ShortSHA(a.SHA), err)
	}
	return nil
}

// Approver returns who approved sha of merge request mr, or "" when
// nobody did. An empty sha asks for any SHA of the merge request (the
// per-repository option that keeps approvals across pushes): the
// earliest approver is returned.
func (s *DB) Approver(ctx context.Context, p event.Provider, repo string, mr int, sha string) (string, error) {
	var w where
	w.add("provider = ?", string(p), true)
	w.add("repo = ?", repo, true)
	w.add("mr_number = ?", mr, true)
	w.add("sha = ?", sha, sha != "")
	q := s.d.rebind("SELECT approver FROM approvals" + w.String() + " ORDER BY approved_at LIMIT 1")
	rows, err := s.r.QueryContext(ctx, q, w.args...)
	if err != nil {
		return "", fmt.Errorf("read approvals of %s#%d: %w", repo, mr, err)
	}
	defer rows.Close()
	approver := ""
	if rows.Next() {
		if err := rows.Scan(&approver); err != nil {
			return "", fmt.Errorf("read approvals of %s#%d: %w", repo, mr, err)
		}
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("read approvals of %s#%d: %w", repo, mr, err)
	}
	return approver, nil
}
