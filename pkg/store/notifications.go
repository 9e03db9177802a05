package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
}

// Notifications records notification deliveries. The SQL engines
// implement it next to Store; it is separate so Store's fakes need not.
type Notifications interface {
	// CreateNotification records n (state pending unless set) and sets its
	// ID and times.
	CreateNotification(ctx context.Context, n *Notification) error
	// UpdateNotification stores state, attempts and last error of n.
	UpdateNotification(ctx context.Context, n *Notification) error
	// ListNotifications returns the newest first.
	ListNotifications(ctx context.Context, f NotificationFilter) ([]Notification, error)
}

// NotificationFilter narrows ListNotifications. Zero fields match everything.
type NotificationFilter struct {
	Limit int
	RunID string
	State NotificationState
}

var _ Notifications = (*sqlStore)(nil)

const notificationCols = "id, run_id, repo, channel, target, subject, state, attempts, last_error, created_at, updated_at"

func validNotificationState(s NotificationState) bool {
	return s == NotificationPending || s == NotificationSent || s == NotificationFailed
}

func (s *sqlStore) CreateNotification(ctx context.Context, n *Notification) error {
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
	q := s.d.rebind("INSERT INTO notifications (run_id, repo, channel, target, subject, state, attempts, last_error, created_at, updated_at) " +
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id")
	err := s.w.QueryRowContext(ctx, q, n.RunID, n.Repo, n.Channel, n.Target, n.Subject, string(n.State),
		n.Attempts, n.LastError, s.d.timeArg(now), s.d.timeArg(now)).Scan(&n.ID)
	if err != nil {
		return fmt.Errorf("create notification for run %s: %w", n.RunID, err)
	}
	n.CreatedAt, n.UpdatedAt = now, now
	return nil
}

func (s *sqlStore) UpdateNotification(ctx context.Context, n *Notification) error {
	if n == nil || n.ID == 0 {
		return errors.New("update notification: an id is required")
	}
	if !validNotificationState(n.State) {
		return fmt.Errorf("update notification %d: unknown state %q", n.ID, n.State)
	}
	now := s.ts()
	res, err := s.w.ExecContext(ctx, s.d.rebind("UPDATE notifications SET state = ?, attempts = ?, last_error = ?, updated_at = ? WHERE id = ?"),
		string(n.State), n.Attempts, n.LastError, s.d.timeArg(now), n.ID)
	if err != nil {
		return fmt.Errorf("update notification %d: %w", n.ID, err)
	}
	if err := affectedOne(res, fmt.Sprintf("update notification %d", n.ID)); err != nil {
		return err
	}
	n.UpdatedAt = now
	return nil
}

func (s *sqlStore) ListNotifications(ctx context.Context, f NotificationFilter) ([]Notification, error) {
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
			dbTime{&n.CreatedAt}, dbTime{&n.UpdatedAt}); err != nil {
			return nil, err
		}
		n.State = NotificationState(state)
		out = append(out, n)
	}
	return out, rows.Err()
}
