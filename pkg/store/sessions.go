package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Session is a UI sign-in as the store keeps it: never the id the
// browser holds, only its SHA-256 (hex), and who it signed in.
type Session struct {
	IDSHA256  string
	Name      string
	Role      string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// CreateSession stores a new session; its hash must be new.
func (s *DB) CreateSession(ctx context.Context, ss Session) error {
	if len(ss.IDSHA256) != 64 || ss.Name == "" || ss.Role == "" || ss.ExpiresAt.IsZero() {
		return errors.New("create session: hash, name, role and expiry are required")
	}
	q := s.d.rebind(`INSERT INTO sessions (id_sha256, name, role, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`)
	if _, err := s.w.ExecContext(ctx, q, ss.IDSHA256, ss.Name, ss.Role, s.d.timeArg(s.ts()), s.d.timeArg(ss.ExpiresAt.UTC())); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// GetSession returns the session of hash if it has not expired;
// ErrNotFound otherwise.
func (s *DB) GetSession(ctx context.Context, hash string) (*Session, error) {
	q := s.d.rebind(`SELECT id_sha256, name, role, created_at, expires_at FROM sessions WHERE id_sha256 = ? AND expires_at > ?`)
	var ss Session
	err := s.r.QueryRowContext(ctx, q, hash, s.d.timeArg(s.ts())).Scan(&ss.IDSHA256, &ss.Name, &ss.Role, dbTime{&ss.CreatedAt}, dbTime{&ss.ExpiresAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	return &ss, nil
}

// DeleteSession ends a session (sign-out); an unknown hash is no error.
func (s *DB) DeleteSession(ctx context.Context, hash string) error {
	if _, err := s.w.ExecContext(ctx, s.d.rebind(`DELETE FROM sessions WHERE id_sha256 = ?`), hash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// PruneSessions deletes the sessions that have expired.
func (s *DB) PruneSessions(ctx context.Context) (int64, error) {
	res, err := s.w.ExecContext(ctx, s.d.rebind(`DELETE FROM sessions WHERE expires_at <= ?`), s.d.timeArg(s.ts()))
	if err != nil {
		return 0, fmt.Errorf("prune sessions: %w", err)
	}
	return res.RowsAffected()
}
