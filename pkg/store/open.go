package store

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/utils/clock"
)

// Option configures Open.
type Option func(*options)

type options struct {
	clock clock.PassiveClock
}

// WithClock sets the clock used for receive times, leases and retry times.
// Default: the real clock. Tests pass a fake clock to move leases forward.
func WithClock(c clock.PassiveClock) Option {
	return func(o *options) { o.clock = c }
}

// Open connects to the store named by url, applying any pending schema
// migrations first:
//
//	sqlite://slipway.db, sqlite:///var/lib/slipway/slipway.db
//	postgres://user:pass@host:5432/db?sslmode=require (or postgresql://)
//
// SQLite suits a single replica; PostgreSQL lets several replicas share the
// queue.
func Open(ctx context.Context, url string, opts ...Option) (*DB, error) {
	o := options{clock: clock.RealClock{}}
	for _, opt := range opts {
		opt(&o)
	}
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return nil, fmt.Errorf("store URL %q has no scheme: want sqlite://PATH or postgres://…", redact(url))
	}
	switch strings.ToLower(scheme) {
	case "sqlite", "sqlite3":
		return openSQLite(ctx, rest, o)
	case "postgres", "postgresql":
		return openPostgres(ctx, url, o)
	default:
		return nil, fmt.Errorf("store URL scheme %q is not supported: want sqlite://PATH, postgres:// or postgresql://", scheme)
	}
}

// redact hides a password in a URL that is going into an error message.
func redact(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return url
	}
	auth, host, ok := strings.Cut(rest, "@")
	if !ok {
		return url
	}
	if user, _, hasPass := strings.Cut(auth, ":"); hasPass {
		return scheme + "://" + user + ":xxxxx@" + host
	}
	return url
}
