package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// NotificationState is where a notification's delivery stands.
type NotificationState string

const (
	NotificationPending NotificationState = "pending"
	NotificationSent    NotificationState = "sent"
	NotificationFailed  NotificationState = "failed"
)

// Notification is one message (an email to some addresses, a chat webhook
// post) about a run, recorded so failed deliveries stay visible.
type Notification struct {
	ID    int64  `json:"id"`
	RunID string `json:"runId"`
	Repo  string `json:"repo,omitempty"`
	// Channel is "email", "webhook" or "slack".
	Channel string `json:"channel"`
	// Target says where it went, without secrets: addresses, or the
	// webhook's host.
	Target    string            `json:"target"`
	Subject   string            `json:"subject,omitempty"`
	State     NotificationState `json:"state"`
	Attempts  int               `json:"attempts"`
	LastError string            `json:"lastError,omitempty"`
	CreatedAt time.Time         `json:"createdAt"`
	UpdatedAt time.Time         `json:"updatedAt"`
	// ClaimedUntil is when the sender's lease on a pending notification
	// runs out; after it ClaimNotifications hands it to another sender.
	// Zero means unclaimed.
	ClaimedUntil time.Time `json:"-"`
	// Claim counts the takeovers by ClaimNotifications; an update carrying
	// an older Claim is refused, so a notification taken over is sent once.
	Claim int64 `json:"-"`
}

// Notifications records notification deliveries. The SQL engines
// implement it next to Store; it is separate so Store's fakes need not.
type Notifications interface {
	// CreateNotification records n (state pending unless set) and sets its
	// ID and times. A second notification of the same run, channel and
	// target records nothing and returns ErrDuplicate: it must not be sent.
	CreateNotification(ctx context.Context, n *Notification) error
	// UpdateNotification stores state, attempts, last error, target,
	// subject and lease of n. It returns ErrNotFound when there is no such
	// notification or another sender claimed it since n was read.
	UpdateNotification(ctx context.Context, n *Notification) error
	// ClaimNotifications leases up to limit pending notifications whose
	// lease ran out (or that have none) for lease long, oldest first. On
	// PostgreSQL replicas share them with FOR UPDATE SKIP LOCKED.
	ClaimNotifications(ctx context.Context, limit int, lease time.Duration) ([]Notification, error)
	// ListNotifications returns the newest first.
	ListNotifications(ctx context.Context, f NotificationFilter) ([]Notification, error)
}

// NotificationFilter narrows ListNotifications. Zero fields match everything.
type NotificationFilter struct {
	Limit int
	RunID string
	State NotificationState
}

var _ Notifications = (*DB)(nil)

const notificationCols = "id, run_id, repo, channel, target, subject, state, attempts, last_error, created_at, updated_at, claimed_until, claim"

func validNotificationState(s NotificationState) bool {
	return s == NotificationPending || s == NotificationSent || s == NotificationFailed
}

func (s *DB) CreateNotification(ctx context.Context, n *Notification) error {
	if n == nil || n.RunID == "" || n.Channel == "" || n.Target == "" {
		return errors.New("create notification: run id, channel and target are required")
	}
	if n.State == "" {
		n.State = NotificationPending
	}
	if !validNotificationState(n.State) {
		return fmt.Errorf("create notification: unknown state %q", n.State)
	}
	now := s.ts()
	q := s.d.rebind("INSERT INTO notifications (run_id, repo, channel, target, recipient, subject, state, attempts, last_error, created_at, updated_at, claimed_until) " +
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id")
	err := s.w.QueryRowContext(ctx, q, n.RunID, n.Repo, n.Channel, n.Target, n.Target, n.Subject, string(n.State),
		n.Attempts, n.LastError, s.d.timeArg(now), s.d.timeArg(now), s.nullTime(n.ClaimedUntil)).Scan(&n.ID)
	if s.d.isUnique(err) {
		// Keyed (run, channel, target): another replica, or an earlier
		// attempt, recorded it and owns its delivery.
		return fmt.Errorf("create %s notification for run %s: %w", n.Channel, n.RunID, ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("create notification for run %s: %w", n.RunID, err)
	}
	n.CreatedAt, n.UpdatedAt, n.Claim = now, now, 0
	if !n.ClaimedUntil.IsZero() {
		n.ClaimedUntil = n.ClaimedUntil.UTC().Truncate(time.Microsecond)
	}
	return nil
}

func (s *DB) UpdateNotification(ctx context.Context, n *Notification) error {
	if n == nil || n.ID == 0 {
		return errors.New("update notification: an id is required")
	}
	if !validNotificationState(n.State) {
		return fmt.Errorf("update notification %d: unknown state %q", n.ID, n.State)
	}
	if n.Target == "" {
		return fmt.Errorf("update notification %d: a target is required", n.ID)
	}
	now := s.ts()
	res, err := s.w.ExecContext(ctx, s.d.rebind("UPDATE notifications SET state = ?, attempts = ?, last_error = ?, target = ?, subject = ?, "+
		"claimed_until = ?, updated_at = ? WHERE id = ? AND claim = ?"),
		string(n.State), n.Attempts, n.LastError, n.Target, n.Subject, s.nullTime(n.ClaimedUntil), s.d.timeArg(now), n.ID, n.Claim)
	if err != nil {
		return fmt.Errorf("update notification %d: %w", n.ID, err)
	}
	if err := affectedOne(res, fmt.Sprintf("update notification %d (claim %d)", n.ID, n.Claim)); err != nil {
		return err
	}
	n.UpdatedAt = now
	if !n.ClaimedUntil.IsZero() {
		n.ClaimedUntil = n.ClaimedUntil.UTC().Truncate(time.Microsecond)
	}
	return nil
}

func (s *DB) ClaimNotifications(ctx context.Context, limit int, lease time.Duration) ([]Notification, error) {
	if limit <= 0 || lease <= 0 {
		return nil, fmt.Errorf("claim notifications: limit and lease must be positive, got %d, %s", limit, lease)
	}
	now := s.ts()
	q := s.d.rebind(`UPDATE notifications SET claim = claim + 1, claimed_until = ?
		WHERE id IN (
			SELECT id FROM notifications
			WHERE state = 'pending' AND (claimed_until IS NULL OR claimed_until <= ?)
			ORDER BY id
			LIMIT ?` + s.d.lockSkip + `)
		RETURNING ` + notificationCols)
	rows, err := s.w.QueryContext(ctx, q, s.d.timeArg(now.Add(lease)), s.d.timeArg(now), limit)
	if err != nil {
		return nil, fmt.Errorf("claim notifications: %w", err)
	}
	out, err := scanNotifications(rows)
	if err != nil {
		return nil, fmt.Errorf("claim notifications: %w", err)
	}
	// RETURNING has no order.
	slices.SortFunc(out, func(a, b Notification) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

func (s *DB) ListNotifications(ctx context.Context, f NotificationFilter) ([]Notification, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("list notifications: negative limit %d", f.Limit)
	}
	var w where
	w.add("run_id = ?", f.RunID, f.RunID != "")
	w.add("state = ?", string(f.State), f.State != "")
	q := "SELECT " + notificationCols + " FROM notifications" + w.String() + " ORDER BY created_at DESC, id DESC" + limit(f.Limit)
	rows, err := s.r.QueryContext(ctx, s.d.rebind(q), w.args...)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	out, err := scanNotifications(rows)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	return out, nil
}

func scanNotifications(rows *sql.Rows) ([]Notification, error) {
	defer rows.Close()
	var out []Notification
	for rows.Next() {
		var (
			n     Notification
			state string
		)
		if err := rows.Scan(&n.ID, &n.RunID, &n.Repo, &n.Channel, &n.Target, &n.Subject, &state, &n.Attempts, &n.LastError,
			dbTime{&n.CreatedAt}, dbTime{&n.UpdatedAt}, dbTime{&n.ClaimedUntil}, &n.Claim); err != nil {
			return nil, err
		}
		n.State = NotificationState(state)
		out = append(out, n)
	}
	return out, rows.Err()
}
