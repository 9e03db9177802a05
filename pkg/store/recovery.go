package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/slipway-ci/slipway/pkg/event"
)

// What delivery recovery asks the store: was this delivery, or this head,
// recorded already? Both read the events table through its existing
// unique key (provider, delivery) and repository index.

// HasDelivery reports whether the delivery id of provider is recorded.
func (s *DB) HasDelivery(ctx context.Context, provider event.Provider, delivery string) (bool, error) {
	if provider == "" || delivery == "" {
		return false, fmt.Errorf("has delivery: provider (%q) and delivery (%q) are required", provider, delivery)
	}
	var id int64
	switch err := s.r.QueryRowContext(ctx, s.qLookup, string(provider), delivery).Scan(&id); {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("has delivery %s/%s: %w", provider, delivery, err)
	}
	return true, nil
}

// HasEvent reports whether any event of provider for repo moved ref to
// sha is recorded, whatever became of it (ignored events count: they
// were seen).
func (s *DB) HasEvent(ctx context.Context, provider event.Provider, repo, ref, sha string) (bool, error) {
	if provider == "" || repo == "" || ref == "" || sha == "" {
		return false, fmt.Errorf("has event: provider (%q), repo (%q), ref (%q) and sha (%q) are required", provider, repo, ref, sha)
	}
	var one int
	err := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT 1 FROM events WHERE repo = ? AND provider = ? AND ref = ? AND sha = ? LIMIT 1`),
		repo, string(provider), ref, sha).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("has event %s %s %s@%s: %w", provider, repo, ref, sha, err)
	}
	return true, nil
}
