package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/slipway-ci/slipway/pkg/run"
)

// SavePolicyCheck stores the policy outcome of c.Digest, replacing any
// earlier check of the same digest. CheckedAt defaults to the store's now.
func (s *DB) SavePolicyCheck(ctx context.Context, c *run.PolicyCheck) error {
	if !strings.HasPrefix(c.Digest, "sha256:") || c.RunID == "" {
		return errors.New("save policy check: a sha256 digest and a run id are required")
	}
	switch c.Outcome {
	case run.PolicyPassed, run.PolicyFailed, run.PolicyNone:
	default:
		return fmt.Errorf("save policy check: outcome %q is not passed, failed or none", c.Outcome)
	}
	vs := c.Violations
	if vs == nil {
		vs = []run.PolicyViolation{}
	}
	b, err := json.Marshal(vs)
	if err != nil {
		return fmt.Errorf("save policy check: %w", err)
	}
	at := c.CheckedAt
	if at.IsZero() {
		at = s.ts()
	}
	q := s.d.rebind(`INSERT INTO policy_checks (digest, run_id, outcome, packages, more, violations, checked_at) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (digest) DO UPDATE SET run_id = excluded.run_id, outcome = excluded.outcome, packages = excluded.packages,
    more = excluded.more, violations = excluded.violations, checked_at = excluded.checked_at`)
	if _, err := s.w.ExecContext(ctx, q, c.Digest, c.RunID, string(c.Outcome), c.Packages, c.More, string(b), s.d.timeArg(at.UTC().Truncate(time.Microsecond))); err != nil {
		return fmt.Errorf("save policy check of %s: %w", c.Digest, err)
	}
	return nil
}

// PolicyCheck returns the stored policy outcome of digest, or ErrNotFound.
func (s *DB) PolicyCheck(ctx context.Context, digest string) (*run.PolicyCheck, error) {
	q := s.d.rebind(`SELECT digest, run_id, outcome, packages, more, violations, checked_at FROM policy_checks WHERE digest = ?`)
	var c run.PolicyCheck
	var outcome, vs string
	err := s.r.QueryRowContext(ctx, q, digest).Scan(&c.Digest, &c.RunID, &outcome, &c.Packages, &c.More, &vs, dbTime{&c.CheckedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("policy check of %s: %w", digest, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read policy check of %s: %w", digest, err)
	}
	c.Outcome = run.PolicyOutcome(outcome)
	if err := json.Unmarshal([]byte(vs), &c.Violations); err != nil {
		return nil, fmt.Errorf("policy check of %s: violations: %w", digest, err)
	}
	if len(c.Violations) == 0 {
		c.Violations = nil
	}
	return &c, nil
}
