package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/slipway-ci/slipway/pkg/release"
)

var (
	_ Promotions  = (*DB)(nil)
	_ Deployments = (*DB)(nil)
	_ Audit       = (*DB)(nil)
)

// DefaultDeploymentsLimit is how many deployments ListDeployments returns
// when asked for limit 0.
const DefaultDeploymentsLimit = 100

const promotionCols = "id, kind, app, from_env, to_env, digest, source_image, target_image, commit_sha, run_id, " +
	"state, reason, progress, requested_by, approved_by, pipeline_runs, created_at, updated_at, finished_at"

// ValidPromotionState reports whether s is one of the known states.
func ValidPromotionState(s release.PromotionState) bool {
	switch s {
	case release.PromotionAwaitingApproval, release.PromotionQueued, release.PromotionRunning, release.PromotionPaused,
		release.PromotionSucceeded, release.PromotionFailed, release.PromotionRefused, release.PromotionAborted:
		return true
	}
	return false
}

func validPromotionKind(k release.PromotionKind) bool {
	return k == release.KindPromote || k == release.KindRollback || k == release.KindAutoDeploy
}

func encodeRuns(runs []string) (string, error) {
	if len(runs) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(runs)
	if err != nil {
		return "", fmt.Errorf("encode pipeline runs: %w", err)
	}
	return string(b), nil
}

// CreatePromotion records p and sets its ID, CreatedAt and UpdatedAt (and
// FinishedAt when it is created in a terminal state, e.g. refused).
func (s *DB) CreatePromotion(ctx context.Context, p *release.Promotion) error {
	if p == nil || p.App == "" || p.To == "" || p.RequestedBy == "" {
		return errors.New("create promotion: app, target environment and requester are required")
	}
	if !validPromotionKind(p.Kind) {
		return fmt.Errorf("create promotion of %s: unknown kind %q", p.App, p.Kind)
	}
	if !ValidPromotionState(p.State) {
		return fmt.Errorf("create promotion of %s: unknown state %q", p.App, p.State)
	}
	runs, err := encodeRuns(p.PipelineRuns)
	if err != nil {
		return fmt.Errorf("create promotion of %s: %w", p.App, err)
	}
	now := s.ts()
	fin := p.FinishedAt
	if p.State.Terminal() && fin.IsZero() {
		fin = now
	}
	q := s.d.rebind("INSERT INTO promotions (kind, app, from_env, to_env, digest, source_image, target_image, commit_sha, run_id, " +
		"state, reason, progress, requested_by, approved_by, pipeline_runs, created_at, updated_at, finished_at) " +
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id")
	var id int64
	err = s.w.QueryRowContext(ctx, q, string(p.Kind), p.App, p.From, p.To, p.Digest, p.SourceImage, p.TargetImage, p.Commit, p.RunID,
		string(p.State), p.Reason, p.Progress, p.RequestedBy, p.ApprovedBy, runs,
		s.d.timeArg(now), s.d.timeArg(now), s.nullTime(fin)).Scan(&id)
	if s.d.isUnique(err) {
		return fmt.Errorf("create promotion of %s to %s as %s: %w", p.App, p.To, p.State, ErrActive)
	}
	if err != nil {
		return fmt.Errorf("create promotion of %s to %s: %w", p.App, p.To, err)
	}
	p.ID, p.CreatedAt, p.UpdatedAt = id, now, now
	if !fin.IsZero() {
		p.FinishedAt = fin.UTC().Truncate(time.Microsecond)
	}
	return nil
}

// UpdatePromotion is a compare-and-set on the state: see Promotions. It
// stores state, reason, progress, approver, images, commit, CI run,
// pipeline runs and finished time (set to now when p reaches a terminal
// state without one); kind, app, environments, digest and requester are
// fixed at creation.
func (s *DB) UpdatePromotion(ctx context.Context, p *release.Promotion, from ...release.PromotionState) error {
	if p == nil || p.ID == 0 {
		return errors.New("update promotion: an id is required")
	}
	if !ValidPromotionState(p.State) {
		return fmt.Errorf("update promotion %d: unknown state %q", p.ID, p.State)
	}
	runs, err := encodeRuns(p.PipelineRuns)
	if err != nil {
		return fmt.Errorf("update promotion %d: %w", p.ID, err)
	}
	now := s.ts()
	fin := p.FinishedAt
	if p.State.Terminal() && fin.IsZero() {
		fin = now
	}
	args := []any{string(p.State), p.Reason, p.Progress, p.ApprovedBy, p.SourceImage, p.TargetImage, p.Commit, p.RunID,
		runs, s.nullTime(fin), s.d.timeArg(now), p.ID}
	q := "UPDATE promotions SET state = ?, reason = ?, progress = ?, approved_by = ?, source_image = ?, target_image = ?, " +
		"commit_sha = ?, run_id = ?, pipeline_runs = ?, finished_at = ?, updated_at = ? WHERE id = ?"
	if len(from) > 0 {
		marks := make([]string, len(from))
		for i, st := range from {
			marks[i] = "?"
			args = append(args, string(st))
		}
		q += " AND state IN (" + strings.Join(marks, ", ") + ")"
	}
	res, err := s.w.ExecContext(ctx, s.d.rebind(q), args...)
	if s.d.isUnique(err) {
		return fmt.Errorf("update promotion %d to %s: %w", p.ID, p.State, ErrActive)
	}
	if err != nil {
		return fmt.Errorf("update promotion %d: %w", p.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("update promotion %d: %w", p.ID, err)
	}
	if n == 0 {
		// Promotions are never deleted, so a row that exists now existed
		// at the UPDATE: it was in another state.
		var state string
		err := s.w.QueryRowContext(ctx, s.d.rebind("SELECT state FROM promotions WHERE id = ?"), p.ID).Scan(&state)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("update promotion %d: %w", p.ID, ErrNotFound)
		case err != nil:
			return fmt.Errorf("update promotion %d: %w", p.ID, err)
		}
		return fmt.Errorf("update promotion %d to %s: it is %s, not %s: %w", p.ID, p.State, state, joinStates(from), ErrConflict)
	}
	p.UpdatedAt = now
	if !fin.IsZero() {
		p.FinishedAt = fin.UTC().Truncate(time.Microsecond)
	}
	return nil
}

func joinStates(states []release.PromotionState) string {
	parts := make([]string, len(states))
	for i, st := range states {
		parts[i] = string(st)
	}
	return strings.Join(parts, " or ")
}

func (s *DB) GetPromotion(ctx context.Context, id int64) (*release.Promotion, error) {
	rows, err := s.r.QueryContext(ctx, s.d.rebind("SELECT "+promotionCols+" FROM promotions WHERE id = ?"), id)
	if err != nil {
		return nil, fmt.Errorf("get promotion %d: %w", id, err)
	}
	ps, err := scanPromotions(rows)
	if err != nil {
		return nil, fmt.Errorf("get promotion %d: %w", id, err)
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("get promotion %d: %w", id, ErrNotFound)
	}
	return &ps[0], nil
}

func (s *DB) ListPromotions(ctx context.Context, f PromotionFilter) ([]release.Promotion, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("list promotions: negative limit %d", f.Limit)
	}
	if f.State != "" && !ValidPromotionState(f.State) {
		return nil, fmt.Errorf("list promotions: unknown state %q", f.State)
	}
	var w where
	w.add("app = ?", f.App, f.App != "")
	w.add("to_env = ?", f.To, f.To != "")
	w.add("state = ?", string(f.State), f.State != "")
	if f.Open {
		w.conds = append(w.conds, "state IN ('"+string(release.PromotionAwaitingApproval)+"', '"+string(release.PromotionQueued)+"', '"+
			string(release.PromotionRunning)+"', '"+string(release.PromotionPaused)+"')")
	}
	q := "SELECT " + promotionCols + " FROM promotions" + w.String() + " ORDER BY created_at DESC, id DESC" + limit(f.Limit)
	rows, err := s.r.QueryContext(ctx, s.d.rebind(q), w.args...)
	if err != nil {
		return nil, fmt.Errorf("list promotions: %w", err)
	}
	ps, err := scanPromotions(rows)
	if err != nil {
		return nil, fmt.Errorf("list promotions: %w", err)
	}
	return ps, nil
}

func scanPromotions(rows *sql.Rows) ([]release.Promotion, error) {
	defer rows.Close()
	var out []release.Promotion
	for rows.Next() {
		var (
			p                 release.Promotion
			kind, state, runs string
		)
		if err := rows.Scan(&p.ID, &kind, &p.App, &p.From, &p.To, &p.Digest, &p.SourceImage, &p.TargetImage, &p.Commit, &p.RunID,
			&state, &p.Reason, &p.Progress, &p.RequestedBy, &p.ApprovedBy, &runs,
			dbTime{&p.CreatedAt}, dbTime{&p.UpdatedAt}, dbTime{&p.FinishedAt}); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(runs), &p.PipelineRuns); err != nil {
			return nil, fmt.Errorf("decode pipeline runs of promotion %d: %w", p.ID, err)
		}
		if len(p.PipelineRuns) == 0 {
			p.PipelineRuns = nil
		}
		p.Kind, p.State = release.PromotionKind(kind), release.PromotionState(state)
		out = append(out, p)
	}
	return out, rows.Err()
}

const deploymentCols = "id, app, env, digest, image, commit_sha, promotion_id, deployed_at"

// RecordDeployment appends d and sets its ID and DeployedAt (now). A
// promotion's deployment is recorded once: when one is already there (two
// replicas finished the promotion together) d becomes that record.
func (s *DB) RecordDeployment(ctx context.Context, d *release.Deployment) error {
	if d == nil || d.App == "" || d.Env == "" || d.Digest == "" {
		return errors.New("record deployment: app, environment and digest are required")
	}
	now := s.ts()
	q := s.d.rebind("INSERT INTO deployments (app, env, digest, image, commit_sha, promotion_id, deployed_at) " +
		"VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (promotion_id) WHERE promotion_id > 0 DO NOTHING RETURNING id")
	err := s.w.QueryRowContext(ctx, q, d.App, d.Env, d.Digest, d.Image, d.Commit, d.PromotionID, s.d.timeArg(now)).Scan(&d.ID)
	switch {
	case errors.Is(err, sql.ErrNoRows) && d.PromotionID > 0:
		q := s.d.rebind("SELECT " + deploymentCols + " FROM deployments WHERE promotion_id = ?")
		if err := s.w.QueryRowContext(ctx, q, d.PromotionID).Scan(&d.ID, &d.App, &d.Env, &d.Digest, &d.Image, &d.Commit, &d.PromotionID, dbTime{&d.DeployedAt}); err != nil {
			return fmt.Errorf("record deployment of %s to %s: reading the one promotion %d recorded: %w", d.App, d.Env, d.PromotionID, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("record deployment of %s to %s: %w", d.App, d.Env, err)
	}
	d.DeployedAt = now
	return nil
}

func (s *DB) ListDeployments(ctx context.Context, app, env string, n int) ([]release.Deployment, error) {
	if app == "" {
		return nil, errors.New("list deployments: an app is required")
	}
	if n < 0 {
		return nil, fmt.Errorf("list deployments of %s: negative limit %d", app, n)
	}
	if n == 0 {
		n = DefaultDeploymentsLimit
	}
	var w where
	w.add("app = ?", app, true)
	w.add("env = ?", env, env != "")
	q := "SELECT " + deploymentCols + " FROM deployments" + w.String() + " ORDER BY deployed_at DESC, id DESC" + limit(n)
	rows, err := s.r.QueryContext(ctx, s.d.rebind(q), w.args...)
	if err != nil {
		return nil, fmt.Errorf("list deployments of %s: %w", app, err)
	}
	defer rows.Close()
	var out []release.Deployment
	for rows.Next() {
		var d release.Deployment
		if err := rows.Scan(&d.ID, &d.App, &d.Env, &d.Digest, &d.Image, &d.Commit, &d.PromotionID, dbTime{&d.DeployedAt}); err != nil {
			return nil, fmt.Errorf("list deployments of %s: %w", app, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list deployments of %s: %w", app, err)
	}
	return out, nil
}

// DeleteDeployments forgets app's history; an app without any is no error,
// so a repeated `slipway app delete` succeeds.
func (s *DB) DeleteDeployments(ctx context.Context, app string) error {
	if app == "" {
		return errors.New("delete deployments: an app is required")
	}
	if _, err := s.w.ExecContext(ctx, s.d.rebind("DELETE FROM deployments WHERE app = ?"), app); err != nil {
		return fmt.Errorf("delete deployments of %s: %w", app, err)
	}
	return nil
}

func (s *DB) DeployedApps(ctx context.Context) (map[string][]string, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT DISTINCT app, env FROM deployments ORDER BY app, env")
	if err != nil {
		return nil, fmt.Errorf("list deployed apps: %w", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var app, env string
		if err := rows.Scan(&app, &env); err != nil {
			return nil, fmt.Errorf("list deployed apps: %w", err)
		}
		out[app] = append(out[app], env)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list deployed apps: %w", err)
	}
	return out, nil
}

const auditCols = "id, at, actor, role, action, app, from_env, to_env, digest, promotion_id, outcome, result"

func (s *DB) AppendAudit(ctx context.Context, e *release.AuditEntry) error {
	if e == nil || e.Actor == "" || e.Action == "" {
		return errors.New("append audit: actor and action are required")
	}
	at := e.At.UTC().Truncate(time.Microsecond)
	if e.At.IsZero() {
		at = s.ts()
	}
	q := s.d.rebind("INSERT INTO audit (at, actor, role, action, app, from_env, to_env, digest, promotion_id, outcome, result) " +
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id")
	if err := s.w.QueryRowContext(ctx, q, s.d.timeArg(at), e.Actor, e.Role, e.Action, e.App, e.From, e.To, e.Digest,
		e.PromotionID, string(e.Outcome), e.Result).Scan(&e.ID); err != nil {
		return fmt.Errorf("append audit %s by %s: %w", e.Action, e.Actor, err)
	}
	e.At = at
	return nil
}

func (s *DB) ListAudit(ctx context.Context, f AuditFilter) ([]release.AuditEntry, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("list audit: negative limit %d", f.Limit)
	}
	var w where
	w.add("app = ?", f.App, f.App != "")
	w.add("actor = ?", f.Actor, f.Actor != "")
	w.add("promotion_id = ?", f.PromotionID, f.PromotionID != 0)
	q := "SELECT " + auditCols + " FROM audit" + w.String() + " ORDER BY at DESC, id DESC" + limit(f.Limit)
	rows, err := s.r.QueryContext(ctx, s.d.rebind(q), w.args...)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	var out []release.AuditEntry
	for rows.Next() {
		var e release.AuditEntry
		if err := rows.Scan(&e.ID, dbTime{&e.At}, &e.Actor, &e.Role, &e.Action, &e.App, &e.From, &e.To, &e.Digest,
			&e.PromotionID, &e.Outcome, &e.Result); err != nil {
			return nil, fmt.Errorf("list audit: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}
